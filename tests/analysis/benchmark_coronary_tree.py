"""Benchmark: trace + measure a realistic coronary tree on a full-size CT grid.

Not collected by pytest (about 15 s, mostly to synthesise the volume). Run:

    .venv/bin/python tests/analysis/benchmark_coronary_tree.py

It builds a 280 x 512 x 512 grid (0.5 x 0.39 x 0.39 mm, feet-first) with a myocardial
shell and two coronary trees of 15 vessels (about 1,000 mm of centreline) running on
it, with two stenoses (50 % and 70 %) and an 8 mm occlusion, then times tracing and
measuring, and prints how much of the true centreline was found and the lesions.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from analysis_phantom import FAT_HU, LUMEN_HU, OCCLUSION_HU, plateau_bump, steps_matrix
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from ccta_ai.analysis.coronary import CoronaryOptions, measure_tree
from ccta_ai.analysis.trace import trace_centerlines
from ccta_ai.imaging.volume import Volume

SHAPE = (280, 512, 512)
SPACING = (0.5, 0.39, 0.39)
HEART_CENTRE = np.array([0.0, 0.0, 0.0])
HEART_RADIUS_MM = 50.0
MYOCARDIUM_HU = 70.0


@dataclass
class Branch:
    """A vessel on the heart's surface, drawn through (polar, azimuth) waypoints in degrees.

    A branch starts at the parent's point nearest to its first waypoint.
    """

    name: str
    parent: str | None
    waypoints: list[tuple[float, float]]
    radius_mm: tuple[float, float]  # proximal, distal
    lesion: tuple[float, float] | None = None  # (position fraction, % diameter); 100 = occlusion


TREE = [
    Branch("LM", None, [(38, 60), (48, 78)], (2.1, 2.0)),
    Branch("LAD", "LM", [(48, 78), (80, 88), (120, 95), (160, 92)], (1.8, 0.9), (0.3, 50.0)),
    Branch("LCX", "LM", [(48, 78), (52, 40), (56, 0), (60, -40)], (1.6, 0.9), (0.3, 100.0)),
    Branch("RAMUS", "LM", [(48, 78), (80, 62), (110, 55)], (1.1, 0.7)),
    Branch("D1", "LAD", [(72, 86), (110, 72), (135, 68)], (1.1, 0.7)),
    Branch("D2", "LAD", [(105, 92), (140, 80), (155, 78)], (1.0, 0.7)),
    Branch("OM1", "LCX", [(54, 20), (90, 15), (120, 12)], (1.2, 0.8)),
    Branch("OM2", "LCX", [(57, -20), (95, -28), (125, -30)], (1.0, 0.7)),
    Branch("OM3", "LCX", [(59, -32), (90, -45), (115, -50)], (1.0, 0.7)),
    Branch("RCA", None, [(38, 125), (50, 150), (54, 210), (56, 268)], (1.9, 1.0), (0.4, 70.0)),
    Branch("CONUS", "RCA", [(42, 132), (60, 128), (72, 122)], (0.9, 0.7)),
    Branch("RV", "RCA", [(51, 172), (85, 168), (110, 165)], (1.0, 0.7)),
    Branch("AM", "RCA", [(53, 205), (90, 208), (125, 210)], (1.0, 0.7)),
    Branch("PDA", "RCA", [(56, 262), (100, 268), (150, 270)], (1.2, 0.8)),
    Branch("PLB", "RCA", [(56, 262), (75, 285), (100, 290)], (1.1, 0.8)),
]
SURFACE_MM = HEART_RADIUS_MM + 2.5


def _on_surface(polar_deg: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    t, p = np.deg2rad(polar_deg), np.deg2rad(azimuth_deg)
    unit = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1)
    return HEART_CENTRE + SURFACE_MM * unit


def _curve(waypoints: list[tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """Dense (0.1 mm) curve through the waypoints with a gentle wiggle."""
    angles = np.array(waypoints, dtype=float)
    pieces = []
    for a, b in itertools.pairwise(angles):
        t = np.linspace(0.0, 1.0, 400, endpoint=False)[:, None]
        pieces.append(a + t * (b - a))
    pieces.append(angles[-1:])
    path = np.concatenate(pieces)
    s = np.linspace(0.0, 1.0, len(path))
    path[:, 1] += 2.5 * np.sin(2 * np.pi * (2.0 + rng.random()) * s) * np.sin(np.pi * s)
    points = _on_surface(path[:, 0], path[:, 1])
    s_mm = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    stations = np.arange(0.0, s_mm[-1], 0.1)
    return np.stack([np.interp(stations, s_mm, points[:, i]) for i in range(3)], axis=1)


Built = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]


def build_tree(rng: np.random.Generator) -> Built:
    """Per branch: dense centreline, radius, contrast fraction."""
    built: Built = {}
    for branch in TREE:
        points = _curve(branch.waypoints, rng)
        if branch.parent is not None:
            parent_points = built[branch.parent][0]
            nearest = int(np.argmin(np.linalg.norm(parent_points - points[0], axis=1)))
            points = np.concatenate([parent_points[nearest : nearest + 1], points[1:]])
        length_mm = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
        s_mm = np.linspace(0.0, length_mm, len(points))
        taper = (branch.radius_mm[1] - branch.radius_mm[0]) * s_mm / length_mm
        radius = branch.radius_mm[0] + taper
        contrast = np.ones(len(points))
        if branch.lesion is not None:
            at_mm = branch.lesion[0] * length_mm
            if branch.lesion[1] >= 100.0:
                contrast[np.abs(s_mm - at_mm) <= 4.0] = 0.0
            else:
                bump = plateau_bump(s_mm, at_mm, 3.0, 2.0)
                radius = radius * (1.0 - branch.lesion[1] / 100.0 * bump)
        built[branch.name] = (points, radius, contrast)
    return built


def render_full(built: Built, rng: np.random.Generator) -> tuple[Volume, np.ndarray, np.ndarray]:
    steps = steps_matrix(SPACING, (0.0, 0.0, 0.0), feet_first=True)
    centre_index = (np.array(SHAPE) - 1) / 2.0
    affine = np.eye(4)
    affine[:3, :3] = steps
    affine[:3, 3] = HEART_CENTRE - steps @ centre_index
    volume_lps_to_index = np.linalg.inv(steps)

    every = np.concatenate([b[0] for b in built.values()])
    low = np.floor((every - affine[:3, 3]) @ volume_lps_to_index.T).min(axis=0).astype(int) - 12
    high = np.ceil((every - affine[:3, 3]) @ volume_lps_to_index.T).max(axis=0).astype(int) + 12
    low, high = np.maximum(low, 0), np.minimum(high, SHAPE)
    box_shape = tuple(int(n) for n in high - low)
    axes = [np.arange(a, b) for a, b in zip(low, high, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    lps = grid.reshape(-1, 3) @ steps.T + affine[:3, 3]
    del grid
    distance_to_centre = np.linalg.norm(lps - HEART_CENTRE, axis=1)
    box = np.where(distance_to_centre < HEART_RADIUS_MM, MYOCARDIUM_HU, FAT_HU).astype(np.float32)
    mask_box = np.zeros(len(lps), dtype=bool)
    points = np.concatenate([b[0] for b in built.values()])
    radius = np.concatenate([b[1] for b in built.values()])
    contrast = np.concatenate([b[2] for b in built.values()])
    distance, nearest = cKDTree(points).query(lps, distance_upper_bound=3.5)
    hit = np.isfinite(distance)
    ramp = float(np.mean(SPACING))
    fill = np.clip(0.5 - (distance[hit] - radius[nearest[hit]]) / ramp, 0.0, 1.0)
    lumen_fill = fill * contrast[nearest[hit]]
    tissue_fill = fill * (1.0 - contrast[nearest[hit]])
    base = box[hit]
    box[hit] = base + (LUMEN_HU - base) * lumen_fill + (OCCLUSION_HU - base) * tissue_fill
    lumen = (distance[hit] <= radius[nearest[hit]]) & (contrast[nearest[hit]] > 0.5)
    mask_box[np.flatnonzero(hit)[lumen]] = True
    box = gaussian_filter(box.reshape(box_shape), sigma=0.3 / np.array(SPACING))
    hu = np.full(SHAPE, FAT_HU, dtype=np.float32)
    hu[low[0] : high[0], low[1] : high[1], low[2] : high[2]] = box
    hu += rng.normal(0.0, 15.0, SHAPE).astype(np.float32)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[low[0] : high[0], low[1] : high[1], low[2] : high[2]] = mask_box.reshape(box_shape)
    return Volume(hu, affine), mask, points


def main() -> None:
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    built = build_tree(rng)
    volume, mask, truth = render_full(built, rng)
    total_true_mm = sum(
        float(np.linalg.norm(np.diff(b[0], axis=0), axis=1).sum()) for b in built.values()
    )
    print(
        f"synthesised {SHAPE} grid, {len(TREE)} vessels, {total_true_mm:.0f} mm, "
        f"{int(mask.sum())} mask voxels in {time.perf_counter() - started:.1f} s"
    )
    ostia = np.array([built["LM"][0][0], built["RCA"][0][0]])

    options = CoronaryOptions()
    started = time.perf_counter()
    tree = trace_centerlines(mask, volume, ostia_lps_mm=ostia, options=options.trace)
    traced_s = time.perf_counter() - started
    started = time.perf_counter()
    _, lesions = measure_tree(volume, tree, options)
    measured_s = time.perf_counter() - started
    total_s = traced_s + measured_s
    print(f"trace {traced_s:.2f} s, measure {measured_s:.2f} s, total {total_s:.2f} s")
    print(
        f"traced {len(tree.vessels)} vessels, {tree.total_length_mm:.0f} mm, "
        f"{len(tree.bridges)} bridges"
    )
    traced = np.concatenate([v.points_lps_mm for v in tree.vessels])
    found, _ = cKDTree(traced).query(truth)
    off, _ = cKDTree(truth).query(traced)
    print(
        f"true centreline within 1 mm of a traced one: {100 * np.mean(found < 1.0):.1f} %; "
        f"traced points within 0.5 mm of the truth: {100 * np.mean(off < 0.5):.1f} %, "
        f"median distance {np.median(off):.2f} mm"
    )
    for lesion in lesions:
        where = np.array(lesion.mld_position_lps_mm)
        names = [
            b.name for b in TREE if np.linalg.norm(built[b.name][0] - where, axis=1).min() < 1.5
        ]
        print(
            f"  lesion on vessel {lesion.vessel_id} ({'/'.join(names)}): "
            f"{lesion.pct_diameter_stenosis:.0f} % DS, {lesion.pct_area_stenosis:.0f} % AS, "
            f"length {lesion.length_mm:.1f} mm, occlusion {lesion.occlusion}, "
            f"bridged {lesion.bridged}"
        )
    print("inserted: LAD 50 %, RCA 70 %, LCX 8 mm occlusion")


if __name__ == "__main__":
    main()
