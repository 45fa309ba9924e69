"""Plaque per lesion: runs of plaque along each vessel matched to the stenoses, minimal
plaque (< 25 %), volumes and high-risk features, the segment involvement score, and
the plaque label volume for the DICOM SEG. Cross-section measurement is
:mod:`.plaque`'s (see its docstring for the method).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ccta_ai.analysis.findings import Lesion, Plaque, Vessel
from ccta_ai.analysis.plaque import (
    CALCIFIED,
    LOW_ATTENUATION,
    NON_CALCIFIED,
    POSITIVE_REMODELLING,
    SPOTTY_CALCIFICATION,
    PlaqueOptions,
    PlaqueResult,
    VesselSections,
    floats,
    lumen_noise_sd,
    measure_sections,
)
from ccta_ai.imaging.volume import Volume


def analyse_plaque(
    volume: Volume,
    vessels: list[Vessel],
    lesions: list[Lesion],
    lumen_mask: np.ndarray | None = None,
    options: PlaqueOptions | None = None,
) -> PlaqueResult:
    """Give every lesion its :class:`Plaque`; add lesions for minimal plaque."""
    options = options or PlaqueOptions()
    noise_sd = lumen_noise_sd(volume, lumen_mask)
    result = PlaqueResult(lesions=list(lesions), lumen_noise_sd_hu=noise_sd)
    by_id = {v.vessel_id: v for v in vessels}
    for vessel in vessels:
        sections = measure_sections(volume, vessel, by_id, noise_sd, options)
        if sections is None:
            continue
        result.sections[vessel.vessel_id] = sections
        own = [lesion for lesion in lesions if lesion.vessel_id == vessel.vessel_id]
        runs = plaque_runs(sections, options)
        ranges = _assign(own, runs, sections.s_mm, options.merge_gap_mm + 1.0)
        for lesion, (first, last) in zip(own, ranges, strict=True):
            index = int(np.argmin(np.abs(sections.s_mm - lesion.mld_s_mm)))
            lesion.plaque = describe_plaque(sections, first, last, index, options)
        result.lesions.extend(_minimal_lesions(vessel, sections, runs, own, options))
    return result


def plaque_runs(sections: VesselSections, options: PlaqueOptions) -> list[tuple[int, int]]:
    """Inclusive index ranges of sections holding plaque, merged and long enough."""
    flags = sections.plaque.astype(int)
    padded = np.concatenate([[0], flags, [0]])
    changes = np.flatnonzero(np.diff(padded))
    runs: list[tuple[int, int]] = []
    s_mm = sections.s_mm
    for a, b in zip(changes[::2], changes[1::2] - 1, strict=True):
        if runs and s_mm[a] - s_mm[runs[-1][1]] <= options.merge_gap_mm:
            runs[-1] = (runs[-1][0], int(b))
        else:
            runs.append((int(a), int(b)))
    step = float(np.median(np.diff(s_mm))) if len(s_mm) > 1 else 0.5
    return [(a, b) for a, b in runs if s_mm[b] - s_mm[a] + step >= options.min_run_mm]


def _touches(run: tuple[int, int], lesion: Lesion, s_mm: np.ndarray, gap_mm: float) -> bool:
    """The plaque run overlaps the lesion's span or lies within ``gap_mm`` of it."""
    a, b = run
    return bool(s_mm[a] <= lesion.end_s_mm + gap_mm and s_mm[b] >= lesion.start_s_mm - gap_mm)


