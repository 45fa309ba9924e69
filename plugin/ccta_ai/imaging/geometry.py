"""DICOM plane geometry ↔ the Volume affine (PS3.3 C.7.6.2.1.1).

DICOM describes a slice by Image Position (Patient) (centre of its first pixel),
Image Orientation (Patient) (row direction cosine = direction of increasing column
index, then column direction cosine = direction of increasing row index) and Pixel
Spacing (row spacing, i.e. between rows, then column spacing). The Volume's axis 1
runs down the rows (DICOM's column direction) and axis 2 along a row (DICOM's row
direction), so affine column 1 = column cosine x row spacing and affine column 2 =
row cosine x column spacing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccta_ai.imaging.volume import validate_affine


@dataclass(frozen=True)
class PlaneGeometry:
    """The in-plane geometry shared by every slice of a series."""

    row_cosine: np.ndarray  # unit LPS direction of increasing column index (IOP[0:3])
    column_cosine: np.ndarray  # unit LPS direction of increasing row index (IOP[3:6])
    row_spacing_mm: float  # between rows: PixelSpacing[0], Volume axis 1
    column_spacing_mm: float  # between columns: PixelSpacing[1], Volume axis 2

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, row cosine x column cosine."""
        n = np.cross(self.row_cosine, self.column_cosine)
        return n / np.linalg.norm(n)

    @property
    def image_orientation(self) -> list[float]:
        return [float(v) for v in (*self.row_cosine, *self.column_cosine)]

    @property
    def pixel_spacing_mm(self) -> list[float]:
        return [self.row_spacing_mm, self.column_spacing_mm]


def plane_from_affine(affine: np.ndarray) -> PlaneGeometry:
    """The in-plane geometry of a Volume affine's slices."""
    matrix = validate_affine(affine)
    column_step, row_step = matrix[:3, 1], matrix[:3, 2]
    row_spacing = float(np.linalg.norm(column_step))
    column_spacing = float(np.linalg.norm(row_step))
    return PlaneGeometry(
        row_cosine=row_step / column_spacing,
        column_cosine=column_step / row_spacing,
        row_spacing_mm=row_spacing,
        column_spacing_mm=column_spacing,
    )


def affine_from_plane(
    plane: PlaneGeometry, first_position: np.ndarray, slice_step: np.ndarray
) -> np.ndarray:
    """The Volume affine of slices with geometry ``plane``, the first at
    ``first_position`` and each next one ``slice_step`` (LPS mm) further."""
    affine = np.eye(4)
    affine[:3, 0] = slice_step
    affine[:3, 1] = plane.column_cosine * plane.row_spacing_mm
    affine[:3, 2] = plane.row_cosine * plane.column_spacing_mm
    affine[:3, 3] = first_position
    return affine
