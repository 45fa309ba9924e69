"""CAD-RADS 2.0 grading: the tables at their boundaries, 4B rules, modifiers, reasons."""

from __future__ import annotations

import pytest

from ccta_ai.analysis.findings import ImageQuality, Lesion, Plaque
from ccta_ai.analysis.grade import MANAGEMENT, GradeInputs, grade_study, plaque_burden


def lesion(pct: float, segment: int | None = 7, occlusion: bool = False, vessel_id: int = 0,
           features: list[str] | None = None) -> Lesion:  # fmt: skip
    return Lesion(
        vessel_id=vessel_id,
        start_s_mm=10.0,
        end_s_mm=20.0,
        mld_s_mm=15.0,
        mld_position_lps_mm=[0.0, 0.0, 0.0],
        pct_diameter_stenosis=pct,
        pct_area_stenosis=100.0 * (1.0 - (1.0 - pct / 100.0) ** 2),
        mld_mm=1.0,
        mla_mm2=1.0,
        reference_diameter_mm=3.0,
        length_mm=10.0,
        occlusion=occlusion,
        segment=segment,
        plaque=Plaque(composition="non-calcified", high_risk_features=features or []),
    )


@pytest.mark.parametrize(
    ("pct", "category", "lesion_grade"),
    [
        (1.0, "1", "minimal"),
        (24.9, "1", "minimal"),
        (25.0, "2", "mild"),
        (49.9, "2", "mild"),
        (50.0, "3", "moderate"),
        (69.9, "3", "moderate"),
        (70.0, "4A", "severe"),
        (99.0, "4A", "severe"),
    ],
)
def test_category_follows_the_highest_stenosis_at_the_table_boundaries(
    pct: float, category: str, lesion_grade: str
) -> None:
    found = [lesion(pct), lesion(0.5, segment=2)]
    grade = grade_study(found, GradeInputs(segment_involvement_score=2))
    assert grade.cad_rads == category
    assert found[0].grade == lesion_grade
    assert grade.management == MANAGEMENT[category]
    assert grade.reasons[0].startswith(f"CAD-RADS {category}:")
    assert "segment 7" in grade.reasons[0]


def test_no_lesion_is_cad_rads_0_without_plaque_burden() -> None:
    grade = grade_study([], GradeInputs(segment_involvement_score=0))
    assert (grade.cad_rads, grade.plaque_burden, grade.modifiers) == ("0", "", [])
    assert "no plaque" in grade.reasons[0]


def test_occlusion_is_5_even_beside_three_vessel_disease() -> None:
    found = [
        lesion(80.0, segment=7),
        lesion(75.0, segment=13),
        lesion(100.0, segment=2, occlusion=True),
    ]
    grade = grade_study(found)
    assert grade.cad_rads == "5"
    assert "total occlusion" in grade.reasons[0]
    assert found[2].grade == "occluded"


@pytest.mark.parametrize(
    ("stenoses", "category"),
    [
        ([(50.0, 5)], "4B"),  # left main >= 50 %
        ([(49.0, 5)], "2"),  # left main just below
        ([(72.0, 6), (71.0, 11), (70.0, 1)], "4B"),  # three-vessel severe disease
        ([(72.0, 6), (71.0, 12), (69.0, 1)], "4A"),  # only two vessels >= 70 %
        ([(72.0, 6), (75.0, 9)], "4A"),  # LAD and its diagonal are one vessel
        ([(72.0, 7), (71.0, 17), (70.0, 16)], "4B"),  # ramus counts with LCx, PLB with RCA
    ],
)
def test_left_main_and_three_vessel_rules(stenoses: list[tuple[float, int]], category: str) -> None:
    grade = grade_study([lesion(pct, segment=seg) for pct, seg in stenoses])
    assert grade.cad_rads == category
    if category == "4B":
        assert any(reason.startswith("CAD-RADS 4B") for reason in grade.reasons)


@pytest.mark.parametrize(
    ("score", "burden"),
    [
        (0, ""),
        (1, "P1"),
        (2, "P1"),
        (3, "P2"),
        (4, "P2"),
        (5, "P3"),
        (7, "P3"),
        (8, "P4"),
        (15, "P4"),
    ],
)
def test_plaque_burden_from_segment_involvement_score(score: int, burden: str) -> None:
    assert plaque_burden(score) == burden
    grade = grade_study([lesion(30.0)], GradeInputs(segment_involvement_score=score))
    assert grade.plaque_burden == burden
    assert grade.segment_involvement_score == score


@pytest.mark.parametrize(
    ("features", "hrp"),
    [
        ([], False),
        (["positive remodelling"], False),
        (["positive remodelling", "low-attenuation plaque"], True),
        (["spotty calcification", "low-attenuation plaque", "napkin-ring sign"], True),
    ],
)
def test_hrp_needs_two_features_in_one_plaque(features: list[str], hrp: bool) -> None:
    grade = grade_study(
        [lesion(40.0, features=features), lesion(30.0, segment=2, features=features[:1])]
    )
    assert ("HRP" in grade.modifiers) is hrp
    assert any(reason.startswith("Modifier HRP") for reason in grade.reasons) is hrp


def test_non_diagnostic_segments_make_category_n_unless_a_lesion_is_obstructive() -> None:
    quality = ImageQuality(score="limited", per_segment={"7": "diagnostic", "13": "non-diagnostic"})
    mild = grade_study([lesion(40.0)], GradeInputs(image_quality=quality))
    assert mild.cad_rads == "N" and mild.modifiers == []
    assert "13" in mild.reasons[-1] and mild.management == MANAGEMENT["N"]
    severe = grade_study([lesion(75.0)], GradeInputs(image_quality=quality))
    assert severe.cad_rads == "4A" and severe.modifiers == ["N"]


def test_a_non_diagnostic_study_is_n_whatever_the_lesions() -> None:
    quality = ImageQuality(score="non-diagnostic", notes=["no coronary tree was found"])
    grade = grade_study([lesion(90.0)], GradeInputs(image_quality=quality))
    assert grade.cad_rads == "N"
    assert "no coronary tree was found" in grade.reasons[0]


def test_small_vessels_and_unlabelled_branches_are_not_graded() -> None:
    small = lesion(80.0, segment=10)
    small.reference_diameter_mm = 1.2
    septal = lesion(100.0, segment=None, occlusion=True)
    grade = grade_study([lesion(30.0, segment=7), small, septal])
    assert grade.cad_rads == "2"
    assert sum(reason.startswith("Not graded") for reason in grade.reasons) == 2
    assert "1.2 mm" in " ".join(grade.reasons)


def test_an_occlusion_in_a_vessel_under_1_5_mm_is_not_graded() -> None:
    """A lumen lost at the tip of a 1.4 mm distal LAD (a break of the segmentation
    bridged through tissue, seed 100017) made the study a CAD-RADS 5."""
    tip = lesion(100.0, segment=8, occlusion=True)
    tip.reference_diameter_mm = 1.4
    grade = grade_study([lesion(40.0, segment=8), tip])
    assert grade.cad_rads == "2"
    assert any(r.startswith("Not graded") and "1.4 mm" in r for r in grade.reasons)
    kept = lesion(100.0, segment=8, occlusion=True)
    kept.reference_diameter_mm = 1.7
    assert grade_study([lesion(40.0, segment=8), kept]).cad_rads == "5"
