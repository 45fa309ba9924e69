"""The one representation of a CT volume in this project.

Axis order and geometry (the same convention as :class:`highdicom.Volume`):

* ``hu`` is a ``float32`` array of Hounsfield units, shape ``(n_slices, n_rows,
  n_columns)``. Axis 0 steps from one slice to the next, axis 1 down the rows of a
  slice (DICOM's "column direction"), axis 2 along a row (DICOM's "row direction").
* ``affine`` is a 4x4 matrix mapping the augmented array index ``(k, r, c, 1)`` to
  patient coordinates in millimetres in DICOM's LPS convention (x to the patient's
  Left, y to Posterior, z to Superior/head). Its columns are the steps of axes 0, 1
  and 2 (their norms are the spacings) and the centre of voxel ``(0, 0, 0)``.

The affine is always orthogonal: the loader resamples gantry-tilted series. MONAI and
NIfTI think in RAS; :meth:`Volume.affine_ras` is the only conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccta_ai.errors import GeometryValueError

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_ORTHOGONALITY_TOLERANCE = 1e-4


def validate_affine(affine: np.ndarray) -> np.ndarray:
    """Return ``affine`` as float64 after checking it is a usable voxel→LPS matrix.

    Raises:
        GeometryValueError: not 4x4, last row not ``[0, 0, 0, 1]``, a zero or
            non-finite step, or axes that are not mutually orthogonal.
    """
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4):
        raise GeometryValueError(f"affine must be 4x4, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix)):
        raise GeometryValueError(f"affine has non-finite values:\n{matrix}")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise GeometryValueError(f"affine's last row must be [0, 0, 0, 1], got {matrix[3]}")
    steps = matrix[:3, :3]
    norms = np.linalg.norm(steps, axis=0)
    if np.any(norms <= 0):
        raise GeometryValueError(f"affine has a zero-length axis step: spacings {norms}")
    units = steps / norms
    gram = units.T @ units
    if not np.allclose(gram, np.eye(3), atol=_ORTHOGONALITY_TOLERANCE):
        raise GeometryValueError(
            "affine axes must be orthogonal (resample sheared, e.g. gantry-tilted, data "
            f"first); cosines between axes:\n{np.round(gram, 5)}"
        )
    return matrix


@dataclass(frozen=True, eq=False)
class Volume:
    """A CT volume in Hounsfield units with its voxel→LPS geometry.

    Attributes:
        hu: Hounsfield units, ``float32``, shape ``(n_slices, n_rows, n_columns)``.
        affine: 4x4 voxel index → patient LPS millimetres (see module docstring).
        series_instance_uid: the DICOM series it came from ("" when synthetic).
        frame_of_reference_uid: the DICOM frame of reference ("" when synthetic).
        sop_instance_uids: for a single-frame series, the SOP Instance UID of each
            slice in axis-0 order; for a multi-frame one, the one UID repeated.
        frame_numbers: 1-based frame number of each slice within its instance
            (all 1 for single-frame series).
    """

    hu: np.ndarray
    affine: np.ndarray
    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_instance_uids: tuple[str, ...] = field(default=())
    frame_numbers: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        hu = np.asarray(self.hu)
        if hu.ndim != 3 or min(hu.shape) < 1:
            raise GeometryValueError(f"hu must be a non-empty 3D array, got shape {hu.shape}")
        if hu.dtype != np.float32:
            hu = hu.astype(np.float32)
        object.__setattr__(self, "hu", hu)
        object.__setattr__(self, "affine", validate_affine(self.affine))
        for name in ("sop_instance_uids", "frame_numbers"):
            values = tuple(getattr(self, name))
            if values and len(values) != hu.shape[0]:
                raise GeometryValueError(
                    f"{name} has {len(values)} entries for {hu.shape[0]} slices"
                )
            object.__setattr__(self, name, values)

    @property
    def shape(self) -> tuple[int, int, int]:
        k, r, c = self.hu.shape
        return (k, r, c)

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size along axes 0, 1, 2 (slice, row, column) in mm."""
        return np.linalg.norm(self.affine[:3, :3], axis=0)

    @property
    def directions(self) -> np.ndarray:
        """3x3 matrix whose columns are the unit LPS directions of axes 0, 1, 2."""
        return self.affine[:3, :3] / self.spacing_mm

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def affine_ras(self) -> np.ndarray:
        """The affine in RAS (NIfTI, MONAI, ITK-SNAP): the only LPS↔RAS conversion."""
        return LPS_TO_RAS @ self.affine

    def index_to_lps(self, indices: np.ndarray) -> np.ndarray:
        """Map ``(..., 3)`` array indices ``(k, r, c)`` (may be fractional) to LPS mm."""
        points = np.asarray(indices, dtype=np.float64)
        return points @ self.affine[:3, :3].T + self.affine[:3, 3]

    def lps_to_index(self, points_mm: np.ndarray) -> np.ndarray:
        """Map ``(..., 3)`` LPS mm points to fractional array indices ``(k, r, c)``."""
        points = np.asarray(points_mm, dtype=np.float64)
        inverse = np.linalg.inv(self.affine[:3, :3])
        return (points - self.affine[:3, 3]) @ inverse.T

    def center_lps(self) -> np.ndarray:
        """LPS position of the volume's geometric centre."""
        return self.index_to_lps((np.array(self.shape, dtype=np.float64) - 1.0) / 2.0)
