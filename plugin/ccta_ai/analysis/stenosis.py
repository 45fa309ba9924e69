"""Find: reference diameter and stenoses along one vessel's lumen profile.

The reference diameter is what the lumen would be without disease: a robust local
linear regression (tricube kernel, ``reference_window_mm`` half-width) of the lumen
diameter against arc length, refitted with bisquare weights on the residuals so that
narrowings (and bulges at branch points) drop out; points more than
``exclude_below_pct`` under the fit are excluded outright. It follows normal tapering
and the steps after side branches. Where a whole window is diseased, the fit falls back
to a robust straight line over the vessel.

A lesion is a run of points narrower than the reference by at least
``extent_threshold_pct`` that somewhere reaches ``report_threshold_pct`` (on the
3-point median of the narrowing); runs closer than ``merge_gap_mm`` are one lesion. A
run that reaches the vessel's distal end is the vessel fading out, not a stenosis
(unless occluded). A lesion is a total occlusion when the lumen is gone (area below
``occlusion_area_mm2``) over ``min_occlusion_mm``; a shorter loss of lumen is a
subtotal stenosis whose lumen is taken at the resolution limit (``resolution_mm``).
So is a loss of lumen where the section holds calcium: calcium's blooming hides a
narrow residual lumen, and CT cannot tell a calcified occlusion from a tight calcified
stenosis, so it is graded as the tightest stenosis CT resolves, not as an occlusion.

The lesion's site (its "MLD" point) is where the lumen is narrowest relative to the
local reference; diameter stenosis there uses the area-equivalent diameter, area
stenosis compares the lumen area with the reference area ``pi (d_ref / 2) ** 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter


@dataclass(frozen=True)
class StenosisOptions:
    """Lesion detection parameters (percentages are of the reference diameter)."""

    report_threshold_pct: float = 25.0
    extent_threshold_pct: float = 10.0
    merge_gap_mm: float = 2.0
    reference_window_mm: float = 20.0
    exclude_below_pct: float = 15.0
    robust_iterations: int = 6
    occlusion_area_mm2: float = 0.2
    min_occlusion_mm: float = 3.0
    resolution_mm: float = 0.5  # a shorter loss of lumen is a subtotal stenosis, its
    #                             lumen taken as this (what CT cannot resolve)


@dataclass(frozen=True)
class LesionSpan:
    """One lesion on a profile (indices into the profile's points)."""

    start: int
    end: int
    mld_index: int
    start_s_mm: float
    end_s_mm: float
    mld_mm: float
    mla_mm2: float
    reference_diameter_mm: float
    pct_diameter_stenosis: float
    pct_area_stenosis: float
    occlusion: bool
    bridged: bool

    @property
    def length_mm(self) -> float:
        return self.end_s_mm - self.start_s_mm


def _local_linear(
    s_mm: np.ndarray, values: np.ndarray, weights: np.ndarray, half_width_mm: float
) -> np.ndarray:
    """Weighted local linear regression evaluated at every ``s_mm`` (NaN where unsupported)."""
    distance = (s_mm[None, :] - s_mm[:, None]) / half_width_mm
    kernel = np.clip(1.0 - np.abs(distance) ** 3, 0.0, None) ** 3 * weights[None, :]
    delta = s_mm[None, :] - s_mm[:, None]
    s0 = kernel.sum(axis=1)
    s1 = (kernel * delta).sum(axis=1)
    s2 = (kernel * delta**2).sum(axis=1)
    t0 = (kernel * values[None, :]).sum(axis=1)
    t1 = (kernel * delta * values[None, :]).sum(axis=1)
    determinant = s0 * s2 - s1**2
    with np.errstate(invalid="ignore", divide="ignore"):
        linear = (s2 * t0 - s1 * t1) / determinant
        constant = t0 / s0
    ok_linear = determinant > 1e-9 * np.maximum(s0, 1e-12) ** 2 * half_width_mm**2
    fit = np.where(ok_linear, linear, constant)
    return np.where(s0 > 1e-6, fit, np.nan)


def _robust_line(s_mm: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    if weights.sum() <= 0:
        return np.full(len(s_mm), np.nan)
    if np.count_nonzero(weights) < 2 or np.ptp(s_mm[weights > 0]) == 0:
        return np.full(len(s_mm), np.average(values, weights=weights))
    slope, intercept = np.polyfit(s_mm, values, 1, w=np.sqrt(weights))
    return intercept + slope * s_mm


def reference_diameter(
    s_mm: np.ndarray,
    diameter_mm: np.ndarray,
    usable: np.ndarray,
    options: StenosisOptions | None = None,
) -> np.ndarray:
    """Reference (disease-free) diameter at every point; ``usable`` marks measured points."""
    options = options or StenosisOptions()
    s_mm = np.asarray(s_mm, dtype=np.float64)
    measured = np.where(usable, np.asarray(diameter_mm, dtype=np.float64), 0.0)
    weights = np.asarray(usable, dtype=np.float64)
    if weights.sum() == 0:
        return np.full(len(s_mm), np.nan)
    fit = _robust_line(s_mm, measured, weights)
    for _ in range(options.robust_iterations):
        residual = measured - fit
        good = weights > 0.5
        scale = 1.4826 * float(np.median(np.abs(residual[good]))) if good.any() else 0.0
        scale = max(scale, 0.03 * float(np.nanmedian(fit)), 0.02)
        robust = np.clip(1.0 - (residual / (4.685 * scale)) ** 2, 0.0, None) ** 2
        robust[measured < fit * (1.0 - options.exclude_below_pct / 100.0)] = 0.0
        weights = np.where(usable, robust, 0.0)
        fallback = _robust_line(s_mm, measured, weights)
        local = _local_linear(s_mm, measured, weights, options.reference_window_mm)
        fit = np.where(np.isfinite(local), local, fallback)
        if not np.all(np.isfinite(fit)):
            fit = np.where(np.isfinite(fit), fit, np.nanmedian(measured[usable]))
    return np.maximum(fit, 0.0)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` index pairs of the True runs."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    changes = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(changes[::2], changes[1::2], strict=True)]


def find_lesions(
    s_mm: np.ndarray,
    diameter_mm: np.ndarray,
    area_mm2: np.ndarray,
    reference_mm: np.ndarray,
    usable: np.ndarray,
    bridged: np.ndarray | None = None,
    options: StenosisOptions | None = None,
    starts_at_ostium: bool = True,
    calcium_mm2: np.ndarray | None = None,
) -> list[LesionSpan]:
    """Lesions along a profile, proximal first.

    ``starts_at_ostium`` False means the profile starts at a free end of the mask (an
    end cap), where narrowing is not a lesion, as at the distal end. ``calcium_mm2``
    (per point) marks the sections whose lost lumen does not count as occlusion.
    """
    options = options or StenosisOptions()
    count = len(s_mm)
    if count == 0 or not np.any(usable):
        return []
    bridged = np.zeros(count, dtype=bool) if bridged is None else np.asarray(bridged, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        narrowing = 100.0 * (1.0 - diameter_mm / reference_mm)
    narrowing = np.where(usable & (reference_mm > 0), narrowing, np.nan)
    smoothed = median_filter(np.nan_to_num(narrowing, nan=0.0), size=3, mode="nearest")
    smoothed = np.where(usable, smoothed, 0.0)
    occluded = usable & (area_mm2 <= options.occlusion_area_mm2)
    if calcium_mm2 is not None:
        occluded &= ~(np.nan_to_num(np.asarray(calcium_mm2, dtype=np.float64)) > 0)
    runs = _merge(_runs(smoothed >= options.extent_threshold_pct), s_mm, options.merge_gap_mm)
    first_usable, last_usable = (int(i) for i in np.flatnonzero(usable)[[0, -1]])
    lesions = []
    for start, end in runs:
        inside = slice(start, end + 1)
        if smoothed[inside].max() < options.report_threshold_pct:
            continue
        gone = [
            (a + start, b + start)
            for a, b in _runs(occluded[inside])
            if s_mm[b + start] - s_mm[a + start] >= options.min_occlusion_mm - 1e-9
        ]
        occlusion = bool(gone)
        at_end = end >= last_usable or (start <= first_usable and not starts_at_ostium)
        if at_end and not occlusion:
            continue  # the vessel fades out, or the mask's end cap
        if occlusion:
            first, last = max(gone, key=lambda run: s_mm[run[1]] - s_mm[run[0]])
            mld_index = (first + last) // 2
        else:  # the point narrowest relative to its reference
            candidates = np.flatnonzero(usable[inside]) + start
            mld_index = int(candidates[np.argmax(smoothed[candidates])])
        reference = float(reference_mm[mld_index])
        reference_area = np.pi * reference**2 / 4.0
        mld = 0.0 if occlusion else float(diameter_mm[mld_index])
        mla = 0.0 if occlusion else float(area_mm2[mld_index])
        if not occlusion and mld < options.resolution_mm:
            # the lumen vanishes over less than min_occlusion_mm, or under calcium:
            # below CT resolution, not gone; a subtotal stenosis, at the resolution limit
            mld = min(options.resolution_mm, 0.99 * reference)
            mla = max(mla, np.pi * mld**2 / 4.0)
        lesions.append(
            LesionSpan(
                start=start,
                end=end,
                mld_index=mld_index,
                start_s_mm=float(s_mm[start]),
                end_s_mm=float(s_mm[end]),
                mld_mm=mld,
                mla_mm2=mla,
                reference_diameter_mm=reference,
                pct_diameter_stenosis=_percent_narrower(mld, reference),
                pct_area_stenosis=_percent_narrower(mla, reference_area),
                occlusion=occlusion,
                bridged=bool(bridged[inside].any()),
            )
        )
    return lesions


def _percent_narrower(value: float, reference: float) -> float:
    if reference <= 0:
        return 0.0
    return float(np.clip(100.0 * (1.0 - value / reference), 0.0, 100.0))


def _merge(runs: list[tuple[int, int]], s_mm: np.ndarray, gap_mm: float) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in runs:
        if merged and s_mm[start] - s_mm[merged[-1][1]] <= gap_mm:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged
