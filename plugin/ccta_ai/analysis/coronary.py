"""Measure and find along a traced tree, as :mod:`ccta_ai.analysis.findings` parts.

Per vessel: lumen cross-sections (:mod:`lumen`), reference diameter and lesions
(:mod:`stenosis`). A side branch's first points lie inside its parent's lumen; they are
measured but take no part in its reference or lesions.

The stem of a tree before its first major bifurcation (the left main) is often too
short, or too diseased, to show its own normal calibre: its fitted reference then
follows the narrower vessel it continues into. Its reference is at least what its two
daughters' calibres give by Murray's law, ``d = (d1**3 + d2**3) ** (1/3)`` (with the
normal proximal LAD and LCx of Dodge et al., Circulation 1992, 3.7 and 3.4 mm, it gives
4.48 mm for their left main's 4.5 mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ccta_ai.analysis.findings import Centerline, Lesion, LumenProfile, Vessel
from ccta_ai.analysis.lumen import LumenMeasurements, LumenOptions, measure_lumen
from ccta_ai.analysis.repair import ANCHORED_ORIGINS
from ccta_ai.analysis.stenosis import (
    LesionSpan,
    StenosisOptions,
    find_lesions,
    reference_diameter,
)
from ccta_ai.analysis.trace import CenterlineTree, TracedVessel, TraceOptions, trace_centerlines
from ccta_ai.imaging.volume import Volume

if TYPE_CHECKING:  # torch is imported only where the model is loaded
    from ccta_ai.analysis.calcium_lumen import CalciumLumenModel


@dataclass(frozen=True)
class CoronaryOptions:
    """Parameters of tracing, measuring and finding."""

    trace: TraceOptions = field(default_factory=TraceOptions)
    lumen: LumenOptions = field(default_factory=LumenOptions)
    stenosis: StenosisOptions = field(default_factory=StenosisOptions)
    # Lesions on bridges whose ring is brighter are dropped (a chamber's contrast blood:
    # the bridge joined the wrong pieces). Not lower: a plaque-filled stenosis, where
    # the segmentation breaks most often, has a ring of 80-140 HU, as myocardium has.
    max_bridged_ring_hu: float = 200.0
    min_measured_mm: float = 10.0  # a vessel measured over less has no reference diameter
    # a tree's stem: up to its first branch within stem_max_mm of the root that is at
    # least stem_branch_ratio as wide as the trunk beyond it (see the module docstring)
    stem_max_mm: float = 25.0
    stem_branch_ratio: float = 0.6
    stem_branch_min_mm: float = 20.0  # a daughter, not a stub


@dataclass
class CoronaryResult:
    """The traced tree and its findings parts (``warnings`` go to ``Findings.warnings``)."""

    tree: CenterlineTree
    vessels: list[Vessel]
    lesions: list[Lesion]
    warnings: list[str]


def analyse_coronaries(
    volume: Volume,
    mask: np.ndarray,
    ostia_lps_mm: np.ndarray | None = None,
    aorta_mask: np.ndarray | None = None,
    options: CoronaryOptions | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> CoronaryResult:
    """Trace the lumen mask, then measure and find along every vessel."""
    options = options or CoronaryOptions()
    tree = trace_centerlines(mask, volume, ostia_lps_mm, aorta_mask, options.trace)
    notes: list[str] = []
    vessels, lesions = measure_tree(volume, tree, options, notes, calcium_model)
    warnings = list(tree.notes) + notes
    warnings.extend(
        f"a {bridge.gap_mm:.1f} mm gap in the segmentation at LPS "
        f"({', '.join(f'{x:.1f}' for x in bridge.start_lps_mm)}) mm was bridged ({bridge.method})"
        for bridge in tree.bridges
    )
    unattached = {v.tree for v in tree.vessels if v.origin not in ANCHORED_ORIGINS}
    if unattached and (ostia_lps_mm is not None or aorta_mask is not None):
        warnings.append(f"{len(unattached)} piece(s) of the segmentation joined no coronary tree")
    return CoronaryResult(tree, vessels, lesions, warnings)


def measure_tree(
    volume: Volume,
    tree: CenterlineTree,
    options: CoronaryOptions | None = None,
    notes: list[str] | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> tuple[list[Vessel], list[Lesion]]:
    """Lumen profiles and lesions of every vessel of ``tree`` (vessel ids = tree indices);
    why a narrowing was not reported goes to ``notes``. With ``calcium_model``, the
    lumen of sections holding calcium is the model's (:mod:`.calcium_lumen`)."""
    options = options or CoronaryOptions()
    parts = [
        _measure_vessel(volume, tree, traced, options, calcium_model) for traced in tree.vessels
    ]
    _stem_references(tree, parts, options, notes)
    vessels: list[Vessel] = []
    lesions: list[Lesion] = []
    for vessel_id, part in enumerate(parts):
        vessel, found = _find_lesions(vessel_id, part, options, notes, calcium_model)
        vessels.append(vessel)
        lesions.extend(found)
    return vessels, lesions


