"""The analysis pipeline: ``Volume`` → :class:`~ccta_ai.analysis.findings.Findings`.

Stages, each timed into ``Findings.timings_s`` (``<stage>_s``):

``segment`` (MONAI network, :mod:`.segment`) → ``trace`` (:mod:`.trace`) → ``measure``
(lumen profiles and stenoses, :mod:`.coronary`) → ``label`` (SCCT segments and
dominance, :mod:`.naming`) → ``plaque`` (:mod:`.plaque`) → ``quality`` (per-segment
image quality) → ``grade`` (CAD-RADS 2.0, :mod:`.grade`).

What cannot be a coronary CT angiogram is not forced through: a volume with no
contrast-filled blood (all air, a plain body CT), or one in which no coronary tree is
found, gives Findings whose image quality is ``non-diagnostic`` and whose grade is
CAD-RADS ``N``, with the reason, and no lesions.

The segmenter can be injected (``segmenter=``), e.g. a phantom's true masks for the
accuracy benchmark and the tests; by default it is :func:`.segment.segment_coronaries`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ccta_ai import __version__
from ccta_ai.analysis.coronary import CoronaryOptions, measure_tree
from ccta_ai.analysis.extend import ExtendOptions
from ccta_ai.analysis.findings import (
    AlgorithmIdentity,
    Findings,
    Grade,
    ImageQuality,
    Lesion,
    Vessel,
)
from ccta_ai.analysis.grade import MANAGEMENT, GradeInputs, grade_study
from ccta_ai.analysis.lumen import LumenOptions
from ccta_ai.analysis.plaque import PlaqueOptions
from ccta_ai.analysis.plaque_lesions import (
    analyse_plaque,
    confirm_lesions,
    paint_plaque_labels,
    segment_involvement,
)
from ccta_ai.analysis.repair import RepairOptions
from ccta_ai.analysis.segment_aorta import ostia_on_the_root
from ccta_ai.analysis.trace import trace_centerlines
from ccta_ai.imaging.volume import Volume

if TYPE_CHECKING:  # torch is imported only where the model is loaded
    from ccta_ai.analysis.calcium_lumen import CalciumLumenModel

STAGES = ("segment", "trace", "measure", "label", "plaque", "quality", "grade")

#: ``progress(stage, index, total)`` is called as each stage starts (index from 1).
Progress = Callable[[str, int, int], None]


class SegmentationLike(Protocol):
    """What a segmenter returns (:class:`.segment.Segmentation` or a stand-in)."""

    lumen: np.ndarray
    aorta: np.ndarray
    ostia_lps_mm: np.ndarray | None
    model_name: str
    model_version: str
    model_sha256: str
    timings_s: dict[str, float]
    notes: list[str]


Segmenter = Callable[[Volume], SegmentationLike]


@dataclass
class InjectedSegmentation:
    """A segmentation made elsewhere (truth masks, another tool) for :func:`analyze`."""

    lumen: np.ndarray
    aorta: np.ndarray
    ostia_lps_mm: np.ndarray | None = None
    model_name: str = "injected"
    model_version: str = ""
    model_sha256: str = ""
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PipelineOptions:
    """Parameters of the whole analysis."""

    coronary: CoronaryOptions = field(default_factory=CoronaryOptions)
    plaque: PlaqueOptions = field(default_factory=PlaqueOptions)
    min_blood_hu: float = 150.0  # a CCTA has contrast-filled blood brighter than this
    min_blood_ml: float = 20.0  # ... over at least this volume
    min_tree_mm: float = 20.0  # less traced centreline than this: no coronary tree
    min_measured_fraction: float = 0.5  # a segment measured over less is non-diagnostic
    min_aorta_hu: float = 200.0  # weaker enhancement limits the study
    max_noise_hu: float = 80.0  # noisier aortas limit the study
    # ostia (and trees rooted at the aorta) only on the aorta's lowest part: the root
    max_ostium_height_mm: float = 45.0
    # The lumen of sections holding calcium is read by the committed calcium_lumen
    # model (:mod:`.calcium_lumen`); False measures every section by the HU contour.
    lumen_under_calcium_model: bool = True


@dataclass
class Analysis:
    """Findings and the voxel outputs (all on the volume's grid) for the DICOM writers."""

    findings: Findings
    segment_labels: np.ndarray  # uint8: SCCT segment 1-18, 19 other coronary lumen
    plaque_labels: np.ndarray  # uint8: 1 calcified, 2 non-calcified
    lumen: np.ndarray  # bool: the segmentation stage's lumen (before the tree; not stored)


def analyze(
    volume: Volume,
    *,
    progress: Progress | None = None,
    segmenter: Segmenter | None = None,
    options: PipelineOptions | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> Findings:
    """Findings of one CCTA volume (see :func:`analyze_full`)."""
    return analyze_full(
        volume, progress=progress, segmenter=segmenter, options=options,
        calcium_model=calcium_model,
    ).findings  # fmt: skip


def analyze_full(
    volume: Volume,
    *,
    progress: Progress | None = None,
    segmenter: Segmenter | None = None,
    options: PipelineOptions | None = None,
    calcium_model: CalciumLumenModel | None = None,
) -> Analysis:
    """Run every stage on ``volume``; never invents lesions on a non-coronary input.

    ``calcium_model`` replaces the committed calcium_lumen bundle (which is loaded once
    per process when ``options.lumen_under_calcium_model``)."""
    options = options or PipelineOptions()
    run = _Run(volume, progress, options)
    findings = run.findings
    empty = np.zeros(volume.shape, dtype=np.uint8)
    blood_reason = _not_contrast_enhanced(volume, options)
    if blood_reason:
        return Analysis(
            _non_diagnostic(findings, blood_reason), empty, empty.copy(), empty.astype(bool)
        )

    with run.stage("segment"):
        segmentation = (segmenter or _default_segmenter)(volume)
    if calcium_model is None and options.lumen_under_calcium_model:
        calcium_model = default_calcium_model()
    findings.algorithm = _identity(segmentation, options, calcium_model)
    findings.warnings.extend(segmentation.notes)
    findings.timings_s.update({f"segment_{k}": float(v) for k, v in segmentation.timings_s.items()})
    lumen = np.asarray(segmentation.lumen, dtype=bool)
    aorta = np.asarray(segmentation.aorta, dtype=bool)
    root = ostia_on_the_root(
        segmentation.ostia_lps_mm, aorta, volume, options.max_ostium_height_mm
    )
    findings.warnings.extend(root.notes)
    ostia = root.ostia_lps_mm
    if not lumen.any():
        return Analysis(
            _non_diagnostic(findings, "no coronary lumen was segmented"), empty, empty.copy(), lumen
        )

    with run.stage("trace"):
        tree = trace_centerlines(
            lumen, volume, ostia, root.mask if root.mask.any() else None, options.coronary.trace
        )
    findings.warnings.extend(tree.notes)
    findings.warnings.extend(
        f"a {b.gap_mm:.1f} mm gap in the segmentation at LPS "
        f"({', '.join(f'{x:.1f}' for x in b.start_lps_mm)}) mm was bridged ({b.method})"
        for b in tree.bridges
    )
    if tree.total_length_mm < options.min_tree_mm:
        reason = f"no coronary tree was found ({tree.total_length_mm:.0f} mm of centreline traced)"
        return Analysis(_non_diagnostic(findings, reason), empty, empty.copy(), lumen)

    with run.stage("measure"):
        vessels, lesions = measure_tree(
            volume, tree, options.coronary, findings.warnings, calcium_model
        )
    findings.vessels = vessels

    with run.stage("label"):
        segment_labels = _label(vessels, lumen, volume, ostia, findings)

    with run.stage("plaque"):
        plaque = analyse_plaque(volume, vessels, lesions, lumen, options.plaque)
        lesions, dropped = confirm_lesions(_sorted(plaque.lesions), options.plaque)
        findings.warnings.extend(dropped)
        plaque.lesions = lesions
        _set_segments(vessels, lesions)
        plaque_labels = paint_plaque_labels(volume, plaque, vessels, lumen)
    findings.lesions = lesions

    with run.stage("quality"):
        findings.image_quality = assess_quality(volume, vessels, aorta, options)

    with run.stage("grade"):
        score, _ = segment_involvement(vessels, lesions)
        findings.grade = grade_study(lesions, GradeInputs(vessels, score, findings.image_quality))
    findings.timings_s["total_s"] = round(time.perf_counter() - run.started, 3)
    return Analysis(findings, segment_labels, plaque_labels, lumen)


class _Run:
    """Stage timing and progress reporting."""

    def __init__(self, volume: Volume, progress: Progress | None, options: PipelineOptions) -> None:
        self.started = time.perf_counter()
        self.progress = progress
        self.findings = Findings(
            series_instance_uid=volume.series_instance_uid,
            frame_of_reference_uid=volume.frame_of_reference_uid,
            algorithm=_identity(None, options),
        )

    def stage(self, name: str) -> _Stage:
        if self.progress is not None:
            self.progress(name, STAGES.index(name) + 1, len(STAGES))
        return _Stage(self.findings.timings_s, name)


class _Stage:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name, self.start = timings, name, 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[f"{self.name}_s"] = round(time.perf_counter() - self.start, 3)


def _default_segmenter(volume: Volume) -> SegmentationLike:
    from ccta_ai.analysis.segment import segment_coronaries

    return segment_coronaries(volume)


@functools.cache
def default_calcium_model() -> CalciumLumenModel:
    """The committed calcium_lumen bundle, loaded (and its sha256 checked) once."""
    from ccta_ai.analysis.calcium_lumen import load_calcium_lumen

    return load_calcium_lumen()


def _identity(
    segmentation: SegmentationLike | None,
    options: PipelineOptions,
    calcium_model: CalciumLumenModel | None = None,
) -> AlgorithmIdentity:
    parameters = {
        "stenosis_report_threshold_pct": f"{options.coronary.stenosis.report_threshold_pct:g}",
        "trace_step_mm": f"{options.coronary.trace.step_mm:g}",
        "lumen_pixel_mm": f"{options.coronary.lumen.pixel_mm:g}",
        "lumen_leak_reach_mm": f"{options.coronary.lumen.leak_reach_mm:g}",
        "lesion_min_vessel_measured_mm": f"{options.coronary.min_measured_mm:g}",
        "stem_reference": f"Murray's law ({options.coronary.stem_max_mm:g} mm, "
        f"{options.coronary.stem_branch_ratio:g})",
        "plaque_ray_step_mm": f"{options.plaque.ray_step_mm:g}",
        "plaque_ray_count": str(options.plaque.ray_count),
        "calcium_min_hu": f"{options.plaque.calcium_min_hu:g}",
        "calcium_sd_factor": f"{options.plaque.calcium_sd_factor:g}",
        "calcium_above_blood_hu": f"{options.plaque.calcium_min_above_lumen_hu:g}",
        "calcium_bloom_mm": f"{options.plaque.calcium_bloom_mm:g}",
        "calcified_min_fraction": f"{options.plaque.calcified_min_fraction:g}",
        "lesion_min_plaque_mm3": f"{options.plaque.min_lesion_plaque_mm3:g}",
        "lesion_min_remodelling_index": f"{options.plaque.min_lesion_remodelling:g}",
        "calcified_lesion_min_mm3": f"{options.plaque.calcified_lesion_min_mm3:g}",
        "minimal_plaque_min_narrowing_pct": f"{options.plaque.min_minimal_narrowing_pct:g}",
        "aorta_tree_min_mm": f"{options.coronary.trace.min_aorta_tree_mm:g}",
        "distal_extension": _extension_identity(options.coronary.trace.extend),
        "gap_bridge_max_angle_deg": _bridge_identity(options.coronary.trace.repair),
        "ostium_max_height_mm": f"{options.max_ostium_height_mm:g}",
        "low_attenuation_max_hu": f"{options.plaque.low_attenuation_max_hu:g}",
        "positive_remodelling_index": f"{options.plaque.positive_remodelling_index:g}",
        "grading": "CAD-RADS 2.0 (Cury et al., JCCT 2022)",
    }
    if segmentation is not None:
        parameters["model_version"] = segmentation.model_version
    parameters["lumen_under_calcium"] = (
        "HU contour" if calcium_model is None else calcium_model.identity
    )
    if calcium_model is not None:
        parameters["lumen_under_calcium_read_on"] = _calcium_centre_identity(
            options.coronary.lumen
        )
    return AlgorithmIdentity(
        name="ccta-ai",
        version=__version__,
        model_name="" if segmentation is None else segmentation.model_name,
        model_sha256="" if segmentation is None else segmentation.model_sha256,
        parameters=parameters,
    )


def _bridge_identity(repair: RepairOptions | None) -> str:
    if repair is None:
        return "off"
    return (
        f"{repair.max_angle_deg:g} ({repair.max_aorta_angle_deg:g} to a piece rooted at the "
        f"aorta), gaps up to {repair.max_gap_mm:g} mm; pieces under "
        f"{repair.short_piece_mm:g} mm not joined where one of {repair.long_piece_mm:g} mm "
        "or more is in reach"
    )


def _calcium_centre_identity(lumen: LumenOptions) -> str:
    if not lumen.bridge_calcium:
        return "the traced centreline"
    return (
        f"a cubic curve across each calcified run, anchored {lumen.bridge_margin_mm:g} mm "
        f"beyond it (traced path <= {lumen.bridge_max_winding:g} x chord), where nearer "
        "the contour's lumen than the traced centreline"
    )


def _extension_identity(extend: ExtendOptions | None) -> str:
    if extend is None:
        return "off"
    return (
        f"image ridge, contrast >= {extend.min_contrast_fraction:g} of the vessel's and "
        f">= {extend.min_contrast_hu:g} HU, up to {extend.max_length_mm:g} mm, not graded"
    )


def _not_contrast_enhanced(volume: Volume, options: PipelineOptions) -> str:
    """Why ``volume`` cannot be a CCTA (no contrast-filled blood), or ""."""
    hu = volume.hu
    stride = max(1, round((hu.size / 4e6) ** (1 / 3)))
    sample = hu[::stride, ::stride, ::stride]
    voxel_ml = volume.voxel_volume_mm3 * stride**3 / 1000.0
    blood = (sample >= options.min_blood_hu) & (sample <= 700.0)
    blood_ml = float(blood.sum()) * voxel_ml
    if float(np.percentile(sample, 99.5)) < -300.0:
        return "the volume holds no tissue (air only)"
    if blood_ml < options.min_blood_ml:
        return (
            f"no contrast-filled blood: {blood_ml:.0f} ml between {options.min_blood_hu:.0f} and "
            f"700 HU, a coronary CT angiogram has at least {options.min_blood_ml:.0f} ml"
        )
    return ""


def _non_diagnostic(findings: Findings, reason: str) -> Findings:
    findings.image_quality = ImageQuality(score="non-diagnostic", notes=[reason])
    findings.grade = Grade(
        cad_rads="N",
        reasons=[f"CAD-RADS N: the study is non-diagnostic ({reason})."],
        management=MANAGEMENT["N"],
    )
    findings.warnings.append(f"non-diagnostic: {reason}")
    return findings


def _label(
    vessels: list[Vessel],
    lumen: np.ndarray,
    volume: Volume,
    ostia: np.ndarray | None,
    findings: Findings,
) -> np.ndarray:
    """Name the vessels and segments; the SCCT label volume (zeros if naming fails)."""
    try:
        from ccta_ai.analysis.naming import label_tree, paint_segment_labels
    except ImportError as error:  # pragma: no cover - naming is part of the package
        findings.warnings.append(f"segment naming unavailable: {error}")
        return np.zeros(volume.shape, dtype=np.uint8)
    naming = label_tree(vessels, ostia_lps_mm=ostia)
    findings.dominance = naming.dominance
    return np.asarray(paint_segment_labels(vessels, lumen, volume), dtype=np.uint8)


def _set_segments(vessels: list[Vessel], lesions: list[Lesion]) -> None:
    """Each lesion's segment: that of the centreline point at its site."""
    by_id = {v.vessel_id: v for v in vessels}
    for lesion in lesions:
        vessel = by_id.get(lesion.vessel_id)
        if vessel is None or vessel.profile is None or not vessel.profile.s_mm:
            continue
        index = int(np.argmin(np.abs(np.asarray(vessel.profile.s_mm) - lesion.mld_s_mm)))
        lesion.segment = vessel.centerline.segment[index]


def _sorted(lesions: list[Lesion]) -> list[Lesion]:
    return sorted(lesions, key=lambda lesion: (lesion.vessel_id, lesion.start_s_mm))


def assess_quality(
    volume: Volume, vessels: list[Vessel], aorta: np.ndarray, options: PipelineOptions
) -> ImageQuality:
    """Per-segment quality (share of the segment's segmented centreline with a
    measurable lumen; where a vessel was followed past its segmentation it is not
    graded, nor judged) and study-level notes on enhancement and noise in the aorta."""
    notes: list[str] = []
    score = "diagnostic"
    if aorta.any():
        values = volume.hu[aorta]
        mean_hu = float(np.median(values))
        noise_hu = float(1.4826 * np.median(np.abs(values - mean_hu)))
        notes.append(f"aorta {mean_hu:.0f} HU, noise {noise_hu:.0f} HU")
        if mean_hu < options.min_aorta_hu:
            score = "limited"
            notes.append(f"weak enhancement (aorta below {options.min_aorta_hu:.0f} HU)")
        if noise_hu > options.max_noise_hu:
            score = "limited"
            notes.append(f"high noise (above {options.max_noise_hu:.0f} HU in the aorta)")
    measured: dict[int, list[bool]] = {}
    for vessel in vessels:
        if vessel.profile is None:
            continue
        centerline = vessel.centerline
        for segment, area, segmented in zip(
            centerline.segment, vessel.profile.area_mm2, centerline.segmented(), strict=False
        ):
            if segment is not None and segmented:
                measured.setdefault(segment, []).append(area is not None)
    per_segment: dict[str, str] = {}
    for segment in sorted(measured):
        fraction = float(np.mean(measured[segment]))
        good = fraction >= options.min_measured_fraction
        per_segment[str(segment)] = "diagnostic" if good else "non-diagnostic"
        if not good:
            score = "limited"
            notes.append(f"segment {segment}: lumen measurable along {100 * fraction:.0f} % only")
    return ImageQuality(score=score, notes=notes, per_segment=per_segment)


def summary_lines(findings: Findings) -> list[str]:
    """A short human-readable summary (per vessel, lesions, grade) for the CLI."""
    lines = []
    by_vessel: dict[int, list[Lesion]] = {}
    for lesion in findings.lesions:
        by_vessel.setdefault(lesion.vessel_id, []).append(lesion)
    for vessel in findings.vessels:
        if not vessel.name or vessel.name in ("other", "septal"):
            continue
        length = vessel.profile.s_mm[-1] if vessel.profile and vessel.profile.s_mm else 0.0
        found = by_vessel.get(vessel.vessel_id, [])
        worst = max((les.pct_diameter_stenosis for les in found), default=0.0)
        lines.append(
            f"  {vessel.name:<6} {length:6.1f} mm  lesions {len(found)}  "
            f"max stenosis {worst:4.0f} %"
        )
        for lesion in found:
            plaque: Any = lesion.plaque
            kind = plaque.composition if plaque else "?"
            hrp = (
                f" [{', '.join(plaque.high_risk_features)}]"
                if plaque and plaque.high_risk_features
                else ""
            )
            lines.append(
                f"      segment {lesion.segment}: {lesion.pct_diameter_stenosis:.0f} % "
                f"({lesion.grade or '-'}), {lesion.length_mm:.1f} mm, {kind}{hrp}"
            )
    grade = findings.grade
    if grade is not None:
        extra = "/".join(x for x in [grade.plaque_burden, *grade.modifiers] if x)
        lines.append(f"  CAD-RADS {grade.cad_rads}{'/' + extra if extra else ''}")
        lines.extend(f"    {reason}" for reason in grade.reasons)
    if findings.image_quality is not None:
        lines.append(f"  image quality: {findings.image_quality.score}")
    return lines
