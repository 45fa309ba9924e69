"""Measure: lumen cross-sections orthogonal to a centreline.

At every centreline point the HU volume is sampled (trilinear) on a square grid in the
plane orthogonal to the vessel, oriented by rotation-minimising frames so that angles
mean the same thing along the vessel.

In each section the lumen is the connected region around the centre that is brighter
than half-way between the surrounding tissue and the section's own peak (a local
half-maximum rule: blur lowers the peak of a small lumen, and the threshold follows,
so a tight stenosis is not overestimated as much as with a fixed threshold). The
threshold then moves to half-way between the peak and the wall the lumen touches (the
median HU just outside it), up where plaque narrows the lumen, down where the lumen
lies in a ring of fat inside brighter tissue; and the region is cut back to within
``leak_reach_mm`` of its core (the pixels half-way from the threshold to the peak), so
that a lumen touching tissue brighter than its threshold (myocardium beside a weakly
enhanced vessel) does not run into it. The peak
is capped at the vessel's lumen HU, a running upper percentile of the section centres
along the vessel (robust to lesions and occlusions shorter than half its window). A
section whose peak rises less than ``min_peak_contrast`` of the way from tissue to
lumen HU has no measurable lumen (occluded, or below the scanner's resolution).
Centres far brighter than the centres around them (calcium blooming into a narrowed
lumen) take no part in the lumen HU: a calcified plaque as long as the window would
otherwise raise the lumen HU to the calcium's, and hide itself.

Calcium (brighter than ``max(calcium_min_hu, blood HU + calcium_above_lumen_hu)``, the
blood HU being the vessel's highest lumen HU, which partial volume in its small
distal sections does not lower) is not lumen, nor is a halo of ``calcium_halo_mm``
around it, nor its blooming into the tissue behind it as seen from the lumen: a
calcified plaque narrows the lumen. Where the section centre lies in calcium (a
centreline drawn through a calcified plaque), the lumen is looked for beside it, at
least ``calcium_bloom_mm`` from the calcium; where there is none, the lumen is too
narrow to be seen beside the calcium.

Where a model reads the lumen under calcium (:mod:`.calcium_lumen`), it reads each run
of calcified sections on a smooth curve between the centreline just before and just
after the run, not on the traced centreline: the segmentation under calcium is
eccentric, and a centreline traced in it runs 0.5-1.6 mm from the lumen's centre
(mean 0.63 mm over the 22 calcified runs longer than 10 mm in 40 phantom studies;
0.37 mm on the curve), near the wall, where the model reads a lumen too narrow. A
section keeps its traced centre where the curve lies no nearer than it to the lumen
the contour sees in that section, or, where the contour sees none, leaves the calcium
and its bloom (a winding vessel the curve cuts across).

Per section: lumen area, minimum and maximum diameters (the smallest and largest
caliper width over 18 directions), the area-equivalent diameter ``2 sqrt(A / pi)``,
and the calcium area.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ccta_ai.analysis.geometry import as_points, hermite, rotation_minimizing_frames
from ccta_ai.imaging.volume import Volume

if TYPE_CHECKING:  # torch is imported only where the model is loaded
    from ccta_ai.analysis.calcium_lumen import CalciumLumenModel

_CALIPER_ANGLES = np.deg2rad(np.arange(0.0, 180.0, 10.0))


@dataclass(frozen=True)
class LumenOptions:
    """Cross-section parameters.

    Attributes:
        pixel_mm: cross-section grid spacing.
        window_radius_factor: section half-width is this many vessel radii …
        window_margin_mm: … plus this margin (clipped to 3–``max_window_mm``).
        max_window_mm: largest section half-width.
        nominal_radius_window_mm: running window for the vessel's nominal radius.
        lumen_hu_window_mm: running window for the vessel's lumen HU.
        lumen_hu_percentile: percentile of section peaks taken as the lumen HU.
        lumen_hu_outlier_hu: a section centre brighter than the running median of
            the centres by four times their noise, and at least this, is calcium,
            not lumen, and is left out of the lumen HU …
        lumen_hu_outlier_margin_mm: … and so are the centres this close to it.
        calcium_min_hu: calcium is never below this.
        calcium_above_lumen_hu: calcium is at least this far above the blood HU.
        calcium_halo_mm: blooming halo around calcium excluded from the lumen.
        calcium_bloom_mm: how far calcium's blooming reaches beyond its threshold:
            lumen is only seen from a bright pixel farther than this from calcium.
        viewpoint_margin_mm: where the section centre lies in calcium (a centreline
            drawn through a calcified plaque), the lumen is looked for this far
            beyond the vessel's nominal radius.
        background_range_hu: the surrounding tissue HU is clipped to this range.
        min_contrast_hu: lumen HU must exceed the tissue by this for a valid section.
        min_peak_contrast: a section whose brightest central HU rises less than this
            fraction of the way from tissue to lumen HU has no measurable lumen.
        wall_ring_mm: the ring just outside a section's lumen (from, to its edge)
            whose median HU is the wall's: plaque, where a plaque narrows it.
        wall_iterations: times the threshold is moved to half-way between the peak
            and that wall HU (up where plaque narrows the lumen, down where the lumen
            lies in fat inside brighter tissue).
        partial_volume_contrast: a lumen whose peak rises less than this fraction
            of the way to the blood HU (the vessel's highest lumen HU) is narrower
            than the blur: its area is also measured from the contrast it adds over
            the blood's (the smaller area is kept) …
        partial_volume_reach_mm: … summed this far beyond its half-maximum region.
        leak_reach_mm: the lumen region keeps only what lies within this of its core
            (the pixels half-way from the threshold to the peak): a lumen's edge is
            within the blur of its core; farther is tissue it ran into.
        bridge_calcium: the calcium model reads each run of calcified sections on a
            cubic Hermite curve between the centreline ``bridge_margin_mm`` before and
            after the run (tangents the centreline's there) …
        bridge_margin_mm: … that margin …
        bridge_max_winding: … unless the traced centreline there is this many times
            longer than the curve's chord (a winding vessel no cubic follows).
        batch_sections: sections sampled per call (bounds memory).
    """

    pixel_mm: float = 0.15
    window_radius_factor: float = 2.0
    window_margin_mm: float = 2.0
    max_window_mm: float = 10.0
    nominal_radius_window_mm: float = 10.0
    lumen_hu_window_mm: float = 20.0
    lumen_hu_percentile: float = 75.0
    lumen_hu_outlier_hu: float = 50.0
    lumen_hu_outlier_margin_mm: float = 2.0
    calcium_min_hu: float = 400.0
    calcium_above_lumen_hu: float = 150.0
    calcium_halo_mm: float = 0.15
    calcium_bloom_mm: float = 0.75
    viewpoint_margin_mm: float = 0.5
    background_range_hu: tuple[float, float] = (-200.0, 150.0)
    min_contrast_hu: float = 100.0
    min_peak_contrast: float = 0.45
    wall_ring_mm: tuple[float, float] = (0.45, 0.9)
    wall_iterations: int = 2
    partial_volume_contrast: float = 0.65
    partial_volume_reach_mm: float = 0.6
    leak_reach_mm: float = 0.4
    bridge_calcium: bool = True
    bridge_margin_mm: float = 2.0
    bridge_max_winding: float = 1.3
    batch_sections: int = 256


@dataclass
class LumenMeasurements:
    """Per centreline point (all ``(n,)``; NaN where ``valid`` is False)."""

    area_mm2: np.ndarray
    min_diameter_mm: np.ndarray
    max_diameter_mm: np.ndarray
    equivalent_diameter_mm: np.ndarray
    calcium_area_mm2: np.ndarray
    lumen_hu: np.ndarray
    background_hu: np.ndarray
    valid: np.ndarray
    ring_hu: np.ndarray | None = None  # each section's own ring median (not smoothed)
    from_model: np.ndarray | None = None  # the lumen under calcium read by the model

    @classmethod
    def unmeasured(cls, count: int) -> LumenMeasurements:
        """All NaN and invalid, ``count`` points."""
        return cls(
            area_mm2=np.full(count, np.nan),
            min_diameter_mm=np.full(count, np.nan),
            max_diameter_mm=np.full(count, np.nan),
            equivalent_diameter_mm=np.full(count, np.nan),
            calcium_area_mm2=np.full(count, np.nan),
            lumen_hu=np.full(count, np.nan),
            background_hu=np.full(count, np.nan),
            valid=np.zeros(count, dtype=bool),
        )


def section_grid(half_width_mm: float, pixel_mm: float) -> np.ndarray:
    """In-plane offsets ``(m,)`` of a square section grid centred on 0."""
    half = int(np.ceil(half_width_mm / pixel_mm))
    return np.arange(-half, half + 1) * pixel_mm


def sample_cross_sections(
    volume: Volume,
    centers_lps_mm: np.ndarray,
    normals_u: np.ndarray,
    normals_v: np.ndarray,
    offsets_mm: np.ndarray,
    outside: str = "nan",
) -> np.ndarray:
    """HU on square grids in the planes spanned by ``normals_u`` and ``normals_v``.

    Returns a float32 array ``(n, m, m)``: axis 1 steps along ``v``, axis 2 along
    ``u``, both over ``offsets_mm``. Samples outside the volume are NaN, or with
    ``outside="nearest"`` the volume's nearest voxel.
    """
    centers = as_points(centers_lps_mm)
    to_index = np.linalg.inv(volume.affine[:3, :3])
    origin = volume.lps_to_index(centers)  # (n, 3)
    step_u = np.asarray(normals_u) @ to_index.T  # index-space steps per mm along u and v
    step_v = np.asarray(normals_v) @ to_index.T
    size = len(offsets_mm)
    index = np.empty((3, len(centers), size, size))
    for axis in range(3):
        index[axis] = (
            origin[:, axis, None, None]
            + offsets_mm[None, None, :] * step_u[:, axis, None, None]
            + offsets_mm[None, :, None] * step_v[:, axis, None, None]
        )
    mode = "nearest" if outside == "nearest" else "constant"
    values = ndimage.map_coordinates(
        volume.hu, index.reshape(3, -1), order=1, mode=mode, cval=np.nan
    )
    return values.reshape(len(centers), size, size).astype(np.float32)


def _running(values: np.ndarray, valid: np.ndarray, window: int, percentile: float) -> np.ndarray:
    """Running percentile over the valid entries (invalid ones filled from neighbours).

    The ends are padded by reflection: repeating the end value would fill half the
    window with it, and calcium at a vessel's end would become its lumen HU."""
    if not valid.any():
        return np.full(len(values), np.nan)
    positions = np.arange(len(values))
    filled = np.interp(positions, positions[valid], values[valid])
    size = max(1, min(window, len(values)) | 1)
    return ndimage.percentile_filter(filled, percentile, size=size, mode="reflect")


def vessel_lumen_hu(
    central_hu: np.ndarray,
    valid: np.ndarray,
    window: int,
    percentile: float,
    outlier_hu: float,
    margin: int = 0,
) -> np.ndarray:
    """The lumen HU along a vessel: a running percentile of the section centres,
    leaving out centres brighter than the running median of the centres (over twice
    the window) by more than four times their noise, and at least ``outlier_hu``
    (calcium, and its blooming into a narrow lumen). The noise is the robust spread
    of successive differences, which neither tapering nor a long calcified plaque
    inflates; the median is taken twice, the second time without the first's
    outliers, so that plaques up to about a window long do not raise it. ``margin``
    more centres on each side of a bright run go too (its blurred edges)."""
    valid = np.asarray(valid, dtype=bool) & np.isfinite(central_hu)
    if valid.sum() > 2:
        steps = np.diff(central_hu[valid])
        noise = 1.4826 * float(np.median(np.abs(steps - np.median(steps)))) / np.sqrt(2.0)
        limit = max(outlier_hu, 4.0 * noise)
        clean = valid
        for _ in range(2):
            level = _running(central_hu, clean, 2 * window, 50.0)
            bright = valid & (central_hu > level + limit)
            clean = valid & ~ndimage.binary_dilation(bright, iterations=margin)
        valid = clean if clean.any() else valid
    return _running(central_hu, valid, window, percentile)


def vessel_blood_hu(lumen_hu: np.ndarray) -> float:
    """The vessel's blood HU: its highest lumen HU (partial volume lowers the lumen HU
    of its small distal sections, not the blood's); NaN where none was measured.
    Calcium is judged against it, here and in :mod:`.plaque`."""
    return float(np.nanmax(lumen_hu)) if np.isfinite(lumen_hu).any() else float("nan")


def measure_lumen(
    volume: Volume,
    points_lps_mm: np.ndarray,
    radius_mm: np.ndarray,
    options: LumenOptions | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> LumenMeasurements:
    """Lumen cross-sections along one vessel's centreline.

    Args:
        volume: the CT volume.
        points_lps_mm: ``(n, 3)`` centreline points, evenly spaced along the vessel.
        radius_mm: ``(n,)`` approximate radius (from tracing), sizes the sections.
        options: measurement parameters.
        calcium_model: where given, the lumen of every measured section that holds
            calcium is this model's reading (:mod:`.calcium_lumen`), not the contour's:
            its area-equivalent diameter, and min = max = that diameter.
    """
    options = options or LumenOptions()
    points = as_points(points_lps_mm)
    count = len(points)
    if count == 0:
        return LumenMeasurements.unmeasured(0)
    step = float(np.median(np.linalg.norm(np.diff(points, axis=0), axis=1))) if count > 1 else 0.5
    step = max(step, 1e-3)
    nominal = _running(
        np.asarray(radius_mm, dtype=np.float64),
        np.ones(count, dtype=bool),
        round(options.nominal_radius_window_mm / step),
        75.0,
    )
    nominal = np.maximum(nominal, 0.5)
    half_width = float(
        np.clip(
            options.window_radius_factor * np.percentile(nominal, 90) + options.window_margin_mm,
            3.0,
            options.max_window_mm,
        )
    )
    offsets = section_grid(half_width, options.pixel_mm)
    _, normals_u, normals_v = rotation_minimizing_frames(points)
    frames = (normals_u, normals_v)
    grid_v, grid_u = np.meshgrid(offsets, offsets, indexing="ij")
    radial = np.hypot(grid_u, grid_v)

    sections = np.empty((count, len(offsets), len(offsets)), dtype=np.float32)
    for start in range(0, count, options.batch_sections):
        stop = min(start + options.batch_sections, count)
        sections[start:stop] = sample_cross_sections(
            volume, points[start:stop], normals_u[start:stop], normals_v[start:stop], offsets
        )

    stats = _section_statistics(sections, radial, nominal, half_width, options)
    window = round(options.lumen_hu_window_mm / step)
    inside = stats.inside
    lumen_hu = vessel_lumen_hu(
        stats.central_hu,
        inside,
        window,
        options.lumen_hu_percentile,
        options.lumen_hu_outlier_hu,
        margin=round(options.lumen_hu_outlier_margin_mm / step),
    )
    background_hu = np.clip(
        _running(stats.background_hu, np.isfinite(stats.background_hu), window, 50.0),
        *options.background_range_hu,
    )
    blood_hu = vessel_blood_hu(lumen_hu)
    calcium_hu = max(options.calcium_min_hu, blood_hu + options.calcium_above_lumen_hu)
    result = LumenMeasurements.unmeasured(count)
    result.lumen_hu = np.where(inside, lumen_hu, np.nan)
    result.background_hu = np.where(inside, background_hu, np.nan)
    result.ring_hu = np.where(inside, stats.background_hu, np.nan)
    result.valid = inside & (lumen_hu - background_hu >= options.min_contrast_hu)
    pixel_area = options.pixel_mm**2
    seen: dict[int, _CalciumSection] = {}  # what the contour saw where there is calcium
    bridging = calcium_model is not None and options.bridge_calcium  # (only then needed)
    halo = max(1, round(options.calcium_halo_mm / options.pixel_mm))
    middle = len(offsets) // 2
    for i in np.flatnonzero(result.valid):
        limit_mm = 2.0 * nominal[i] + 1.0
        half = min(middle, int(np.ceil(limit_mm / options.pixel_mm)) + 1)
        crop = slice(middle - half, middle + half + 1)
        image, near = sections[i][crop, crop], radial[crop, crop]
        search_mm = max(0.6, 0.6 * nominal[i])
        smoothed = ndimage.gaussian_filter(image, 1.0)
        central = smoothed[(near <= search_mm) & (smoothed <= calcium_hu)]
        peak = min(float(central.max()) if len(central) else -np.inf, lumen_hu[i])
        contrast = (peak - background_hu[i]) / (lumen_hu[i] - background_hu[i])
        # against the blood, not the local lumen HU, which partial volume lowers in a
        # small vessel: a lumen narrower than the blur looked wider against it
        blood_contrast = (peak - background_hu[i]) / (blood_hu - background_hu[i])
        threshold = 0.5 * (peak + background_hu[i])
        beyond_bloom: np.ndarray | None = None
        for attempt in range(options.wall_iterations + 1):
            region, calcium = lumen_region(
                image,
                near,
                threshold_hu=threshold,
                calcium_hu=calcium_hu,
                limit_mm=limit_mm,
                search_mm=search_mm,
                halo_pixels=halo,
                clear_pixels=options.calcium_bloom_mm / options.pixel_mm,
                viewpoint_mm=nominal[i] + options.viewpoint_margin_mm,
            )
            region = _without_leaks(region, smoothed, peak, threshold, options)
            if attempt == 0:  # calcium does not depend on the threshold
                beyond_bloom = _beyond_bloom(calcium, options)
            wall = _wall_hu(image, near, region, beyond_bloom, limit_mm, options)
            if attempt == options.wall_iterations or wall is None:
                break
            raised = 0.5 * (peak + wall)
            if abs(raised - threshold) <= 1.0:
                break
            threshold = raised
        if contrast < options.min_peak_contrast:
            region = np.zeros_like(region)  # no measurable lumen (occluded or sub-resolution)
        area = float(region.sum()) * pixel_area
        if region.any() and blood_contrast < options.partial_volume_contrast:
            summed = _partial_volume_area(
                image, smoothed, region, beyond_bloom, blood_hu, options
            )
            area = min(area, summed)
        result.area_mm2[i] = area
        result.equivalent_diameter_mm[i] = 2.0 * np.sqrt(area / np.pi)
        result.min_diameter_mm[i], result.max_diameter_mm[i] = caliper_diameters_mm(
            region, grid_u[crop, crop], grid_v[crop, crop], options.pixel_mm
        )
        result.calcium_area_mm2[i] = float(calcium.sum()) * pixel_area
        if bridging and calcium.any():
            seen[int(i)] = _CalciumSection(
                lumen_centre_mm=(
                    (float(grid_u[crop, crop][region].mean()),
                     float(grid_v[crop, crop][region].mean())) if region.any() else None
                ),
                calcium_and_bloom=ndimage.binary_dilation(calcium, iterations=3 * halo),
                crop=crop,
            )  # fmt: skip
    result.from_model = np.zeros(count, dtype=bool)
    if calcium_model is not None:
        centres = points
        if bridging:
            calcified = np.zeros(count, dtype=bool)
            calcified[list(seen)] = True
            bridged = bridge_calcified_runs(points, calcified,
                                            max(1, round(options.bridge_margin_mm / step)),
                                            options.bridge_max_winding)  # fmt: skip
            if bridged is not points:
                _, normals_u, normals_v = rotation_minimizing_frames(bridged)
                centres = _nearer_the_lumen(points, bridged, frames, seen, offsets,
                                            options.pixel_mm)  # fmt: skip
        read = _read_under_calcium(volume, centres, normals_u, normals_v, background_hu,
                                   blood_hu, result, calcium_model)  # fmt: skip
        result.from_model[read] = True
    return result


def normalise(sections_hu: np.ndarray, background_hu: np.ndarray, blood_hu: float) -> np.ndarray:
    """``(HU - background) / (blood - background)`` per section (``(n, m, m)``, ``(n,)``):
    the calcium model's input (:mod:`.calcium_lumen`)."""
    background = np.asarray(background_hu, dtype=np.float64)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((sections_hu - background) / (blood_hu - background)).astype(np.float32)


@dataclass(frozen=True)
class _CalciumSection:
    """What the contour saw in a section that holds calcium (section-plane mm, the
    masks cropped to ``crop`` of the section grid)."""

    lumen_centre_mm: tuple[float, float] | None  # (u, v) of its lumen region; None: none
    calcium_and_bloom: np.ndarray
    crop: slice


def bridge_calcified_runs(
    points: np.ndarray, calcified: np.ndarray, margin: int, max_winding: float
) -> np.ndarray:
    """``points`` with each run of ``calcified`` points, ``margin`` points longer at
    both ends, replaced by the cubic Hermite curve between the run's two end points
    (their tangents the centreline's there, over 2 points either side). Runs within
    2 points of either end of the vessel (no tangent beyond them) or whose traced path
    is more than ``max_winding`` times its chord stay as traced. Returns ``points``
    itself where nothing was replaced."""
    count = len(points)
    if not calcified.any():
        return points
    labels, runs = ndimage.label(ndimage.binary_dilation(calcified, iterations=margin))
    out = points
    for run in range(1, runs + 1):
        at = np.flatnonzero(labels == run)
        first, last = int(at[0]), int(at[-1])
        if first < 2 or last > count - 3 or last - first < 2:
            continue
        chord = float(np.linalg.norm(points[last] - points[first]))
        path = float(np.linalg.norm(np.diff(points[first : last + 1], axis=0), axis=1).sum())
        if chord <= 0.0 or path > max_winding * chord:
            continue
        span = last - first
        start_tangent = (points[first + 2] - points[first - 2]) / 4.0 * span
        end_tangent = (points[last + 2] - points[last - 2]) / 4.0 * span
        t = np.linspace(0.0, 1.0, span + 1)
        curve = hermite(points[first], start_tangent, points[last], end_tangent, t)
        if out is points:
            out = points.copy()
        out[first : last + 1] = curve
    return out


def _nearer_the_lumen(
    points: np.ndarray,
    bridged: np.ndarray,
    frames: tuple[np.ndarray, np.ndarray],
    seen: dict[int, _CalciumSection],
    offsets: np.ndarray,
    pixel_mm: float,
) -> np.ndarray:
    """``bridged``, but the traced point wherever the bridged one lies no nearer than
    it to the centre of the lumen the contour saw in that section (in the traced
    section's plane), or, where the contour saw no lumen, outside the calcium and its
    bloom: the curve cut across a vessel that bends between its anchors."""
    normals_u, normals_v = frames
    centres = bridged.copy()
    middle = len(offsets) // 2
    for i, section in seen.items():
        move = bridged[i] - points[i]
        u, v = float(move @ normals_u[i]), float(move @ normals_v[i])
        if u == 0.0 and v == 0.0:
            continue
        if section.lumen_centre_mm is not None:
            cu, cv = section.lumen_centre_mm
            nearer = np.hypot(u - cu, v - cv) < np.hypot(cu, cv)
        else:
            row = middle + round(v / pixel_mm) - section.crop.start
            col = middle + round(u / pixel_mm) - section.crop.start
            mask = section.calcium_and_bloom
            nearer = bool(0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and mask[row, col])
        if not nearer:
            centres[i] = points[i]
    return centres


def _read_under_calcium(
    volume: Volume,
    points: np.ndarray,
    normals_u: np.ndarray,
    normals_v: np.ndarray,
    background_hu: np.ndarray,
    blood_hu: float,
    result: LumenMeasurements,
    model: CalciumLumenModel,
) -> np.ndarray:
    """The model's lumen for the measured sections that hold calcium (in place in
    ``result``); returns the indices of the sections it read."""
    under = np.flatnonzero(result.valid & (np.nan_to_num(result.calcium_area_mm2) > 0))
    if len(under) == 0 or not np.isfinite(blood_hu):
        return under[:0]
    offsets = section_grid(model.half_width_mm, model.pixel_mm)
    sections = sample_cross_sections(
        volume, points[under], normals_u[under], normals_v[under], offsets
    )
    normalised = normalise(sections, background_hu[under], blood_hu)
    whole = np.isfinite(normalised).all(axis=(1, 2))
    under, normalised = under[whole], normalised[whole]
    if len(under) == 0:
        return under
    diameter = model.diameters_mm(normalised)
    result.equivalent_diameter_mm[under] = diameter
    result.min_diameter_mm[under] = diameter
    result.max_diameter_mm[under] = diameter
    result.area_mm2[under] = np.pi * diameter**2 / 4.0
    return under


def _without_leaks(
    region: np.ndarray, smoothed: np.ndarray, peak: float, threshold: float, options: LumenOptions
) -> np.ndarray:
    """``region`` less what lies farther than ``leak_reach_mm`` from its core (the
    pixels of ``smoothed`` half-way from ``threshold`` to the ``peak``). A lumen's edge
    lies within the blur of its core; a lumen touching tissue brighter than its
    threshold (myocardium beside a small vessel) runs into it, and the section read
    as wide as both."""
    if not region.any():
        return region
    core = region & (smoothed >= 0.5 * (threshold + peak))
    if not core.any():
        return region
    reach = options.leak_reach_mm / options.pixel_mm
    return region & (ndimage.distance_transform_edt(~core) <= reach)


def _beyond_bloom(calcium: np.ndarray, options: LumenOptions) -> np.ndarray | None:
    """Pixels farther than ``calcium_bloom_mm`` from calcium; None without calcium."""
    if not calcium.any():
        return None
    return np.asarray(
        ndimage.distance_transform_edt(~calcium) > options.calcium_bloom_mm / options.pixel_mm
    )


def _partial_volume_area(
    image: np.ndarray,
    smoothed: np.ndarray,
    region: np.ndarray,
    beyond_bloom: np.ndarray | None,
    lumen_hu: float,
    options: LumenOptions,
) -> float:
    """Lumen area from the HU it adds to the wall around it (blur spreads a small
    lumen's contrast, but does not change its sum): the excess over the wall HU (the
    median of a thin ring around) within ``partial_volume_reach_mm`` of the lumen's
    brightest point (in ``smoothed``), or its half-maximum radius if larger, over the
    lumen's excess over the wall; calcium's blooming (outside ``beyond_bloom``) takes
    no part. A lumen narrower than the blur loses its peak, and half-maximum contours
    then take in the plaque around it; the sum does not."""
    flat = int(np.argmax(np.where(region, smoothed, -np.inf)))
    rows, cols = np.indices(image.shape)
    distance = np.hypot(rows - flat // image.shape[1], cols - flat % image.shape[1])
    distance = distance * options.pixel_mm
    half_maximum_radius = np.sqrt(region.sum() / np.pi) * options.pixel_mm
    reach = max(options.partial_volume_reach_mm, half_maximum_radius)
    width = options.wall_ring_mm[1] - options.wall_ring_mm[0]
    disc = distance <= reach
    ring = (distance > reach) & (distance <= reach + width)
    if beyond_bloom is not None:
        disc &= beyond_bloom
        ring &= beyond_bloom
    if ring.sum() < 8 or not disc.any():
        return float("inf")
    wall = float(np.median(image[ring]))
    if lumen_hu - wall < options.min_contrast_hu:
        return float("inf")
    excess = float(np.sum(image[disc] - wall)) * options.pixel_mm**2
    return max(0.0, excess / (lumen_hu - wall))


def _wall_hu(
    image: np.ndarray,
    radial_mm: np.ndarray,
    region: np.ndarray,
    beyond_bloom: np.ndarray | None,
    limit_mm: float,
    options: LumenOptions,
) -> float | None:
    """Median HU just outside the lumen (``wall_ring_mm`` beyond its edge), leaving
    out calcium and its blooming (outside ``beyond_bloom``): plaque where a plaque
    narrows the lumen, fat where the wall is healthy. None when the lumen is empty or
    the ring too small."""
    if not region.any():
        return None
    outside = ndimage.distance_transform_edt(~region) * options.pixel_mm
    inner, outer = options.wall_ring_mm
    ring = (outside > inner) & (outside <= outer) & (radial_mm <= limit_mm)
    if beyond_bloom is not None:
        ring &= beyond_bloom
    if ring.sum() < 8:
        return None
    return float(np.median(image[ring]))


@dataclass
class _SectionStatistics:
    inside: np.ndarray  # the section's measuring disc lies within the volume
    central_hu: np.ndarray  # typical HU at the centre (for the vessel's lumen HU)
    background_hu: np.ndarray  # median HU of the ring around the vessel


def _section_statistics(
    sections: np.ndarray,
    radial: np.ndarray,
    nominal: np.ndarray,
    half_width: float,
    options: LumenOptions,
) -> _SectionStatistics:
    count = len(sections)
    stats = _SectionStatistics(
        np.zeros(count, dtype=bool), np.full(count, np.nan), np.full(count, np.nan)
    )
    for i in range(count):
        image = sections[i]
        if np.isnan(image[radial <= 2.0 * nominal[i] + 1.0]).any():
            continue
        stats.inside[i] = True
        stats.central_hu[i] = np.percentile(image[radial <= max(0.4, 0.5 * nominal[i])], 75)
        ring = image[(radial >= nominal[i] + 1.0) & (radial <= half_width)]
        ring = ring[np.isfinite(ring)]
        if len(ring):
            stats.background_hu[i] = np.median(ring)
    return stats


def lumen_region(
    image: np.ndarray,
    radial_mm: np.ndarray,
    threshold_hu: float,
    calcium_hu: float,
    limit_mm: float,
    search_mm: float,
    halo_pixels: int,
    clear_pixels: float = 0.0,
    viewpoint_mm: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The lumen (and the calcium within ``limit_mm``) of one section, as bool images.

    The lumen is the connected bright region that contains the viewpoint: the centre,
    or, where the centre lies in calcium (a centreline drawn through a calcified
    plaque), the brightest bright pixel farther than ``clear_pixels`` from calcium
    (beyond its blooming) within ``viewpoint_mm`` of the centre; with no such pixel,
    blooming is all there is and the lumen is empty (too narrow to see beside the
    calcium). Without calcium, failing the centre, it is the region with most pixels
    within ``search_mm`` of it; empty when none reaches there.
    """
    near = radial_mm <= limit_mm
    calcium = (image > calcium_hu) & near
    bright = (image >= threshold_hu) & near & ~calcium
    middle = (image.shape[0] // 2, image.shape[1] // 2)
    viewpoint = middle
    blocked = calcium
    if calcium.any():
        if not bright[middle]:
            clear = bright & (ndimage.distance_transform_edt(~calcium) > clear_pixels)
            reach = limit_mm if viewpoint_mm is None else viewpoint_mm
            seeds = clear & (radial_mm <= reach)
            if not seeds.any():
                return np.zeros_like(calcium), calcium
            smoothed = ndimage.gaussian_filter(image, 1.0)
            flat = int(np.argmax(np.where(seeds, smoothed, -np.inf)))
            viewpoint = (flat // image.shape[1], flat % image.shape[1])
        halo = ndimage.binary_dilation(calcium, iterations=halo_pixels)
        bloom = ndimage.binary_dilation(calcium, iterations=3 * halo_pixels)
        blocked = halo | (bloom & _shadow(calcium, viewpoint))
    candidate = bright & ~blocked
    labels, found = ndimage.label(candidate)
    if found == 0:
        return candidate, calcium
    centre = labels[viewpoint]
    if centre == 0 and viewpoint == middle:
        counts = np.bincount(labels[radial_mm <= search_mm], minlength=found + 1)
        counts[0] = 0
        centre = int(np.argmax(counts)) if counts.max() > 0 else 0
    if centre == 0:
        return np.zeros_like(candidate), calcium
    region = _fill_holes(labels == centre) & ~blocked
    return region, calcium


def _fill_holes(region: np.ndarray) -> np.ndarray:
    """``region`` with its enclosed background filled (one labelling, no iterations)."""
    labels, _ = ndimage.label(~region)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return ~np.isin(labels, border[border > 0])


def _shadow(calcium: np.ndarray, viewpoint: tuple[int, int], bins: int = 90) -> np.ndarray:
    """Pixels behind calcium as seen from ``viewpoint`` (a lumen pixel): the vessel
    wall, not lumen.

    Calcium blurred into the surrounding fat has lumen-like HU; it lies beyond the
    calcium, so rays from the lumen stop at the first calcium pixel.
    """
    rows, cols = np.indices(calcium.shape)
    distance = np.hypot(rows - viewpoint[0], cols - viewpoint[1])
    angle = np.arctan2(rows - viewpoint[0], cols - viewpoint[1])
    sector = ((angle + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    nearest = np.full(bins, np.inf)
    np.minimum.at(nearest, sector[calcium], distance[calcium])
    return distance > nearest[sector]


def caliper_diameters_mm(
    region: np.ndarray, grid_u: np.ndarray, grid_v: np.ndarray, pixel_mm: float
) -> tuple[float, float]:
    """Smallest and largest caliper (Feret) width of a region over 18 directions."""
    if not region.any():
        return 0.0, 0.0
    u, v = grid_u[region], grid_v[region]
    projections = np.outer(np.cos(_CALIPER_ANGLES), u) + np.outer(np.sin(_CALIPER_ANGLES), v)
    widths = projections.max(axis=1) - projections.min(axis=1) + pixel_mm
    return float(widths.min()), float(widths.max())
