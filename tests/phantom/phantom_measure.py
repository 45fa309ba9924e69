"""Independent measurements on phantom images for the phantom tests: sampling at LPS
points, lumen cross-section areas from the label map."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ccta_ai.imaging.volume import Volume


def sample(
    volume_array: np.ndarray, affine: np.ndarray, points_lps: np.ndarray, order: int = 1
) -> np.ndarray:
    """Values of a (k, r, c) array at LPS points (interpolation ``order``)."""
    inverse = np.linalg.inv(affine)
    pts = np.asarray(points_lps, dtype=np.float64).reshape(-1, 3)
    index = pts @ inverse[:3, :3].T + inverse[:3, 3]
    return ndimage.map_coordinates(volume_array, index.T, order=order, mode="nearest")


def nearest_voxel(volume: Volume, points_lps: np.ndarray) -> tuple[np.ndarray, ...]:
    index = np.rint(volume.lps_to_index(np.asarray(points_lps)))
    index = np.clip(index, 0, np.array(volume.shape) - 1).astype(int)
    return index[:, 0], index[:, 1], index[:, 2]


def lumen_area_mm2(
    labels: np.ndarray,
    affine: np.ndarray,
    centre: np.ndarray,
    tangent: np.ndarray,
    radius_mm: float,
    step_mm: float = 0.1,
) -> float:
    """Area of the labelled lumen (label > 0) in the plane through ``centre`` normal to
    ``tangent``, within ``radius_mm``: nearest-neighbour sampling on a fine disc.
    Only the connected patch that contains the centre is counted."""
    t = tangent / np.linalg.norm(tangent)
    u = np.cross(t, [1.0, 0.0, 0.0] if abs(t[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(t, u)
    ticks = np.arange(-radius_mm, radius_mm + step_mm / 2, step_mm)
    a, b = np.meshgrid(ticks, ticks, indexing="ij")
    plane = centre + a[..., None] * u + b[..., None] * v
    inside = sample(labels, affine, plane.reshape(-1, 3), order=0).reshape(a.shape) > 0
    inside &= a * a + b * b <= radius_mm**2
    parts, _ = ndimage.label(inside)
    middle = parts[len(ticks) // 2, len(ticks) // 2]
    if middle == 0:
        return 0.0
    return float(np.count_nonzero(parts == middle)) * step_mm * step_mm
