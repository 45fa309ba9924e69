"""The analysis pipeline: non-cardiac inputs, a tube study end to end, a phantom study
with an oracle segmentation, and the findings.json round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_phantom import AXIAL
from plaque_phantom import PlaqueTruth, PlaqueTube, render_plaque_tube

from ccta_ai.analysis.findings import Findings
from ccta_ai.analysis.pipeline import (
    STAGES,
    Analysis,
    InjectedSegmentation,
    PipelineOptions,
    analyze,
    analyze_full,
)
from ccta_ai.imaging.volume import Volume


def _volume(hu: np.ndarray) -> Volume:
    affine = np.eye(4)
    affine[:3, :3] = AXIAL
    return Volume(hu.astype(np.float32), affine)


def _never_called(volume: Volume) -> InjectedSegmentation:
    raise AssertionError("the segmenter must not run on a volume that is not a CCTA")


def _body_ct_without_contrast() -> Volume:
    """An ellipse of soft tissue (40 HU) with fat, a spine-like bone and lungs, in air."""
    shape = (60, 120, 120)
    _, r, c = np.indices(shape)
    hu = np.full(shape, -1000.0)
    body = ((r - 60) / 55.0) ** 2 + ((c - 60) / 58.0) ** 2 <= 1.0
    hu[body] = -90.0
    hu[body & (((r - 60) / 45.0) ** 2 + ((c - 60) / 48.0) ** 2 <= 1.0)] = 40.0
    hu[(np.hypot(r - 95, c - 60) < 8)] = 700.0
    hu[body & (np.hypot(r - 55, c - 35) < 14)] = -850.0
    noise = np.random.default_rng(1).normal(0.0, 12.0, shape)
    return _volume(hu + noise)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _volume(np.full((40, 60, 60), -1000.0)), "air only"),
        (_body_ct_without_contrast, "no contrast-filled blood"),
    ],
)
def test_non_cardiac_volumes_are_non_diagnostic_with_a_reason(make, reason: str) -> None:  # type: ignore[no-untyped-def]
    findings = analyze(make(), segmenter=_never_called)
    assert findings.image_quality is not None and findings.image_quality.score == "non-diagnostic"
    assert reason in findings.image_quality.notes[0]
    assert findings.grade is not None and findings.grade.cad_rads == "N"
    assert reason in findings.grade.reasons[0]
    assert findings.lesions == [] and findings.vessels == []


def _contrast_pool(shape: tuple[int, int, int]) -> np.ndarray:
    """A contrast-filled 'chamber' (a ball of 400 HU) in soft tissue: looks like a CCTA."""
    k, r, c = np.indices(shape)
    hu = np.full(shape, 40.0)
    hu[np.hypot(np.hypot(k - shape[0] / 2, r - shape[1] / 2), c - shape[2] / 2) < 25] = 400.0
    return hu


def test_a_contrast_study_without_coronaries_is_non_diagnostic_and_invents_no_lesion() -> None:
    volume = _volume(_contrast_pool((70, 80, 80)))
    blob = np.zeros(volume.shape, dtype=bool)
    blob[30:32, 30:32, 30:32] = True  # a speck of "lumen": no tree
    for lumen in (np.zeros(volume.shape, dtype=bool), blob):

        def segmenter(volume: Volume, mask: np.ndarray = lumen) -> InjectedSegmentation:
            return InjectedSegmentation(mask, np.zeros_like(mask))

        findings = analyze(volume, segmenter=segmenter)
        assert findings.grade is not None and findings.grade.cad_rads == "N"
        assert (
            findings.image_quality is not None and findings.image_quality.score == "non-diagnostic"
        )
        assert findings.lesions == []


@pytest.fixture(scope="module")
def tube_analysis() -> tuple[Analysis, PlaqueTruth, list[str], np.ndarray]:
    tube = PlaqueTube(stenosis=0.6, calcium_sector_deg=120.0, length_mm=30.0)
    volume, mask, truth = render_plaque_tube(tube)
    stages: list[str] = []
    analysis = analyze_full(
        volume,
        segmenter=lambda v: InjectedSegmentation(mask, np.zeros_like(mask), model_name="truth"),
        progress=lambda stage, index, total: stages.append(stage),
        options=PipelineOptions(min_blood_ml=0.1),  # a tube, not a heart: 0.2 ml of contrast
    )
    return analysis, truth, stages, mask


def test_tube_study_end_to_end(tube_analysis) -> None:  # type: ignore[no-untyped-def]
    analysis, truth, stages, mask = tube_analysis
    findings = analysis.findings
    assert stages == list(STAGES)
    assert {f"{stage}_s" for stage in STAGES} <= set(findings.timings_s)
    assert findings.algorithm.name == "ccta-ai" and findings.algorithm.model_name == "truth"
    assert findings.algorithm.version
    (lesion,) = [les for les in findings.lesions if les.pct_diameter_stenosis >= 25]
    assert lesion.pct_diameter_stenosis == pytest.approx(truth.pct_diameter_stenosis, abs=12)
    assert lesion.plaque is not None and lesion.plaque.composition == "mixed"
    assert findings.grade is not None
    pct = lesion.pct_diameter_stenosis  # CAD-RADS follows the measured stenosis
    assert findings.grade.cad_rads == ("2" if pct < 50 else "3" if pct < 70 else "4A")
    assert analysis.plaque_labels.dtype == np.uint8
    assert set(np.unique(analysis.plaque_labels)) == {0, 1, 2}
    assert (
        not (analysis.plaque_labels.astype(bool) & mask).any()
        or (analysis.plaque_labels[mask] != 2).all()
    )


def test_findings_json_round_trip(tube_analysis) -> None:  # type: ignore[no-untyped-def]
    findings = tube_analysis[0].findings
    text = json.dumps(findings.to_dict())
    again = Findings.from_dict(json.loads(text))
    assert again == findings
    assert again.lesions[0].plaque == findings.lesions[0].plaque


def test_phantom_study_with_oracle_segmentation_finds_the_truth_lesions() -> None:
    study_module = pytest.importorskip("ccta_ai.phantom.study")
    from ccta_ai.analysis.bench import oracle_segmenter
    from ccta_ai.analysis.evaluate import lesion_detection

    study = study_module.generate_study(SEED_WITH_LESIONS, "small")
    segmenter = oracle_segmenter(study.lumen_labels, study.anatomy_labels, study.truth)
    findings = analyze(study.ccta, segmenter=segmenter)
    # every true lesion is found (small studies, 0.65 mm voxels, underestimate tight
    # stenoses, so at any grade), with plaque that holds its calcium
    counts = lesion_detection(findings.lesions, study.truth, 0.0)
    assert counts["true"] >= 1
    assert counts["detected"] == counts["true"]
    (true_lesion,) = study.truth["lesions"]
    centre = np.array(true_lesion["center_lps_mm"])
    near = [
        les for les in findings.lesions
        if np.linalg.norm(np.array(les.mld_position_lps_mm) - centre) < true_lesion["length_mm"]
    ]  # fmt: skip
    assert any(
        les.plaque is not None and (les.plaque.calcified_volume_mm3 or 0) > 1.0 for les in near
    )
    # its distal LAD is 1.499 mm across in truth: under CAD-RADS's 1.5 mm, so the
    # grade names it and leaves it out (it was a "1" only from a false minimal plaque)
    assert findings.grade is not None and findings.grade.cad_rads in ("0", "1")
    graded_out = [r for r in findings.grade.reasons if r.startswith("Not graded:")]
    assert any("LAD" in r and "under 1.5 mm" in r for r in graded_out), graded_out
    assert findings.dominance in ("right", "left", "co")


SEED_WITH_LESIONS = 24  # one 65 % mixed plaque in the distal LAD
