"""Tubes of known radius rendered into small CT volumes, and findings for them (test helper)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from ccta_ai.analysis.findings import Centerline, Findings, LumenProfile, Vessel
from ccta_ai.imaging.volume import Volume

LUMEN_HU = 420.0
FAT_HU = -80.0
HALF_HU = (LUMEN_HU + FAT_HU) / 2.0


def arc_length(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def resample(points: np.ndarray, step_mm: float) -> np.ndarray:
    s = arc_length(points)
    targets = np.arange(0.0, s[-1] + 1e-9, step_mm)
    return np.stack([np.interp(targets, s, points[:, i]) for i in range(3)], axis=1)


def line(start: list[float], end: list[float], step_mm: float = 0.1) -> np.ndarray:
    return resample(np.array([start, end], dtype=np.float64), step_mm)


def helix(radius_mm: float, pitch_mm: float, turns: float, step_mm: float = 0.1) -> np.ndarray:
    angle = np.linspace(0.0, 2 * np.pi * turns, 4000)
    dense = np.stack([radius_mm * np.cos(angle), radius_mm * np.sin(angle),
                      pitch_mm * angle / (2 * np.pi)], axis=1)
    return resample(dense, step_mm)


def tube_volume(points: np.ndarray, radius_mm: np.ndarray, spacing_mm: float = 0.4,
                margin_mm: float = 8.0, oblique: bool = True) -> Volume:
    """Contrast tube (radius per point) in fat; an oblique, feet-first grid by default."""
    if oblique:
        a, b = np.deg2rad(20.0), np.deg2rad(-15.0)
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
        base = rz @ ry @ np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]).T
    else:
        base = np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]]).T
    steps = base * spacing_mm
    index = points @ np.linalg.inv(steps).T
    low = np.floor(index.min(axis=0) - margin_mm / spacing_mm)
    high = np.ceil(index.max(axis=0) + margin_mm / spacing_mm)
    shape = tuple(int(n) for n in high - low + 1)
    affine = np.eye(4)
    affine[:3, :3] = steps
    affine[:3, 3] = steps @ low
    grid = np.indices(shape).reshape(3, -1).T.astype(np.float64)
    lps = grid @ steps.T + affine[:3, 3]
    distance, nearest = cKDTree(points).query(lps, distance_upper_bound=float(radius_mm.max()) + 2)
    fill = np.zeros(len(lps))
    hit = np.isfinite(distance)
    fill[hit] = np.clip(0.5 - (distance[hit] - radius_mm[nearest[hit]]) / spacing_mm, 0.0, 1.0)
    hu = FAT_HU + (LUMEN_HU - FAT_HU) * fill
    hu = gaussian_filter(hu.reshape(shape), 0.5)
    return Volume(hu.astype(np.float32), affine)


def tube_findings(points: np.ndarray, radius_mm: np.ndarray, name: str = "LAD",
                  segments: list[int | None] | None = None) -> Findings:
    """Findings with one vessel whose profile is the exact geometry."""
    s_mm = arc_length(points)
    diameter = [2.0 * float(r) for r in radius_mm]
    centerline = Centerline(points.tolist(), [float(r) for r in radius_mm],
                            segments or [6] * len(points), [False] * len(points))
    profile = LumenProfile(
        s_mm=s_mm.tolist(), area_mm2=[np.pi * r * r for r in radius_mm.tolist()],
        min_diameter_mm=list(diameter), max_diameter_mm=list(diameter),
        equivalent_diameter_mm=list(diameter),
        reference_diameter_mm=[2.0 * float(radius_mm.max())] * len(points),
        calcium_area_mm2=[0.0] * len(points))
    vessel = Vessel(0, centerline, profile, name=name, origin="ostium")
    return Findings(series_instance_uid="2.25.1", vessels=[vessel])
