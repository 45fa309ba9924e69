"""Curved planar reformations (CPR) of a vessel: straightened and stretched.

Both put the vessel vertically, proximal at the top, with square pixels of
``pixel_mm`` (Kanitsar et al., "CPR - Curved Planar Reformation", IEEE Vis 2002).

* Straightened: row ``i`` is the line through the path point at arc length
  ``i * pixel_mm`` along the frame direction at ``angle_deg`` (0° = normal, 90° =
  binormal). Lengths along the vessel are true and the centreline is the middle column.
* Stretched: a fixed image axis ``a`` perpendicular to the vessel's overall course
  (rotated by ``angle_deg`` around it); row spacing is the path's length seen
  perpendicular to ``a``, and each row samples along ``a`` at the point's own
  position, so the vessel keeps its true curvature in the image plane.

Images are HU (``float32``); :class:`CprImage` tells where the path runs in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import map_coordinates

from ccta_ai.errors import InputError
from ccta_ai.imaging.volume import Volume
from ccta_ai.render.path import VesselPath

AIR_HU = -1000.0


@dataclass(frozen=True)
class CprImage:
    """A reformatted image and where the path lies in it.

    Attributes:
        hu: ``(rows, columns)`` HU.
        pixel_mm: size of a (square) pixel.
        row_s_mm: path arc length of each row (along the path for straightened CPRs).
        centre_column: column of the centreline in each row (fractional).
        angle_deg: rotation of the view around the vessel.
        kind: "straightened" or "stretched".
    """

    hu: np.ndarray
    pixel_mm: float
    row_s_mm: np.ndarray
    centre_column: np.ndarray
    angle_deg: float
    kind: str

    def row_of(self, s_mm: float) -> int:
        """The row showing path arc length ``s_mm``."""
        rows = np.arange(len(self.row_s_mm), dtype=np.float64)
        return int(np.rint(np.interp(s_mm, self.row_s_mm, rows)))


def sample_hu(volume: Volume, points_lps_mm: np.ndarray) -> np.ndarray:
    """Trilinear HU at ``(..., 3)`` LPS points (air outside the volume)."""
    shape = points_lps_mm.shape[:-1]
    # volume.lps_to_index, written with einsum: a BLAS matmul of an (n, 3) array is slow
    # on busy multi-threaded machines.
    inverse = np.linalg.inv(volume.affine[:3, :3])
    relative = points_lps_mm.reshape(-1, 3) - volume.affine[:3, 3]
    index = np.einsum("ij,nj->in", inverse, relative)
    values = map_coordinates(volume.hu, index, order=1, mode="constant", cval=AIR_HU)
    return np.asarray(values, dtype=np.float32).reshape(shape)


def _interp_rows(path: VesselPath, s_mm: np.ndarray, field: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(s_mm, path.s_mm, field[:, i]) for i in range(3)], axis=1)


def straightened_cpr(
    volume: Volume,
    path: VesselPath,
    angle_deg: float = 0.0,
    half_width_mm: float = 15.0,
    pixel_mm: float = 0.2,
) -> CprImage:
    """Straightened CPR of ``path`` (see the module docstring)."""
    if pixel_mm <= 0 or half_width_mm <= 0:
        raise InputError(f"pixel_mm {pixel_mm} and half_width_mm {half_width_mm} must be > 0")
    row_s = np.arange(0.0, path.length_mm + 1e-9, pixel_mm)
    centres = _interp_rows(path, row_s, path.points_lps_mm)
    angle = np.deg2rad(angle_deg)
    direction = np.cos(angle) * _interp_rows(path, row_s, path.normals)
    direction += np.sin(angle) * _interp_rows(path, row_s, path.binormals)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    half = round(half_width_mm / pixel_mm)
    offsets = np.arange(-half, half + 1) * pixel_mm
    grid = centres[:, None, :] + offsets[None, :, None] * direction[:, None, :]
    return CprImage(
        hu=sample_hu(volume, grid),
        pixel_mm=pixel_mm,
        row_s_mm=row_s,
        centre_column=np.full(len(row_s), float(half)),
        angle_deg=angle_deg,
        kind="straightened",
    )


def _stretch_axis(path: VesselPath, angle_deg: float) -> np.ndarray:
    """Unit image axis ``a``: perpendicular to the vessel's overall course (its first
    principal direction), rotated by ``angle_deg`` about that course."""
    centred = path.points_lps_mm - path.points_lps_mm.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    course = vt[0]
    first = vt[1] - (vt[1] @ course) * course
    first /= np.linalg.norm(first)
    if first @ np.array([1.0, -1.0, 1.0]) < 0:  # deterministic sign
        first = -first
    second = np.cross(course, first)
    angle = np.deg2rad(angle_deg)
    return np.asarray(np.cos(angle) * first + np.sin(angle) * second)


def stretched_cpr(
    volume: Volume,
    path: VesselPath,
    angle_deg: float = 0.0,
    margin_mm: float = 15.0,
    pixel_mm: float = 0.2,
) -> CprImage:
    """Stretched CPR of ``path`` (see the module docstring)."""
    if pixel_mm <= 0 or margin_mm <= 0:
        raise InputError(f"pixel_mm {pixel_mm} and margin_mm {margin_mm} must be > 0")
    axis = _stretch_axis(path, angle_deg)
    steps = np.diff(path.points_lps_mm, axis=0)
    along = steps @ axis
    perpendicular = np.sqrt(np.maximum(np.einsum("ij,ij->i", steps, steps) - along**2, 0.0))
    y_mm = np.concatenate([[0.0], np.cumsum(perpendicular)])
    rows_y = np.arange(0.0, y_mm[-1] + 1e-9, pixel_mm)
    # y is non-decreasing; where it stalls (the vessel runs along the axis) keep the
    # first point: interpolate the arc length over strictly increasing y.
    increasing = np.concatenate([[True], np.diff(y_mm) > 1e-9])
    row_s = np.interp(rows_y, y_mm[increasing], path.s_mm[increasing])
    centres = _interp_rows(path, row_s, path.points_lps_mm)
    position = centres @ axis
    low = float(position.min()) - margin_mm
    high = float(position.max()) + margin_mm
    columns = np.arange(low, high + 1e-9, pixel_mm)
    grid = centres[:, None, :] + (columns[None, :] - position[:, None])[..., None] * axis
    return CprImage(
        hu=sample_hu(volume, grid),
        pixel_mm=pixel_mm,
        row_s_mm=row_s,
        centre_column=(position - low) / pixel_mm,
        angle_deg=angle_deg,
        kind="stretched",
    )
