"""Tiny synthetic CT volumes of contrast-filled tubes with known geometry (test helper).

Each tube is a dense centreline (LPS mm) with a radius and a contrast fraction per
point (0 = occluded: soft tissue instead of contrast). Voxels get a partial-volume
ramp one voxel wide at the wall, then the image is blurred (Gaussian, in mm) and noise
is added. The lumen mask is the exact geometry at voxel centres (what a perfect
segmentation would give), without occluded parts and calcium.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from ccta_ai.imaging.volume import Volume

LUMEN_HU = 420.0
FAT_HU = -80.0
OCCLUSION_HU = 40.0
CALCIUM_HU = 900.0


@dataclass
class Tube:
    points_lps_mm: np.ndarray
    radius_mm: np.ndarray
    contrast: np.ndarray = field(default_factory=lambda: np.ones(0))

    def __post_init__(self) -> None:
        if len(self.contrast) == 0:
            self.contrast = np.ones(len(self.points_lps_mm))


def rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    a, b, c = np.deg2rad(angles_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[1, 0, 0], [0, np.cos(c), -np.sin(c)], [0, np.sin(c), np.cos(c)]])
    return rz @ ry @ rx


def steps_matrix(
    spacing_mm: tuple[float, float, float] = (0.5, 0.4, 0.4),
    angles_deg: tuple[float, float, float] = (0.0, 0.0, 0.0),
    feet_first: bool = False,
) -> np.ndarray:
    """Columns = LPS steps of axes (slice, row, column); head-first axial when unrotated."""
    slice_direction = [0.0, 0.0, -1.0] if feet_first else [0.0, 0.0, 1.0]
    base = np.array([slice_direction, [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).T
    return rotation(angles_deg) @ base @ np.diag(spacing_mm)


def line(start: np.ndarray, end: np.ndarray, step_mm: float = 0.05) -> np.ndarray:
    start, end = np.asarray(start, float), np.asarray(end, float)
    count = int(np.ceil(np.linalg.norm(end - start) / step_mm)) + 1
    return start + np.linspace(0.0, 1.0, count)[:, None] * (end - start)


def arc_length(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def plateau_bump(
    s_mm: np.ndarray, centre_mm: float, plateau_mm: float, ramp_mm: float
) -> np.ndarray:
    """1 on the plateau, cosine ramps to 0 on either side."""
    distance = np.abs(s_mm - centre_mm) - plateau_mm / 2.0
    ramp = 0.5 * (1.0 + np.cos(np.pi * np.clip(distance / ramp_mm, 0.0, 1.0)))
    return np.where(distance <= 0, 1.0, ramp)


def render(
    tubes: list[Tube],
    steps: np.ndarray,
    calcium: list[tuple[np.ndarray, np.ndarray, float]] | None = None,
    margin_mm: float = 5.0,
    blur_mm: float = 0.3,
    noise_hu: float = 12.0,
    seed: int = 0,
    background_hu: float = FAT_HU,
) -> tuple[Volume, np.ndarray]:
    """A volume just big enough for the tubes; returns it and the lumen mask.

    ``calcium`` lists capsules ``(start, end, radius_mm)`` of calcified plaque.
    """
    every = np.concatenate([t.points_lps_mm for t in tubes])
    inverse = np.linalg.inv(steps)
    index = every @ inverse.T
    spacing = np.linalg.norm(steps, axis=0)
    low = np.floor(index.min(axis=0) - margin_mm / spacing)
    high = np.ceil(index.max(axis=0) + margin_mm / spacing)
    shape = tuple(int(n) for n in high - low + 1)
    affine = np.eye(4)
    affine[:3, :3] = steps
    affine[:3, 3] = steps @ low
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    lps = (grid.reshape(-1, 3) @ steps.T) + affine[:3, 3]
    ramp = float(np.mean(spacing))

    contrast = np.zeros(len(lps))
    tissue = np.zeros(len(lps))
    inside = np.zeros(len(lps), dtype=bool)
    for tube in tubes:
        reach = float(tube.radius_mm.max()) + 2.0 * ramp
        distance, nearest = cKDTree(tube.points_lps_mm).query(lps, distance_upper_bound=reach)
        hit = np.isfinite(distance)
        radius = tube.radius_mm[nearest[hit]]
        fill = np.clip(0.5 - (distance[hit] - radius) / ramp, 0.0, 1.0)
        fraction = tube.contrast[nearest[hit]]
        contrast[hit] = np.maximum(contrast[hit], fill * fraction)
        tissue[hit] = np.maximum(tissue[hit], fill * (1.0 - fraction))
        inside[np.flatnonzero(hit)[(distance[hit] <= radius) & (fraction > 0.5)]] = True
    hu = background_hu + (LUMEN_HU - background_hu) * contrast
    hu += (OCCLUSION_HU - background_hu) * np.minimum(tissue, 1.0 - contrast)
    for start, end, radius in calcium or []:
        distance = _distance_to_segment(lps, np.asarray(start, float), np.asarray(end, float))
        fill = np.clip(0.5 - (distance - radius) / ramp, 0.0, 1.0)
        hu = hu * (1.0 - fill) + CALCIUM_HU * fill
        inside &= distance > radius
    image = gaussian_filter(hu.reshape(shape), sigma=blur_mm / spacing)
    image += np.random.default_rng(seed).normal(0.0, noise_hu, shape)
    return Volume(image.astype(np.float32), affine), inside.reshape(shape)


def _distance_to_segment(points: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    axis = end - start
    length2 = float(axis @ axis)
    t = np.zeros(len(points)) if length2 == 0 else np.clip((points - start) @ axis / length2, 0, 1)
    return np.asarray(np.linalg.norm(points - (start + t[:, None] * axis), axis=1))


def distances_to_curve(points: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Distance of each point to a densely sampled curve."""
    distance, _ = cKDTree(curve).query(points)
    return np.asarray(distance)


def circle_overlap_area(r1: float, r2: float, d: float) -> float:
    """Area of the intersection of two circles with radii r1, r2 and centres d apart."""
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return float(np.pi * min(r1, r2) ** 2)
    a1 = r1**2 * np.arccos((d**2 + r1**2 - r2**2) / (2 * d * r1))
    a2 = r2**2 * np.arccos((d**2 + r2**2 - r1**2) / (2 * d * r2))
    a3 = 0.5 * np.sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))
    return float(a1 + a2 - a3)


# A feet-first, oblique, anisotropic grid (slices 0.6 mm towards the feet, 0.42 x 0.38 mm pixels).
OBLIQUE_FEET_FIRST = steps_matrix((0.6, 0.42, 0.38), (25.0, -20.0, 15.0), feet_first=True)
AXIAL = steps_matrix((0.5, 0.4, 0.4))


def unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def profile_values(values: list[float | None]) -> np.ndarray:
    """A findings profile column as floats (NaN for None)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
