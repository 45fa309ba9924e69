"""Vector and polyline helpers for the phantom, all in millimetres.

Points are ``(..., 3)`` arrays in the phantom's body frame, which has the axes of DICOM's
patient LPS system (x to the patient's left, y posterior, z superior); only the origin
differs (see :mod:`ccta_ai.phantom.anatomy`).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline


def unit(vectors: np.ndarray) -> np.ndarray:
    """Normalise vectors along the last axis."""
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def rotation_about(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """3x3 rotation matrix about ``axis`` by ``angle_rad`` (right hand rule)."""
    k = unit(axis)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle_rad) * cross + (1.0 - np.cos(angle_rad)) * cross @ cross


def orthonormal_frame(primary: np.ndarray, hint: np.ndarray) -> np.ndarray:
    """3x3 matrix with columns ``(primary, second, third)``: ``second`` is ``hint`` made
    orthogonal to ``primary``; ``third = primary x second``."""
    first = unit(primary)
    second = unit(hint - np.dot(hint, first) * first)
    return np.stack([first, second, np.cross(first, second)], axis=1)


def cumulative_length(points: np.ndarray) -> np.ndarray:
    """Arc length in mm at each vertex of a polyline, starting at 0."""
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def resample(points: np.ndarray, step_mm: float, *values: np.ndarray) -> list[np.ndarray]:
    """Resample a polyline (and per-vertex ``values``) at an even arc-length step.

    Returns ``[points, *values]`` resampled by linear interpolation; both ends are kept.
    """
    s = cumulative_length(points)
    count = max(round(s[-1] / step_mm), 1) + 1
    s_new = np.linspace(0.0, s[-1], count)
    out = [np.stack([np.interp(s_new, s, points[:, i]) for i in range(3)], axis=1)]
    out += [np.interp(s_new, s, np.asarray(v, dtype=np.float64)) for v in values]
    return out


def spline_through(anchors: np.ndarray, step_mm: float) -> np.ndarray:
    """A smooth curve through ``anchors`` (chord-length cubic spline), sampled evenly."""
    anchors = np.asarray(anchors, dtype=np.float64)
    chords = np.linalg.norm(np.diff(anchors, axis=0), axis=1)
    keep = np.concatenate([[True], chords > 1e-6])
    anchors = anchors[keep]
    t = cumulative_length(anchors)
    spline = CubicSpline(t, anchors, axis=0, bc_type="natural")
    dense = spline(np.linspace(0.0, t[-1], max(int(t[-1] / (step_mm / 4.0)), 8)))
    return resample(dense, step_mm)[0]


def smooth(points: np.ndarray, window_mm: float, step_mm: float) -> np.ndarray:
    """Moving-average smoothing of an evenly sampled polyline; the ends stay fixed."""
    half = max(round(window_mm / step_mm / 2.0), 1)
    if len(points) < 2 * half + 3:
        return points.copy()
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    padded = np.concatenate(
        [2 * points[:1] - points[half:0:-1], points, 2 * points[-1:] - points[-2 : -half - 2 : -1]]
    )
    out = np.stack([np.convolve(padded[:, i], kernel, mode="valid") for i in range(3)], axis=1)
    out[0], out[-1] = points[0], points[-1]
    return out


def tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangent at each vertex (central differences)."""
    return unit(np.gradient(points, axis=0))


def transport_normals(points: np.ndarray, first_normal: np.ndarray) -> np.ndarray:
    """Unit normals carried along the polyline by parallel transport (no twist)."""
    tan = tangents(points)
    normals = np.empty_like(points)
    n = first_normal - np.dot(first_normal, tan[0]) * tan[0]
    normals[0] = n / np.linalg.norm(n)
    for i in range(1, len(points)):
        n = normals[i - 1] - np.dot(normals[i - 1], tan[i]) * tan[i]
        normals[i] = n / np.linalg.norm(n)
    return normals


def smooth_noise(s: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """A smooth random 1D signal on arc lengths ``s``: three sines with random phase,
    wavelengths 10-45 mm, total amplitude about ``amplitude``."""
    out = np.zeros_like(s)
    for _ in range(3):
        wavelength = rng.uniform(10.0, 45.0)
        out += rng.uniform(0.3, 1.0) * np.sin(
            2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi)
        )
    return amplitude * out / 1.8


def point_segment_distance(
    points: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from ``points (N, 3)`` to each segment ``a[j] -> b[j]`` (``(M, 3)``).

    Returns ``(distance (N, M), t (N, M))``, ``t`` the clamped position along a segment.
    """
    ab = b - a
    denom = np.maximum(np.einsum("ij,ij->i", ab, ab), 1e-12)
    ap = points[:, None, :] - a[None, :, :]
    t = np.clip(np.einsum("nmi,mi->nm", ap, ab) / denom, 0.0, 1.0)
    closest = a[None, :, :] + t[..., None] * ab[None, :, :]
    return np.linalg.norm(points[:, None, :] - closest, axis=2), t
