"""Polyline geometry in LPS millimetres: arc length, resampling, smoothing, frames.

A polyline is an ``(n, 3)`` float array of points in patient LPS mm, ordered from its
proximal to its distal end. Per-point attributes (radius, flags) are arrays whose first
axis has the same length ``n``; they travel with the points through
:func:`interpolate_along`.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ccta_ai.errors import GeometryValueError


def as_points(points: np.ndarray) -> np.ndarray:
    """Return ``points`` as a float64 ``(n, 3)`` array, or raise if it is not one."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3:
        raise GeometryValueError(f"a polyline must be an (n, 3) array, got shape {array.shape}")
    return array


def cumulative_length_mm(points: np.ndarray) -> np.ndarray:
    """Arc length from the first point to each point, shape ``(n,)``, starting at 0."""
    array = as_points(points)
    if len(array) == 0:
        return np.zeros(0)
    steps = np.linalg.norm(np.diff(array, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def uniform_stations_mm(total_mm: float, step_mm: float) -> np.ndarray:
    """Stations ``0 … total_mm`` as evenly as possible with a spacing close to ``step_mm``.

    Both ends are included; the spacing is ``total_mm / round(total_mm / step_mm)``.
    """
    if step_mm <= 0:
        raise GeometryValueError(f"step_mm must be positive, got {step_mm}")
    count = max(1, round(total_mm / step_mm))
    return np.linspace(0.0, max(total_mm, 0.0), count + 1)


def interpolate_along(s_mm: np.ndarray, values: np.ndarray, s_new_mm: np.ndarray) -> np.ndarray:
    """Linearly interpolate per-point ``values`` (shape ``(n,)`` or ``(n, k)``) at ``s_new_mm``.

    ``s_mm`` must be non-decreasing; repeated stations (zero-length steps) are fine.
    """
    values = np.asarray(values, dtype=np.float64)
    s_new_mm = np.asarray(s_new_mm, dtype=np.float64)
    if values.ndim == 1:
        return np.interp(s_new_mm, s_mm, values)
    return np.stack([np.interp(s_new_mm, s_mm, column) for column in values.T], axis=1)


def resample_polyline(points: np.ndarray, step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample at uniform arc length; returns ``(points, stations_on_the_input_mm)``."""
    array = as_points(points)
    s_mm = cumulative_length_mm(array)
    if len(array) < 2 or s_mm[-1] == 0:
        return array[:1].copy(), np.zeros(min(len(array), 1))
    stations = uniform_stations_mm(float(s_mm[-1]), step_mm)
    return interpolate_along(s_mm, array, stations), stations


def smooth_polyline(
    points: np.ndarray, sigma_mm: float, sample_mm: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian smoothing along arc length with both end points kept in place.

    The polyline is first resampled every ``sample_mm``; its ends are extended by point
    reflection (``2 p0 - p_k``) so the smoothed curve keeps its end points and end
    directions. Returns ``(smoothed points, their stations on the input's arc length)``.
    """
    fine, stations = resample_polyline(points, sample_mm)
    if len(fine) < 3 or sigma_mm <= 0:
        return fine, stations
    spacing = stations[1] - stations[0]
    sigma = sigma_mm / spacing
    pad = min(len(fine) - 1, int(np.ceil(4.0 * sigma)))
    head = 2.0 * fine[0] - fine[1 : pad + 1][::-1]
    tail = 2.0 * fine[-1] - fine[-pad - 1 : -1][::-1]
    extended = np.concatenate([head, fine, tail])
    smoothed = gaussian_filter1d(extended, sigma, axis=0, mode="nearest")[pad : pad + len(fine)]
    smoothed[0], smoothed[-1] = fine[0], fine[-1]
    return smoothed, stations


def unit_tangents(points: np.ndarray) -> np.ndarray:
    """Unit tangents (central differences; one-sided at the ends), shape ``(n, 3)``."""
    array = as_points(points)
    if len(array) < 2:
        return np.tile([0.0, 0.0, 1.0], (len(array), 1))
    tangents = np.gradient(array, axis=0)
    norms = np.linalg.norm(tangents, axis=1, keepdims=True)
    return tangents / np.where(norms > 0, norms, 1.0)


def perpendicular_unit(vector: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``vector`` (deterministic choice)."""
    vector = np.asarray(vector, dtype=np.float64)
    axis = np.zeros(3)
    axis[int(np.argmin(np.abs(vector)))] = 1.0
    normal = np.cross(vector, axis)
    return normal / np.linalg.norm(normal)


def rotation_minimizing_frames(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangents and two normals per point that twist as little as possible along the curve.

    Double-reflection method (Wang, Jüttler, Zheng, Liu, ACM TOG 27(1), 2008). Returns
    ``(tangent, normal_u, normal_v)``, each ``(n, 3)``, right-handed: ``u × v = t``.
    """
    array = as_points(points)
    tangents = unit_tangents(array)
    count = len(array)
    normals_u = np.zeros((count, 3))
    if count == 0:
        return tangents, normals_u, normals_u.copy()
    normals_u[0] = perpendicular_unit(tangents[0])
    for i in range(count - 1):
        step = array[i + 1] - array[i]
        c1 = float(step @ step)
        if c1 == 0.0:
            normals_u[i + 1] = normals_u[i]
            continue
        reflected_u = normals_u[i] - (2.0 / c1) * float(step @ normals_u[i]) * step
        reflected_t = tangents[i] - (2.0 / c1) * float(step @ tangents[i]) * step
        second = tangents[i + 1] - reflected_t
        c2 = float(second @ second)
        u = (
            reflected_u
            if c2 == 0.0
            else reflected_u - (2.0 / c2) * float(second @ reflected_u) * second
        )
        u -= float(u @ tangents[i + 1]) * tangents[i + 1]
        norm = np.linalg.norm(u)
        normals_u[i + 1] = u / norm if norm > 0 else perpendicular_unit(tangents[i + 1])
    normals_v = np.cross(tangents, normals_u)
    return tangents, normals_u, normals_v


def hermite(
    start: np.ndarray,
    start_tangent: np.ndarray,
    end: np.ndarray,
    end_tangent: np.ndarray,
    t: np.ndarray,
) -> np.ndarray:
    """Points of the cubic Hermite curve from ``start`` to ``end`` with the given end
    tangents (derivatives with respect to ``t``), at parameters ``t`` in [0, 1]."""
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
    return (
        (2 * t**3 - 3 * t**2 + 1) * start
        + (t**3 - 2 * t**2 + t) * start_tangent
        + (-2 * t**3 + 3 * t**2) * end
        + (t**3 - t**2) * end_tangent
    )


def direction_at_end(points: np.ndarray, length_mm: float, at_start: bool) -> np.ndarray:
    """Unit direction pointing *out of* the polyline at one end, fitted over ``length_mm``.

    The direction goes from the mean of the points within ``length_mm`` of that end to
    the end point itself, which is robust to a few millimetres of voxel jitter.
    """
    array = as_points(points)
    if at_start:
        array = array[::-1]
    s_mm = cumulative_length_mm(array)
    if len(array) < 2 or s_mm[-1] == 0:
        return np.zeros(3)
    near_end = array[s_mm >= s_mm[-1] - length_mm]
    vector = array[-1] - near_end.mean(axis=0)
    if np.linalg.norm(vector) < 1e-9:
        vector = array[-1] - array[0]
    return vector / np.linalg.norm(vector)
