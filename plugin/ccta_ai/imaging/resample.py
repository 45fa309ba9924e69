"""Resampling of decoded slices onto the orthogonal, regular grid of a StackPlan."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ccta_ai.imaging.stack import StackPlan

#: Value given to voxels that the shifted slices do not cover (air).
OUTSIDE_HU = -1024.0


def apply_plan(hu: np.ndarray, plan: StackPlan) -> np.ndarray:
    """``hu`` (slices in ``plan.records`` order) on ``plan.affine``'s grid.

    In-plane shifts (gantry tilt) use linear interpolation; uneven slice positions are
    interpolated linearly along axis 0 between their two neighbours.
    """
    if plan.shifts_px is not None:
        for k, shift in enumerate(plan.shifts_px):
            if np.any(np.abs(shift) > 1e-6):
                hu[k] = ndimage.shift(hu[k], shift, order=1, mode="constant", cval=OUTSIDE_HU)
    if plan.interpolate:
        hu = _onto_regular_grid(hu, plan.offsets_mm)
    return hu


def _onto_regular_grid(hu: np.ndarray, offsets_mm: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 from ``offsets_mm`` (monotonic, first 0) to
    ``n`` evenly spaced positions from the first to the last offset."""
    n = hu.shape[0]
    sign = 1.0 if offsets_mm[-1] >= 0 else -1.0
    source = sign * offsets_mm  # increasing
    target = np.linspace(0.0, source[-1], n)
    upper = np.clip(np.searchsorted(source, target, side="right"), 1, n - 1)
    lower = upper - 1
    weight = ((target - source[lower]) / (source[upper] - source[lower])).astype(np.float32)
    out = np.empty_like(hu)
    for k in range(n):
        out[k] = hu[lower[k]] * (1.0 - weight[k]) + hu[upper[k]] * weight[k]
    return out
