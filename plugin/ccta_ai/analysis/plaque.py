"""Plaque: composition, volumes, remodelling and high-risk features along each vessel.

Every measured centreline point gets a cross-section orthogonal to the vessel (the
rotation-minimising frames of :mod:`.lumen`), sampled along ``ray_count`` rays from the
centre every ``ray_step_mm``. Along each ray:

* the *lumen* ends where the HU falls below half-way between the vessel's lumen HU and
  fat, or rises above the calcium threshold;
* the *vessel* (outer wall) ends at the first fat beyond it (below ``fat_max_hu`` after
  ~1 mm of smoothing), within ``outer_factor r_ref + outer_margin_mm`` of the centre,
  ``r_ref`` being the reference lumen radius. A ray that meets another bright structure
  or no fat at all there touches a neighbour (myocardium, a chamber, a vessel): its wall
  is cut to the vessel's typical wall thickness;
* in the wall, *calcium* is brighter than
  ``max(calcium_min_hu, blood HU + max(calcium_sd_factor x lumen noise SD,
  calcium_min_above_lumen_hu))`` — adaptive, so a bright lumen (contrast varies
  250-550 HU between studies) is not taken for calcium — grown over its blurred edge.
  The blood HU is the vessel's highest lumen HU (:func:`.lumen.vessel_lumen_hu`,
  which leaves out centres in calcium and ``lumen_hu_outlier_margin_mm`` around
  them): the same rule as :mod:`.lumen`'s, so that a calcified plaque does not raise
  its own threshold;
  the rest is *non-calcified* tissue, except within ``calcium_bloom_mm`` of calcium
  along the ray (calcium's blooming: its brightness spread over its surroundings
  reads as soft tissue; on 40 phantom studies it made 8 of 27 calcified lesions
  "mixed"), of which *low-attenuation* is below
  ``low_attenuation_max_hu`` (at least ``low_attenuation_inset_mm`` inside the wall,
  where the blurred boundary with fat cannot fake it).

A healthy wall is thin and, at CT resolution, a blurred rim whose area grows with the
lumen's perimeter; the vessel's typical rim (median over its sections, per mm of
perimeter) is subtracted, so what is left is plaque. Sections with a wall thicker than
that by ``min_excess_mm``, or with calcium, form plaque runs. Where a side branch
leaves (within its radius + ``branch_margin_mm``), the branch widens the section: its
soft wall and outer vessel are not measured there; its calcium is, and so is the soft
tissue inside the reference lumen (a lesion at a bifurcation, as at the end of the left
main, may lie wholly within that reach).
A run overlapping (or within ``merge_gap_mm + 1`` of) a lesion of :mod:`.stenosis`,
which reports narrowings >= 25 %, gives that lesion its plaque; a run near none is a
lesion of its own with its measured (< 25 %) narrowing: minimal plaque (CAD-RADS 1).

Per lesion: volumes (calcified, non-calcified, low-attenuation; mm3) summed over its
sections times the point spacing; composition as CCTA reading usually classes it:
*calcified* where calcium is at least ``calcified_min_fraction`` of the volume, *mixed*
where there is less but at least ``mixed_min_calcium_mm3`` of it, *non-calcified*
where there is none (a little calcium in a soft plaque makes it mixed); remodelling
index as CAD-RADS 2.0 uses it, a diameter ratio: outer vessel diameter at the site /
reference outer diameter (area-equivalent; the reference vessel area is the healthy
sections' vessel-to-lumen area ratio times the reference lumen area); spotty
calcification (calcium shorter than ``spotty_max_mm`` along the vessel and narrower than
it across, in a mostly non-calcified plaque). High-risk features: positive remodelling
(index >= 1.1), low-attenuation plaque, spotty calcification. The napkin-ring sign is
not assessed. :func:`confirm_lesions` drops narrowings without plaque.

Known bias (tube phantoms, 0.4 mm voxels): thin soft plaque volume is underestimated by
about 30-45 % (the blurred lumen edge and the rim subtraction), and soft plaque that
touches calcium by up to its bloom margin; calcium is overestimated by blooming (up to
about +40 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ccta_ai.analysis.findings import Lesion, Vessel
from ccta_ai.analysis.geometry import rotation_minimizing_frames
from ccta_ai.analysis.lumen import vessel_blood_hu, vessel_lumen_hu
from ccta_ai.imaging.volume import Volume

CALCIFIED = 1  # plaque_labels codes
NON_CALCIFIED = 2

POSITIVE_REMODELLING = "positive remodelling"
LOW_ATTENUATION = "low-attenuation plaque"
SPOTTY_CALCIFICATION = "spotty calcification"


@dataclass(frozen=True)
class PlaqueOptions:
    """Plaque analysis parameters (HU thresholds, sizes in mm)."""

    ray_count: int = 32
    ray_step_mm: float = 0.1
    calcium_reach_samples: int = 10
    calcium_bloom_mm: float = 0.7
    fat_hu: float = -100.0
    outer_margin_mm: float = 1.0
    outer_factor: float = 2.5
    outer_smoothing_mm: float = 0.3
    fat_max_hu: float = -50.0
    low_attenuation_max_hu: float = 30.0
    low_attenuation_inset_mm: float = 0.7
    calcium_min_hu: float = 400.0
    calcium_sd_factor: float = 3.0
    calcium_min_above_lumen_hu: float = 150.0
    min_calcium_mm2: float = 0.12
    min_excess_mm: float = 0.3
    smoothing_points: int = 5
    merge_gap_mm: float = 2.0
    min_run_mm: float = 1.5
    min_minimal_plaque_mm3: float = 5.0
    min_minimal_length_mm: float = 2.0
    # Minimal plaque without calcium must narrow the lumen this much: non-calcified
    # "plaque" read beside an unnarrowed lumen was, in 40 phantom studies, the tissue a
    # proximal vessel runs against (aortic root, atrial wall): 16 of 18 read 0-3 %.
    min_minimal_narrowing_pct: float = 5.0
    distal_margin_mm: float = 3.0
    calcified_min_fraction: float = 0.5
    mixed_min_calcium_mm3: float = 0.5
    positive_remodelling_index: float = 1.1
    low_attenuation_min_mm3: float = 3.0
    spotty_max_mm: float = 3.0
    branch_margin_mm: float = 1.5
    report_threshold_pct: float = 25.0
    min_lesion_plaque_mm3: float = 3.0
    min_lesion_remodelling: float = 0.7
    calcified_lesion_min_mm3: float = 1.0
    lumen_hu_window_mm: float = 20.0
    lumen_hu_percentile: float = 75.0
    lumen_hu_outlier_hu: float = 50.0
    lumen_hu_outlier_margin_mm: float = 2.0
    batch_sections: int = 256


@dataclass
class VesselSections:
    """Per centreline point of one vessel (NaN where not measured)."""

    s_mm: np.ndarray
    lumen_mm2: np.ndarray
    vessel_mm2: np.ndarray
    calcium_mm2: np.ndarray
    non_calcified_mm2: np.ndarray  # after subtracting the healthy rim
    low_attenuation_mm2: np.ndarray  # after subtracting the healthy rim
    calcium_width_mm: np.ndarray
    reference_vessel_mm2: np.ndarray
    plaque: np.ndarray  # bool: the section holds plaque
    lumen_hu: np.ndarray
    calcium_hu: np.ndarray
    outer_radius_mm: np.ndarray


@dataclass
class PlaqueResult:
    """Lesions with their plaque (input lesions first, then minimal-plaque ones)."""

    lesions: list[Lesion]
    sections: dict[int, VesselSections] = field(default_factory=dict)
    lumen_noise_sd_hu: float = 0.0


def lumen_noise_sd(volume: Volume, lumen_mask: np.ndarray | None) -> float:
    """Robust SD of the HU inside the (eroded) lumen mask; 30 HU when there is none."""
    if lumen_mask is None or not np.any(lumen_mask):
        return 30.0
    core = ndimage.binary_erosion(lumen_mask)
    values = volume.hu[core if core.sum() >= 50 else lumen_mask]
    median = float(np.median(values))
    return float(max(1.4826 * np.median(np.abs(values - median)), 5.0))


def measure_sections(
    volume: Volume,
    vessel: Vessel,
    by_id: dict[int, Vessel],
    noise_sd_hu: float,
    options: PlaqueOptions,
) -> VesselSections | None:
    """Cross-section plaque areas along one vessel (None without a usable profile)."""
    profile = vessel.profile
    points = np.asarray(vessel.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3)
    if profile is None or len(points) < 3:
        return None
    s_mm = np.asarray(profile.s_mm, dtype=np.float64)
    reference = floats(profile.reference_diameter_mm) / 2.0
    usable = np.isfinite(reference) & np.isfinite(floats(profile.area_mm2)) & (reference > 0.2)
    usable &= np.asarray(vessel.centerline.segmented())  # followed past it: not analysed
    if vessel.parent_id is not None and vessel.parent_id in by_id:
        parent = by_id[vessel.parent_id].centerline.radius_mm
        point = vessel.parent_point or 0
        usable &= s_mm > (parent[point] if point < len(parent) else 0.0) + 0.5
    near_branch = _near_branches(vessel, by_id, s_mm, options.branch_margin_mm)
    if (usable & ~near_branch).sum() < 3:
        return None
    step_mm = float(np.median(np.diff(s_mm)))
    r_ref = np.where(usable, reference, np.nan)
    outer = options.outer_factor * r_ref + options.outer_margin_mm
    radii = np.arange(0.0, float(np.nanmax(outer)) + 3.0 * options.ray_step_mm, options.ray_step_mm)
    rays = sample_rays(volume, points[usable], radii, options)
    inside = np.isfinite(rays).all(axis=(1, 2))
    rays = np.nan_to_num(rays, nan=options.fat_max_hu - 100.0)
    index = np.flatnonzero(usable)
    near_centre = radii <= 0.5 * r_ref[index, None]
    central = np.full(len(points), np.nan)
    central[index] = [
        np.percentile(ray[:, keep], 75) for ray, keep in zip(rays, near_centre, strict=True)
    ]
    central[index[~inside]] = np.nan
    measured = np.isfinite(central)
    if measured.sum() < 3:
        return None
    lumen_hu = vessel_lumen_hu(
        central,
        measured,
        round(options.lumen_hu_window_mm / step_mm),
        options.lumen_hu_percentile,
        options.lumen_hu_outlier_hu,
        margin=round(options.lumen_hu_outlier_margin_mm / step_mm),
    )
    blood_hu = vessel_blood_hu(lumen_hu[measured])
    calcium_hu = np.full(
        len(points),
        max(
            options.calcium_min_hu,
            blood_hu
            + max(options.calcium_sd_factor * noise_sd_hu, options.calcium_min_above_lumen_hu),
        ),
    )
    walls = classify_rays(
        rays, radii, lumen_hu[index], calcium_hu[index], outer[index], r_ref[index], options
    )
    count = len(points)
    areas = {key: np.full(count, np.nan) for key in walls}
    for key, values in walls.items():
        areas[key][index] = np.where(inside, values, np.nan)
    # where a side branch leaves, only calcium and the plaque inside the reference
    # lumen are measured (see the module docstring)
    for key in ("vessel", "soft", "low"):
        areas[key][near_branch] = np.nan
    perimeter = np.pi * 2.0 * r_ref
    valid = np.isfinite(areas["soft"])
    at_branch = near_branch & np.isfinite(areas["calcium"])
    rim_nc = _healthy_median(areas["soft"] / perimeter, valid, areas["calcium"])
    rim_la = _healthy_median(areas["low"] / perimeter, valid, areas["calcium"])
    # non-calcified plaque: soft tissue beyond the healthy wall rim, or (whichever is
    # more) soft tissue inside the reference lumen beyond what healthy sections show
    # there (the partial-volume edge); at a branch, only the latter
    rim_in = _healthy_median(areas["intruding"] / perimeter, valid, areas["calcium"])
    excess_in = np.clip(areas["intruding"] - rim_in * perimeter, 0.0, None)
    excess_nc = np.where(
        at_branch,
        excess_in,
        np.maximum(np.clip(areas["soft"] - rim_nc * perimeter, 0.0, None), excess_in),
    )
    excess_la = np.clip(areas["low"] - rim_la * perimeter, 0.0, None)
    assessed = valid | at_branch
    thick = _median_along(excess_nc / perimeter, assessed, options.smoothing_points)
    has_calcium = np.nan_to_num(areas["calcium"]) >= options.min_calcium_mm2
    plaque = assessed & ((thick >= options.min_excess_mm) | has_calcium)
    ratio = areas["vessel"] / (np.pi * r_ref**2)
    healthy = valid & ~plaque
    typical = float(np.median(ratio[healthy])) if healthy.any() else float(np.nanmedian(ratio))
    return VesselSections(
        s_mm=s_mm,
        lumen_mm2=areas["lumen"],
        vessel_mm2=areas["vessel"],
        calcium_mm2=np.where(has_calcium, areas["calcium"], 0.0),
        non_calcified_mm2=np.where(assessed, excess_nc, np.nan),
        low_attenuation_mm2=np.where(valid, np.minimum(excess_la, excess_nc), np.nan),
        calcium_width_mm=areas["calcium_width"],
        reference_vessel_mm2=typical * np.pi * r_ref**2,
        plaque=plaque,
        lumen_hu=lumen_hu,
        calcium_hu=calcium_hu,
        outer_radius_mm=outer,
    )


def sample_rays(
    volume: Volume, points: np.ndarray, radii_mm: np.ndarray, options: PlaqueOptions
) -> np.ndarray:
    """HU along ``ray_count`` rays from each point in its cross-section plane.

    Returns ``(n, ray_count, len(radii_mm))`` float32, NaN outside the volume.
    """
    _, normals_u, normals_v = rotation_minimizing_frames(points)
    angles = np.linspace(0.0, 2.0 * np.pi, options.ray_count, endpoint=False)
    direction = (
        np.cos(angles)[None, :, None] * normals_u[:, None, :]
        + np.sin(angles)[None, :, None] * normals_v[:, None, :]
    )  # (n, a, 3)
    result = np.empty((len(points), options.ray_count, len(radii_mm)), dtype=np.float32)
    for start in range(0, len(points), options.batch_sections):
        stop = min(start + options.batch_sections, len(points))
        lps = (
            points[start:stop, None, None, :]
            + direction[start:stop, :, None, :] * radii_mm[None, None, :, None]
        )
        index = volume.lps_to_index(lps.reshape(-1, 3))
        values = ndimage.map_coordinates(volume.hu, index.T, order=1, mode="constant", cval=np.nan)
        result[start:stop] = values.reshape(stop - start, options.ray_count, len(radii_mm))
    return result


def _first(condition: np.ndarray, default: int) -> np.ndarray:
    """Index of the first True along the last axis (``default`` where none)."""
    found = condition.any(axis=-1)
    return np.where(found, condition.argmax(axis=-1), default)


def classify_rays(
    rays: np.ndarray,
    radii_mm: np.ndarray,
    lumen_hu: np.ndarray,
    calcium_hu: np.ndarray,
    outer_mm: np.ndarray,
    r_ref_mm: np.ndarray,
    options: PlaqueOptions,
) -> dict[str, np.ndarray]:
    """Per section: lumen, vessel, calcium, soft and low-attenuation areas (mm2) and the
    calcium's width (mm), from ``(n, rays, radii)`` HU.

    Along each ray the lumen ends where the HU falls below half-way between the lumen
    and fat (or rises above the calcium threshold); the vessel ends at the first fat
    sample beyond it. A ray that meets no fat within ``outer_mm`` but another bright
    structure, or soft tissue all the way, touches a neighbour (myocardium, a chamber,
    another vessel): its wall is cut to the vessel's typical healthy thickness.
    """
    samples = rays.shape[-1]
    j = np.arange(samples)[None, None, :]
    smooth = ndimage.uniform_filter1d(rays, 3, axis=-1)
    # the outer wall: fat over ~1 mm of the ray and neighbouring rays (noise in a
    # low-attenuation core must not end the vessel early)
    sigma = options.outer_smoothing_mm / options.ray_step_mm
    modes = ("nearest", "wrap", "nearest")
    outer_hu = ndimage.gaussian_filter(rays, (0.0, 1.0, sigma), mode=modes)
    soft_hu = ndimage.gaussian_filter(rays, (0.0, 0.7, 0.5 * sigma), mode=modes)
    threshold = 0.5 * (lumen_hu + options.fat_hu)[:, None, None]
    calcium_level = calcium_hu[:, None, None]
    stop = (smooth < threshold) | (rays > calcium_level)
    lumen_end = _first(stop, samples - 1)  # (n, a)
    beyond = j >= lumen_end[..., None]
    limit = np.searchsorted(radii_mm, outer_mm)[:, None]  # (n, 1)
    fat = beyond & (outer_hu < options.fat_max_hu)
    fat_end = _first(fat, samples)
    core = beyond & (rays > calcium_level)
    near_calcium = ndimage.maximum_filter1d(core, 2 * options.calcium_reach_samples + 1, axis=-1)
    other_lumen = beyond & (smooth >= threshold) & ~near_calcium
    other_end = _first(other_lumen, samples)
    contact = (fat_end > limit) | (other_end < fat_end)
    free = ~contact
    thickness = radii_mm[np.minimum(fat_end, samples - 1)] - radii_mm[lumen_end]
    typical = float(np.median(thickness[free])) if free.any() else options.outer_margin_mm
    cut = np.searchsorted(radii_mm, radii_mm[lumen_end] + typical)
    vessel_end = np.where(
        contact, np.minimum(np.minimum(cut, limit), other_end), np.minimum(fat_end, limit)
    )
    vessel_end = np.maximum(vessel_end, lumen_end)
    wall = beyond & (j < vessel_end[..., None])
    grow = wall & (rays > np.maximum(0.5 * (calcium_level + 40.0), 0.5 * lumen_hu[:, None, None]))
    calcium = wall & (rays > calcium_level)
    for _ in range(3):  # grow over the blurred edge, along the ray
        calcium |= grow & (np.roll(calcium, 1, axis=-1) | np.roll(calcium, -1, axis=-1))
    # calcium's blooming: the samples just beside it on the ray are its spread-out
    # brightness (an intermediate HU, as soft plaque has), not soft plaque
    tail = round(options.calcium_bloom_mm / options.ray_step_mm)
    bloom = ndimage.maximum_filter1d(calcium, 2 * tail + 1, axis=-1) if tail > 0 else calcium
    soft = wall & ~bloom
    inset = np.round(options.low_attenuation_inset_mm / options.ray_step_mm)
    low = (
        soft
        & (soft_hu < options.low_attenuation_max_hu)
        & (j >= lumen_end[..., None] + inset)
        & (j < vessel_end[..., None] - inset)
    )
    # area of a sample: r dr dtheta (ring of one step at radius r)
    dtheta = 2.0 * np.pi / rays.shape[1]
    weight = (np.maximum(radii_mm, 0.25 * options.ray_step_mm) * options.ray_step_mm * dtheta)[
        None, None, :
    ]
    lumen_r, vessel_r = radii_mm[lumen_end], radii_mm[np.minimum(vessel_end, samples - 1)]
    with_calcium = calcium.any(axis=-1)  # (n, a)
    span = calcium.sum(axis=-1) * options.ray_step_mm  # radial extent per ray
    samples_ca = np.maximum(calcium.sum(axis=(1, 2)), 1)
    mean_r = (calcium * radii_mm[None, None, :]).sum(axis=(1, 2)) / samples_ca
    width = np.maximum(span.max(axis=1), with_calcium.sum(axis=1) * dtheta * mean_r)
    return {
        "lumen": 0.5 * dtheta * (lumen_r**2).sum(axis=1),
        "vessel": 0.5 * dtheta * (vessel_r**2).sum(axis=1),
        "calcium": (calcium * weight).sum(axis=(1, 2)),
        "soft": (soft * weight).sum(axis=(1, 2)),
        # soft tissue where the disease-free lumen would be (inside the reference
        # radius): plaque that narrows the lumen without widening the vessel
        "intruding": (soft * (j < np.searchsorted(radii_mm, r_ref_mm)[:, None, None])
                      * weight).sum(axis=(1, 2)),
        "low": (low * weight).sum(axis=(1, 2)),
        "calcium_width": np.where(with_calcium.any(axis=1), width, 0.0),
    }


def _near_branches(
    vessel: Vessel, by_id: dict[int, Vessel], s_mm: np.ndarray, margin_mm: float
) -> np.ndarray:
    """Points where a side branch leaves the vessel (its lumen widens the section)."""
    near = np.zeros(len(s_mm), dtype=bool)
    for child in by_id.values():
        if child.parent_id != vessel.vessel_id or child.parent_point is None:
            continue
        if child.parent_point >= len(s_mm) or not child.centerline.radius_mm:
            continue
        reach = float(max(child.centerline.radius_mm[:4] or [1.0])) + margin_mm
        near |= np.abs(s_mm - s_mm[child.parent_point]) <= reach
    return near


def floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _healthy_median(values: np.ndarray, valid: np.ndarray, calcium: np.ndarray) -> float:
    """Median over valid sections without calcium (the lower half if most are thick)."""
    usable = valid & ~(np.nan_to_num(calcium) > 0)
    if not usable.any():
        usable = valid
    return float(np.median(values[usable])) if usable.any() else 0.0


def _median_along(values: np.ndarray, valid: np.ndarray, size: int) -> np.ndarray:
    filled = np.where(valid, values, 0.0)
    return np.where(valid, ndimage.median_filter(filled, size=max(1, size), mode="nearest"), 0.0)
