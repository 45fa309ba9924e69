"""Quick synthetic training scenes on the network grid (a fallback and a supplement).

A scene is a box of tissue (fat, myocardium around a bright chamber, a second, dimmer
chamber) with an aorta and two or three coronary trees leaving it: tapering,
meandering tubes with narrowings, calcium next to the wall, and dimmer veins that are
not lumen. It is drawn directly on the network grid (isotropic ``spacing_mm``), with
partial volume at every boundary, blur and noise. The full phantom
(:mod:`ccta_ai.phantom`) is the real training data; scenes are cheap (well under a
second) and vary what the phantom keeps fixed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ccta_ai.analysis.segment_bundle import CLASS_AORTA, CLASS_LUMEN

_HALF_NEIGHBOURHOOD = 4  # voxels painted around each centreline point


def random_scene(
    rng: np.random.Generator, shape: tuple[int, int, int] = (112, 112, 112), spacing_mm: float = 0.8
) -> tuple[np.ndarray, np.ndarray]:
    """``(hu float32, labels uint8)`` of one scene on the network grid."""
    contrast_hu = rng.uniform(250.0, 550.0)
    fat_hu = rng.uniform(-110.0, -60.0)
    size = np.array(shape, dtype=np.float64) * spacing_mm
    grid = [np.arange(n) * spacing_mm for n in shape]
    x, y, z = np.meshgrid(*grid, indexing="ij", sparse=True)
    hu = np.full(shape, fat_hu, dtype=np.float32)
    labels = np.zeros(shape, dtype=np.uint8)

    # The left ventricle: myocardium shell around bright blood, off-centre.
    centre = size * rng.uniform(0.4, 0.6, 3)
    radii = rng.uniform(20.0, 30.0, 3)
    wall_mm = rng.uniform(8.0, 12.0)
    outer = _ellipsoid_distance(x, y, z, centre, radii)
    inner = _ellipsoid_distance(x, y, z, centre, radii - wall_mm)
    _paint(hu, outer, rng.uniform(80.0, 140.0), spacing_mm)
    _paint(hu, inner, contrast_hu * rng.uniform(0.85, 1.1), spacing_mm)

    # A dimmer chamber (right heart) and a bone, both background.
    other = size * rng.uniform(0.1, 0.9, 3)
    _paint(hu, _ellipsoid_distance(x, y, z, other, rng.uniform(12, 25, 3)),
           contrast_hu * rng.uniform(0.4, 1.0), spacing_mm)
    if rng.random() < 0.5:
        bone = size * rng.uniform(0.0, 1.0, 3)
        _paint(hu, _ellipsoid_distance(x, y, z, bone, rng.uniform(6, 15, 3)),
               rng.uniform(300.0, 900.0), spacing_mm)

    # The aorta: a straight cylinder near the ventricle's base.
    aorta_radius = rng.uniform(11.0, 16.0)
    base = centre + _unit(rng.normal(size=3)) * (radii.max() + aorta_radius * 0.6)
    axis = _unit(rng.normal(size=3))
    aorta_distance = _line_distance(x, y, z, base, axis) - aorta_radius
    _paint(hu, aorta_distance, contrast_hu, spacing_mm)
    labels[aorta_distance <= 0] = CLASS_AORTA

    # Coronary trees from the aortic wall over the ventricle, and dimmer veins.
    lumen_sdf = np.full(shape, np.inf, dtype=np.float32)
    vein_sdf = np.full(shape, np.inf, dtype=np.float32)
    calcium: list[tuple[np.ndarray, float]] = []
    for _ in range(int(rng.integers(2, 4))):
        start_dir = _unit(rng.normal(size=3))
        start = base + start_dir * aorta_radius
        for points, radius in _tree(rng, start, start_dir, centre, radii.max()):
            _paint_tube(lumen_sdf, points, radius, spacing_mm)
            if rng.random() < 0.3:
                at = points[int(rng.integers(len(points)))]
                side = _unit(rng.normal(size=3))
                calcium.append((at + side * radius[0], rng.uniform(0.6, 1.4)))
    for _ in range(int(rng.integers(0, 3))):
        start = size * rng.uniform(0.1, 0.9, 3)
        points, radius = _meander(rng, start, _unit(rng.normal(size=3)), centre, radii.max(),
                                  rng.uniform(30, 70), rng.uniform(1.0, 2.5), 0.8)
        _paint_tube(vein_sdf, points, radius, spacing_mm)
    _paint(hu, vein_sdf, contrast_hu * rng.uniform(0.3, 0.6), spacing_mm)
    lumen_hu = contrast_hu * rng.uniform(0.85, 1.0)
    _paint(hu, lumen_sdf, lumen_hu, spacing_mm)
    labels[(lumen_sdf <= 0) & (labels != CLASS_AORTA)] = CLASS_LUMEN
    for position, radius_mm in calcium:
        distance = np.sqrt((x - position[0]) ** 2 + (y - position[1]) ** 2
                           + (z - position[2]) ** 2) - radius_mm
        _paint(hu, distance.astype(np.float32), rng.uniform(700.0, 1300.0), spacing_mm)
        labels[(distance <= 0) & (labels == CLASS_LUMEN)] = 0

    hu = ndimage.gaussian_filter(hu, rng.uniform(0.2, 0.45) / spacing_mm)
    noise = rng.normal(0.0, 1.0, shape).astype(np.float32)
    noise = ndimage.gaussian_filter(noise, rng.uniform(0.2, 0.5))
    noise *= rng.uniform(15.0, 45.0) / max(float(noise.std()), 1e-6)
    return (hu + noise).astype(np.float32), labels


def _tree(
    rng: np.random.Generator, start: np.ndarray, direction: np.ndarray,
    heart_centre: np.ndarray, heart_radius_mm: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A main vessel and up to three branches, as (points mm, radius mm) pairs."""
    radius0 = rng.uniform(1.4, 2.3)
    main = _meander(rng, start, direction, heart_centre, heart_radius_mm,
                    rng.uniform(50, 110), radius0, rng.uniform(0.45, 0.7))
    vessels = [main]
    for _ in range(int(rng.integers(0, 4))):
        at = int(rng.integers(len(main[0]) // 5, max(len(main[0]) * 4 // 5, 2)))
        side = _unit(rng.normal(size=3))
        vessels.append(_meander(rng, main[0][at], side, heart_centre, heart_radius_mm,
                                rng.uniform(20, 60), main[1][at] * rng.uniform(0.6, 0.9),
                                rng.uniform(0.4, 0.7)))
    return vessels


def _meander(
    rng: np.random.Generator, start: np.ndarray, direction: np.ndarray,
    heart_centre: np.ndarray, heart_radius_mm: float, length_mm: float,
    radius_mm: float, taper: float, step_mm: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random curve that keeps near the heart's surface, with a tapering
    radius and (sometimes) a narrowing."""
    count = int(length_mm / step_mm)
    points = np.empty((count, 3))
    heading = direction
    position = np.asarray(start, dtype=np.float64)
    turn = rng.uniform(0.02, 0.08)
    for i in range(count):
        points[i] = position
        outward = position - heart_centre
        distance = float(np.linalg.norm(outward))
        normal = outward / max(distance, 1e-6)
        pull = -normal * np.clip((distance - heart_radius_mm - 3) / 10, -1, 1)
        heading = _unit(heading + turn * rng.normal(size=3) + 0.15 * pull)
        heading = _unit(heading - 0.2 * float(heading @ normal) * normal)
        position = position + heading * step_mm
    s = np.linspace(0.0, 1.0, count)
    radius = radius_mm * (1.0 - (1.0 - taper) * s)
    if rng.random() < 0.5:
        centre, half = rng.uniform(0.15, 0.85) * length_mm, rng.uniform(1.5, 5.0)
        depth = rng.uniform(0.3, 0.95)
        bump = np.clip(1.0 - np.abs(s * length_mm - centre) / half, 0.0, 1.0)
        radius = radius * (1.0 - depth * bump)
    return points, np.maximum(radius, 0.15)


def _paint_tube(sdf: np.ndarray, points: np.ndarray, radius: np.ndarray, spacing_mm: float) -> None:
    """``sdf = min(sdf, distance to the tube's surface)`` near the tube (mm)."""
    offsets = np.stack(np.meshgrid(*[np.arange(-_HALF_NEIGHBOURHOOD, _HALF_NEIGHBOURHOOD + 1)] * 3,
                                   indexing="ij"), axis=-1).reshape(-1, 3)
    centres = np.round(points / spacing_mm).astype(np.int64)
    voxels = (centres[:, None, :] + offsets[None]).reshape(-1, 3)
    distance = np.linalg.norm(voxels * spacing_mm - np.repeat(points, len(offsets), axis=0), axis=1)
    value = (distance - np.repeat(radius, len(offsets))).astype(np.float32)
    inside = np.all((voxels >= 0) & (voxels < np.array(sdf.shape)), axis=1)
    flat = np.ravel_multi_index(voxels[inside].T, sdf.shape)
    np.minimum.at(sdf.reshape(-1), flat, value[inside])


def _paint(hu: np.ndarray, signed_mm: np.ndarray, value_hu: float, spacing_mm: float) -> None:
    """Blend ``value_hu`` in where the signed distance is negative, one voxel ramp."""
    fill = np.clip(0.5 - signed_mm / spacing_mm, 0.0, 1.0).astype(np.float32)
    hu += fill * (np.float32(value_hu) - hu)


def _ellipsoid_distance(x: np.ndarray, y: np.ndarray, z: np.ndarray,
                        centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm) to an axis-aligned ellipsoid."""
    scaled = np.sqrt(((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2
                     + ((z - centre[2]) / radii[2]) ** 2)
    return ((scaled - 1.0) * float(radii.min())).astype(np.float32)


def _line_distance(x: np.ndarray, y: np.ndarray, z: np.ndarray,
                   point: np.ndarray, axis: np.ndarray) -> np.ndarray:
    dx, dy, dz = x - point[0], y - point[1], z - point[2]
    along = dx * axis[0] + dy * axis[1] + dz * axis[2]
    squared = dx**2 + dy**2 + dz**2 - along**2
    return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector / max(float(np.linalg.norm(vector)), 1e-9))