@dataclass
class _Measured:
    """One vessel's cross-sections and reference diameter, before its lesions."""

    traced: TracedVessel
    measured: LumenMeasurements
    usable: np.ndarray
    reference: np.ndarray


def _calibre(part: _Measured, start_mm: float, length_mm: float) -> float | None:
    """Median reference diameter over ``[start_mm + 2, start_mm + length_mm]``."""
    s_mm = part.traced.s_mm
    near = (s_mm >= start_mm + 2.0) & (s_mm <= start_mm + length_mm) & part.usable
    values = part.reference[near & np.isfinite(part.reference)]
    return float(np.median(values)) if len(values) else None


def _stem_references(
    tree: CenterlineTree,
    parts: list[_Measured],
    options: CoronaryOptions,
    notes: list[str] | None,
    calibre_mm: float = 10.0,
) -> None:
    """Raise each root vessel's reference before its first major branch to at least
    Murray's law of the two daughters (see the module docstring), in place."""
    for index, part in enumerate(parts):
        traced = part.traced
        if traced.parent is not None or traced.origin not in ANCHORED_ORIGINS:
            continue
        children = sorted(
            (
                (int(child.parent_point), other)
                for other, child in enumerate(tree.vessels)
                if child.parent == index and child.parent_point is not None
            ),
            key=lambda item: item[0],
        )
        for point, other in children:
            junction = float(traced.s_mm[point])
            if junction > options.stem_max_mm:
                break
            if float(parts[other].traced.s_mm[-1]) < options.stem_branch_min_mm:
                continue
            trunk = _calibre(part, junction, calibre_mm)
            branch = _calibre(parts[other], 0.0, calibre_mm)
            if trunk is None or branch is None or branch < options.stem_branch_ratio * trunk:
                continue
            murray = float((trunk**3 + branch**3) ** (1.0 / 3.0))
            stem = traced.s_mm < junction
            raised = stem & (part.reference < murray)
            if raised.any():
                part.reference[raised] = murray
                if notes is not None:
                    notes.append(
                        f"vessel {index}'s reference diameter over its first {junction:.1f} mm "
                        f"(its stem) is {murray:.2f} mm, Murray's law of its daughters "
                        f"({trunk:.2f} and {branch:.2f} mm)"
                    )
            break


def _drop_bridges_through_chambers(
    spans: list[LesionSpan],
    measured: LumenMeasurements,
    bridged: np.ndarray,
    vessel_id: int,
    max_ring_hu: float,
    notes: list[str] | None,
) -> list[LesionSpan]:
    """Lesions whose site (narrowest point) lies on a bridged gap of the segmentation
    whose surroundings are brighter than ``max_ring_hu`` (median ring HU; by default
    contrast-filled blood: the bridge ran through or along a chamber and joined the
    wrong pieces) are not reported. A coronary runs in epicardial fat; at a tight
    stenosis, where the segmentation breaks most often, its ring holds plaque and reads
    like myocardium (80-140 HU), so a tissue-level ring is no reason to drop a lesion
    (with 40 HU, two true 67 % and 93 % stenoses of 20 phantom studies were dropped).
    A lesion that only reaches into a bridge is kept: its narrowing was measured on
    segmented lumen."""
    kept = []
    ring = measured.ring_hu if measured.ring_hu is not None else measured.background_hu
    for span in spans:
        if not bridged[span.mld_index]:
            kept.append(span)
            continue
        on_bridge = np.asarray(bridged[span.start : span.end + 1], dtype=bool)
        values = ring[span.start : span.end + 1][on_bridge]
        values = values[np.isfinite(values)]
        if len(values) and float(np.median(values)) > max_ring_hu:
            if notes is not None:
                notes.append(
                    f"a {span.pct_diameter_stenosis:.0f} % narrowing on vessel {vessel_id} at "
                    f"{span.start_s_mm:.1f}-{span.end_s_mm:.1f} mm was not reported: it lies on "
                    f"a bridged gap of the segmentation running through or along a chamber (ring "
                    f"{float(np.median(values)):.0f} HU), not epicardial fat or plaque"
                )
            continue
        kept.append(span)
    return kept