def _assign(
    lesions: list[Lesion], runs: list[tuple[int, int]], s_mm: np.ndarray, gap_mm: float
) -> list[tuple[int, int]]:
    """Section range of each lesion: its span widened to the plaque runs it overlaps;
    a run shared by two lesions is split half-way between their sites."""
    ranges = []
    for lesion in lesions:
        first = int(np.searchsorted(s_mm, lesion.start_s_mm - 1e-6))
        last = int(np.searchsorted(s_mm, lesion.end_s_mm + 1e-6)) - 1
        for a, b in runs:
            if _touches((a, b), lesion, s_mm, gap_mm):
                first, last = min(first, a), max(last, b)
        for other in lesions:
            if other is lesion:
                continue
            middle = 0.5 * (other.mld_s_mm + lesion.mld_s_mm)
            if other.mld_s_mm > lesion.mld_s_mm:
                last = min(last, int(np.searchsorted(s_mm, middle)) - 1)
            elif other.mld_s_mm < lesion.mld_s_mm:
                first = max(first, int(np.searchsorted(s_mm, middle)))
        first = int(np.clip(first, 0, len(s_mm) - 1))
        ranges.append((first, int(np.clip(max(last, first), 0, len(s_mm) - 1))))
    return ranges


def describe_plaque(
    sections: VesselSections, first: int, last: int, site: int, options: PlaqueOptions
) -> Plaque:
    """Volumes, composition and high-risk features of sections ``first..last``."""
    inside = slice(first, last + 1)
    step = float(np.median(np.diff(sections.s_mm))) if len(sections.s_mm) > 1 else 0.5
    calcified = float(np.nansum(sections.calcium_mm2[inside]) * step)
    non_calcified = float(np.nansum(sections.non_calcified_mm2[inside]) * step)
    low = float(np.nansum(sections.low_attenuation_mm2[inside]) * step)
    total = calcified + non_calcified
    fraction = calcified / total if total > 0 else 0.0
    if fraction >= options.calcified_min_fraction:
        composition = "calcified"
    elif calcified >= options.mixed_min_calcium_mm3:
        composition = "mixed"
    else:
        composition = "non-calcified"
    around = slice(max(first, site - 1), min(last, site + 1) + 1)
    vessel_mm2 = sections.vessel_mm2[around]
    pairs = np.isfinite(vessel_mm2) & np.isfinite(sections.reference_vessel_mm2[around])
    index = None
    if pairs.any():
        vessel = float(vessel_mm2[pairs].mean())
        reference = float(sections.reference_vessel_mm2[around][pairs].mean())
        # a diameter ratio (outer vessel diameter at the site / reference), as in CAD-RADS 2.0
        index = float(np.sqrt(vessel / reference)) if reference > 0 else None
    with_calcium = np.nan_to_num(sections.calcium_mm2[inside]) > 0
    calcium_length = float(with_calcium.sum() * step)
    calcium_width = float(np.nanmax(np.where(with_calcium, sections.calcium_width_mm[inside], 0.0)))
    spotty = (
        calcified > 0
        and fraction < 0.5
        and calcium_length < options.spotty_max_mm
        and calcium_width < options.spotty_max_mm
    )
    features = []
    if index is not None and index >= options.positive_remodelling_index:
        features.append(POSITIVE_REMODELLING)
    if low >= options.low_attenuation_min_mm3:
        features.append(LOW_ATTENUATION)
    if spotty:
        features.append(SPOTTY_CALCIFICATION)
    return Plaque(
        composition=composition,
        volume_mm3=round(total, 2),
        calcified_volume_mm3=round(calcified, 2),
        non_calcified_volume_mm3=round(non_calcified, 2),
        low_attenuation_volume_mm3=round(low, 2),
        high_risk_features=features,
        remodelling_index=None if index is None else round(index, 3),
        spotty_calcification=bool(spotty),
    )


