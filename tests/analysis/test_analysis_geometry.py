"""Polyline helpers and the centreline graph's split into vessels."""

from __future__ import annotations

import numpy as np

from ccta_ai.analysis.geometry import (
    cumulative_length_mm,
    resample_polyline,
    rotation_minimizing_frames,
    smooth_polyline,
)
from ccta_ai.analysis.graph import CenterlineGraph, Edge, decompose


def _helix(turns: float = 2.0, radius_mm: float = 5.0, pitch_mm: float = 8.0) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi * turns, 800)
    return np.stack([radius_mm * np.cos(t), radius_mm * np.sin(t), pitch_mm * t / (2 * np.pi)], 1)


def test_resampling_is_uniform_and_keeps_the_ends() -> None:
    points = _helix()
    resampled, _ = resample_polyline(points, 0.5)
    steps = np.linalg.norm(np.diff(resampled, axis=0), axis=1)
    assert np.ptp(steps) < 0.01
    np.testing.assert_allclose(resampled[[0, -1]], points[[0, -1]])


def test_smoothing_keeps_a_straight_line_and_removes_jitter() -> None:
    rng = np.random.default_rng(0)
    line = np.linspace([0.0, 0.0, 0.0], [0.0, 0.0, 30.0], 120)
    noisy = line + rng.normal(0.0, 0.2, line.shape) * [1, 1, 0]
    noisy[[0, -1]] = line[[0, -1]]
    smooth, _ = smooth_polyline(noisy, sigma_mm=1.0)
    np.testing.assert_allclose(smooth[[0, -1]], line[[0, -1]])
    assert np.abs(smooth[:, :2]).max() < 0.3
    assert np.abs(smooth[:, :2]).std() < 0.5 * np.abs(noisy[:, :2]).std()


def test_rotation_minimizing_frames_are_orthonormal_and_do_not_twist_on_a_line() -> None:
    tangent, u, v = rotation_minimizing_frames(_helix())
    for a, b in ((tangent, u), (tangent, v), (u, v)):
        np.testing.assert_allclose(np.sum(a * b, axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.cross(u, v), tangent, atol=1e-9)
    line = np.linspace([0.0, 0.0, 0.0], [10.0, 5.0, 2.0], 50)
    _, u_line, _ = rotation_minimizing_frames(line)
    np.testing.assert_allclose(u_line, np.tile(u_line[0], (50, 1)), atol=1e-12)


def _edge(start: int, end: int, a: list[float], b: list[float], n: int = 11) -> Edge:
    points = np.linspace(a, b, n)
    return Edge(start, end, points, np.ones(n), np.zeros(n, dtype=bool))


def test_decompose_follows_the_longest_way_and_branches_off_at_the_junction() -> None:
    # root 0 -> junction 1 -> long end 2 (20 mm) and short end 3 (8 mm); edges stored backwards
    nodes = np.array([[0.0, 0, 0], [0, 0, 10], [0, 0, 30], [8, 0, 10]])
    graph = CenterlineGraph(
        nodes,
        [
            _edge(1, 0, [0, 0, 10], [0, 0, 0]),
            _edge(3, 1, [8, 0, 10], [0, 0, 10]),
            _edge(1, 2, [0, 0, 10], [0, 0, 30], 21),
        ],
        root=0,
    )
    trunk, side = decompose(graph)
    assert trunk.parent is None
    np.testing.assert_allclose(trunk.points_lps_mm[[0, -1]], [[0, 0, 0], [0, 0, 30]])
    assert cumulative_length_mm(trunk.points_lps_mm)[-1] == 30.0
    assert side.parent == 0
    assert side.parent_point is not None
    np.testing.assert_allclose(trunk.points_lps_mm[side.parent_point], [0, 0, 10])
    np.testing.assert_allclose(side.points_lps_mm[[0, -1]], [[0, 0, 10], [8, 0, 10]])