def _drop_on_short_vessels(
    spans: list[LesionSpan],
    s_mm: np.ndarray,
    usable: np.ndarray,
    vessel_id: int,
    min_measured_mm: float,
    notes: list[str] | None,
) -> list[LesionSpan]:
    """Narrowings on a vessel measured over less than ``min_measured_mm`` are not
    reported (occlusions are): a side branch's stub, or a piece of one, has no normal
    lumen before and after to give a reference diameter, and its "narrowing" is its
    own taper from the junction."""
    measured_at = s_mm[np.asarray(usable, dtype=bool)]
    extent = float(measured_at[-1] - measured_at[0]) if len(measured_at) else 0.0
    if extent >= min_measured_mm:
        return spans
    for span in spans:
        if not span.occlusion and notes is not None:
            notes.append(
                f"a {span.pct_diameter_stenosis:.0f} % narrowing on vessel {vessel_id} at "
                f"{span.start_s_mm:.1f}-{span.end_s_mm:.1f} mm was not reported: the vessel is "
                f"measured over {extent:.1f} mm only, too short for a reference diameter"
            )
    return [span for span in spans if span.occlusion]


def _optional(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _measure_vessel(
    volume: Volume,
    tree: CenterlineTree,
    traced: TracedVessel,
    options: CoronaryOptions,
    calcium_model: CalciumLumenModel | None = None,
) -> _Measured:
    s_mm = traced.s_mm
    measured = measure_lumen(
        volume, traced.points_lps_mm, traced.radius_mm, options.lumen, calcium_model
    )
    usable = measured.valid.copy()
    if traced.extended_from is not None:
        usable[traced.extended_from :] = False  # followed beyond the mask: not graded
    if traced.parent is not None and traced.parent_point is not None:
        parent_radius = float(tree.vessels[traced.parent].radius_mm[traced.parent_point])
        usable &= s_mm > parent_radius + 0.5
    reference = reference_diameter(
        s_mm, measured.equivalent_diameter_mm, usable, options.stenosis
    )
    return _Measured(traced, measured, usable, reference)


def _find_lesions(
    vessel_id: int,
    part: _Measured,
    options: CoronaryOptions,
    notes: list[str] | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> tuple[Vessel, list[Lesion]]:
    traced, measured, usable, reference = part.traced, part.measured, part.usable, part.reference
    points = traced.points_lps_mm
    s_mm = traced.s_mm
    from_model = (
        measured.from_model if measured.from_model is not None else np.zeros(len(s_mm), bool)
    )
    diameter = measured.equivalent_diameter_mm
    spans = find_lesions(
        s_mm,
        diameter,
        measured.area_mm2,
        reference,
        usable,
        traced.bridged,
        options.stenosis,
        starts_at_ostium=traced.parent is not None or traced.origin in ANCHORED_ORIGINS,
        calcium_mm2=measured.calcium_area_mm2,
    )
    spans = _drop_bridges_through_chambers(spans, measured, traced.bridged, vessel_id,
                                         options.max_bridged_ring_hu, notes)
    spans = _drop_on_short_vessels(spans, s_mm, usable, vessel_id, options.min_measured_mm, notes)
    centerline = Centerline(
        points_lps_mm=[[float(x) for x in p] for p in points],
        radius_mm=[float(r) for r in traced.radius_mm],
        segment=[None] * len(points),
        bridged=[bool(b) for b in traced.bridged],
        beyond_segmentation=[
            traced.extended_from is not None and i >= traced.extended_from
            for i in range(len(points))
        ],
    )
    profile = LumenProfile(
        s_mm=[float(s) for s in s_mm],
        area_mm2=_optional(measured.area_mm2),
        min_diameter_mm=_optional(measured.min_diameter_mm),
        max_diameter_mm=_optional(measured.max_diameter_mm),
        equivalent_diameter_mm=_optional(diameter),
        reference_diameter_mm=_optional(reference),
        calcium_area_mm2=_optional(measured.calcium_area_mm2),
        lumen_from_model=[bool(b) for b in from_model],
    )
    vessel = Vessel(
        vessel_id=vessel_id,
        centerline=centerline,
        profile=profile,
        parent_id=traced.parent,
        parent_point=traced.parent_point,
        tree=traced.tree,
        origin=traced.origin,
    )
    lesions = [
        Lesion(
            vessel_id=vessel_id,
            start_s_mm=span.start_s_mm,
            end_s_mm=span.end_s_mm,
            mld_s_mm=float(s_mm[span.mld_index]),
            mld_position_lps_mm=[float(x) for x in points[span.mld_index]],
            pct_diameter_stenosis=span.pct_diameter_stenosis,
            pct_area_stenosis=span.pct_area_stenosis,
            mld_mm=span.mld_mm,
            mla_mm2=span.mla_mm2,
            reference_diameter_mm=span.reference_diameter_mm,
            length_mm=span.length_mm,
            occlusion=span.occlusion,
            bridged=span.bridged,
        )
        for span in spans
    ]
    for lesion, span in zip(lesions, spans, strict=True):
        if calcium_model is not None and from_model[span.mld_index]:
            lesion.method += f"; the lumen under calcium read by {calcium_model.identity}"

    return vessel, lesions