def _minimal_lesions(
    vessel: Vessel,
    sections: VesselSections,
    runs: list[tuple[int, int]],
    lesions: list[Lesion],
    options: PlaqueOptions,
) -> list[Lesion]:
    """Lesions for plaque runs that no stenosis covers (narrowing below 25 %)."""
    profile = vessel.profile
    assert profile is not None
    s_mm = sections.s_mm
    diameter = floats(profile.equivalent_diameter_mm)
    reference = floats(profile.reference_diameter_mm)
    area = floats(profile.area_mm2)
    measured = np.flatnonzero(np.isfinite(sections.vessel_mm2))
    end_mm = s_mm[measured[-1]] - options.distal_margin_mm
    segmented = vessel.centerline.segmented()
    if not all(segmented):  # followed past the segmentation there: not graded (extend.py)
        end_mm = min(end_mm, float(s_mm[segmented.index(False)]) - 1e-6)
    found = []
    for a, b in runs:
        if any(_touches((a, b), lesion, s_mm, options.merge_gap_mm + 1.0) for lesion in lesions):
            continue
        if s_mm[b] > end_mm:
            continue  # the vessel fading out, not plaque
        with np.errstate(invalid="ignore", divide="ignore"):
            narrowing = 100.0 * (1.0 - diameter[a : b + 1] / reference[a : b + 1])
        narrowing = ndimage.median_filter(np.nan_to_num(narrowing, nan=0.0), size=3, mode="nearest")
        if narrowing.max() >= options.report_threshold_pct:
            continue  # a narrowing the stenosis finder rejected (an end cap, a fading end)
        # its site is the narrowest point (the MLD), as for any lesion; where the lumen
        # does not narrow at all, the most plaque
        burden = sections.calcium_mm2[a : b + 1] + sections.non_calcified_mm2[a : b + 1]
        narrowest = int(np.argmax(narrowing))
        if narrowing[narrowest] <= 0:
            narrowest = int(np.argmax(np.nan_to_num(burden)))
        site = a + narrowest
        lesion = Lesion(
            vessel_id=vessel.vessel_id,
            start_s_mm=float(s_mm[a]),
            end_s_mm=float(s_mm[b]),
            mld_s_mm=float(s_mm[site]),
            mld_position_lps_mm=[float(x) for x in vessel.centerline.points_lps_mm[site]],
            pct_diameter_stenosis=float(np.clip(narrowing[site - a], 0.0, 100.0)),
            pct_area_stenosis=float(
                np.clip(
                    100.0 * (1.0 - area[site] / (np.pi * reference[site] ** 2 / 4.0)), 0.0, 100.0
                )
            ),
            mld_mm=float(diameter[site]),
            mla_mm2=float(area[site]),
            reference_diameter_mm=float(reference[site]),
            length_mm=float(s_mm[b] - s_mm[a]),
            method="minimal plaque: wall thickening or calcium without a >= 25 % narrowing",
        )
        lesion.plaque = describe_plaque(sections, a, b, site, options)
        long_enough = lesion.length_mm >= options.min_minimal_length_mm
        calcified = (lesion.plaque.calcified_volume_mm3 or 0.0) >= options.calcified_lesion_min_mm3
        narrows = lesion.pct_diameter_stenosis >= options.min_minimal_narrowing_pct
        if (
            long_enough
            and (lesion.plaque.volume_mm3 or 0.0) >= options.min_minimal_plaque_mm3
            and (calcified or narrows)
        ):
            found.append(lesion)
    return found


def confirm_lesions(
    lesions: list[Lesion], options: PlaqueOptions | None = None
) -> tuple[list[Lesion], list[str]]:
    """Keep the lesions that have plaque; say why each other one is dropped.

    A narrowing of the measured lumen with (almost) no plaque around it, or where the
    whole vessel is narrower than its reference (remodelling index below
    ``min_lesion_remodelling``: a small or tapering vessel, a mis-measured section), is
    not an atherosclerotic stenosis. Occlusions are always kept, and so are narrowings
    with at least ``calcified_lesion_min_mm3`` of calcium: calcium is plaque, whatever
    the remodelling index (which read 0.41 at a calcified left-main ostium, where the
    outer wall is hard to see).
    """
    options = options or PlaqueOptions()
    kept, notes = [], []
    for lesion in lesions:
        plaque = lesion.plaque
        if lesion.occlusion or plaque is None:
            kept.append(lesion)
            continue
        volume = plaque.volume_mm3 or 0.0
        index = plaque.remodelling_index
        if volume < options.min_lesion_plaque_mm3:
            why = f"only {volume:.1f} mm3 of plaque"
        elif (
            index is not None
            and index < options.min_lesion_remodelling
            and (plaque.calcified_volume_mm3 or 0.0) < options.calcified_lesion_min_mm3
        ):
            why = f"the whole vessel narrows (remodelling index {index:.2f})"
        else:
            kept.append(lesion)
            continue
        notes.append(
            f"a {lesion.pct_diameter_stenosis:.0f} % narrowing on vessel {lesion.vessel_id} at "
            f"{lesion.mld_s_mm:.1f} mm was not reported: {why}"
        )
    return kept, notes


def segment_involvement(vessels: list[Vessel], lesions: list[Lesion]) -> tuple[int, list[int]]:
    """Segment involvement score: how many SCCT segments hold plaque, and which."""
    by_id = {v.vessel_id: v for v in vessels}
    involved: set[int] = set()
    for lesion in lesions:
        vessel = by_id.get(lesion.vessel_id)
        if vessel is None or vessel.profile is None:
            continue
        s_mm = np.asarray(vessel.profile.s_mm)
        inside = np.flatnonzero(
            (s_mm >= lesion.start_s_mm - 1e-6) & (s_mm <= lesion.end_s_mm + 1e-6)
        )
        segments = {vessel.centerline.segment[i] for i in inside}
        if lesion.segment is not None:
            segments.add(lesion.segment)
        involved.update(seg for seg in segments if seg is not None)
    return len(involved), sorted(involved)


def paint_plaque_labels(
    volume: Volume,
    result: PlaqueResult,
    vessels: list[Vessel],
    lumen_mask: np.ndarray | None = None,
) -> np.ndarray:
    """``uint8`` volume: :data:`CALCIFIED` / :data:`NON_CALCIFIED` voxels of the lesions' plaque."""
    labels = np.zeros(volume.shape, dtype=np.uint8)
    by_id = {v.vessel_id: v for v in vessels}
    inverse = np.linalg.inv(volume.affine)
    for lesion in result.lesions:
        vessel, sections = by_id.get(lesion.vessel_id), result.sections.get(lesion.vessel_id)
        if vessel is None or sections is None or lesion.plaque is None:
            continue
        inside = np.flatnonzero(
            (sections.s_mm >= lesion.start_s_mm - 0.5)
            & (sections.s_mm <= lesion.end_s_mm + 0.5)
            & np.isfinite(sections.outer_radius_mm)
        )
        if len(inside) == 0:
            continue
        points = np.asarray(vessel.centerline.points_lps_mm)[inside]
        reach = sections.outer_radius_mm[inside]
        index = points @ inverse[:3, :3].T + inverse[:3, 3]
        pad = float(reach.max()) / float(volume.spacing_mm.min()) + 1
        low = np.maximum(np.floor(index.min(axis=0) - pad), 0).astype(int)
        high = np.minimum(np.ceil(index.max(axis=0) + pad) + 1, volume.shape).astype(int)
        box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
        grid = np.stack(
            np.meshgrid(*[np.arange(a, b) for a, b in zip(low, high, strict=True)], indexing="ij"),
            -1,
        )
        lps = volume.index_to_lps(grid.reshape(-1, 3)).reshape(grid.shape)
        distance, nearest = cKDTree(points).query(lps.reshape(-1, 3))
        near = (distance <= reach[nearest]).reshape(grid.shape[:3])
        hu = volume.hu[box]
        lumen_hu = float(np.nanmedian(sections.lumen_hu[inside]))
        calcium_hu = float(np.nanmedian(sections.calcium_hu[inside]))
        lumen = lumen_mask[box] if lumen_mask is not None else hu >= 0.5 * (lumen_hu - 100.0)
        target = labels[box]
        calcified = near & ~lumen & (hu > calcium_hu)
        soft = near & ~lumen & (hu >= -30.0) & (hu < 0.5 * (lumen_hu - 100.0)) & ~calcified
        target[soft & (target == 0)] = NON_CALCIFIED
        target[calcified] = CALCIFIED
    return labels
