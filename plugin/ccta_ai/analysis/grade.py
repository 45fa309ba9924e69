"""Grade: CAD-RADS 2.0 category, plaque burden and modifiers from the lesions.

CAD-RADS 2.0 (Cury et al., J Cardiovasc Comput Tomogr 2022;16:536-557), per patient:
the category is the highest-grade lesion (table 1 of the paper, :data:`CATEGORY_TABLE`
below), plaque burden P1-P4 follows from the segment involvement score (the number of
SCCT segments holding any plaque, table 2, :data:`PLAQUE_BURDEN_TABLE`), and modifiers
add what the category alone does not say:

* ``HRP``: one plaque shows at least two high-risk features (positive remodelling,
  low-attenuation plaque, spotty calcification, napkin-ring sign). Features of different
  plaques are not added up (the paper leaves that case to the reader).
* ``N``: part of the study is non-diagnostic. When the diagnostic segments show at
  most a mild stenosis (category 0-2) obstructive disease cannot be excluded and the
  category itself is ``N``; when they show 50 % or more, the category stands and
  ``N`` is a modifier (e.g. ``4A/N``).

S (stent), G (graft), E (exceptions: non-atherosclerotic causes) and I (ischaemia) are
not produced: the analysis detects neither stents, grafts nor ischaemia.

Every deciding rule adds one sentence to :attr:`Grade.reasons` naming the lesion
(vessel, SCCT segment, site) it was applied to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccta_ai.analysis.findings import Grade, ImageQuality, Lesion, Vessel

#: CAD-RADS 2.0 table 1: (category, lowest % diameter stenosis, interpretation).
#: A lesion belongs to the last row whose lower bound it reaches; occlusion is 5.
CATEGORY_TABLE: tuple[tuple[str, float, str], ...] = (
    ("1", 0.0, "minimal stenosis (1-24 %) or plaque without stenosis"),
    ("2", 25.0, "mild stenosis (25-49 %)"),
    ("3", 50.0, "moderate stenosis (50-69 %)"),
    ("4A", 70.0, "severe stenosis (70-99 %)"),
)

#: Per-lesion stenosis grade (CAD-RADS 2.0 / SCCT grading), same bounds as above.
LESION_GRADE_TABLE: tuple[tuple[float, str], ...] = (
    (0.0, "minimal"),
    (25.0, "mild"),
    (50.0, "moderate"),
    (70.0, "severe"),
)

#: CAD-RADS 2.0 table 2: plaque burden from the segment involvement score (lowest SIS).
PLAQUE_BURDEN_TABLE: tuple[tuple[str, int], ...] = (
    ("P1", 1),
    ("P2", 3),
    ("P3", 5),
    ("P4", 8),
)

#: Order of severity of the categories (N is handled apart).
SEVERITY: dict[str, int] = {"0": 0, "1": 1, "2": 2, "3": 3, "4A": 4, "4B": 5, "5": 6}

#: Management suggestions for stable chest pain, summarised from CAD-RADS 2.0 table 3.
MANAGEMENT: dict[str, str] = {
    "0": "No further cardiac investigation; reassurance; consider non-atherosclerotic "
    "causes of chest pain.",
    "1": "Consider non-atherosclerotic causes of chest pain; consider preventive "
    "pharmacotherapy and risk factor modification.",
    "2": "Consider non-atherosclerotic causes of chest pain; preventive pharmacotherapy "
    "and risk factor modification.",
    "3": "Consider functional assessment; preventive and anti-anginal pharmacotherapy "
    "and risk factor modification; other treatments per guideline-directed care.",
    "4A": "Consider invasive coronary angiography or functional assessment; preventive "
    "and anti-anginal pharmacotherapy and risk factor modification; revascularisation "
    "per guideline-directed care.",
    "4B": "Invasive coronary angiography is recommended; preventive and anti-anginal "
    "pharmacotherapy and risk factor modification; revascularisation per "
    "guideline-directed care.",
    "5": "Consider invasive coronary angiography and/or viability assessment; "
    "preventive and anti-anginal pharmacotherapy and risk factor modification; "
    "revascularisation per guideline-directed care.",
    "N": "Obstructive coronary artery disease cannot be excluded; additional or "
    "alternative evaluation may be needed.",
}

#: The coronary territory of each SCCT segment (1-18): branches count with their parent
#: vessel, the ramus with the LCx, the left main stands alone.
TERRITORY: dict[int, str] = {
    1: "RCA", 2: "RCA", 3: "RCA", 4: "RCA", 16: "RCA",
    5: "LM",
    6: "LAD", 7: "LAD", 8: "LAD", 9: "LAD", 10: "LAD",
    11: "LCx", 12: "LCx", 13: "LCx", 14: "LCx", 15: "LCx", 17: "LCx", 18: "LCx",
}  # fmt: skip

#: Territory by vessel name, when a lesion has no segment number.
NAME_TERRITORY: dict[str, str] = {
    "RCA": "RCA", "R-PDA": "RCA", "R-PLB": "RCA",
    "LM": "LM",
    "LAD": "LAD", "D1": "LAD", "D2": "LAD",
    "LCx": "LCx", "OM1": "LCx", "OM2": "LCx", "L-PDA": "LCx", "L-PLB": "LCx", "RI": "LCx",
}  # fmt: skip

HRP_MIN_FEATURES = 2
MIN_GRADED_DIAMETER_MM = 1.5  # smaller vessels are not graded (SCCT guidelines)
SEVERE_PCT = 70.0
LEFT_MAIN_PCT = 50.0


@dataclass(frozen=True)
class GradeInputs:
    """What grading needs besides the lesions."""

    vessels: Sequence[Vessel] = ()
    segment_involvement_score: int | None = None
    image_quality: ImageQuality | None = None


def lesion_category(lesion: Lesion) -> str:
    """CAD-RADS 2.0 category of one lesion ("1" … "4A", "4B" for the left main, "5")."""
    if lesion.occlusion or lesion.pct_diameter_stenosis >= 100.0:
        return "5"
    category = CATEGORY_TABLE[0][0]
    for name, lowest, _ in CATEGORY_TABLE:
        if lesion.pct_diameter_stenosis >= lowest:
            category = name
    return category


def lesion_grade(lesion: Lesion) -> str:
    """Per-lesion stenosis grade ("minimal" … "severe", "occluded")."""
    if lesion.occlusion or lesion.pct_diameter_stenosis >= 100.0:
        return "occluded"
    grade = LESION_GRADE_TABLE[0][1]
    for lowest, name in LESION_GRADE_TABLE:
        if lesion.pct_diameter_stenosis >= lowest:
            grade = name
    return grade


def plaque_burden(segment_involvement_score: int | None) -> str:
    """P1-P4 from the segment involvement score ("" for none or 0)."""
    if not segment_involvement_score:
        return ""
    burden = ""
    for name, lowest in PLAQUE_BURDEN_TABLE:
        if segment_involvement_score >= lowest:
            burden = name
    return burden


def territory(lesion: Lesion, vessels: Sequence[Vessel]) -> str:
    """The lesion's coronary territory (LM, LAD, LCx, RCA), or a vessel tag if unnamed."""
    if lesion.segment in TERRITORY:
        return TERRITORY[lesion.segment]
    name = _vessel_name(lesion, vessels)
    return NAME_TERRITORY.get(name, f"vessel {lesion.vessel_id}")


def describe(lesion: Lesion, vessels: Sequence[Vessel]) -> str:
    """ "the 62 % stenosis in LAD segment 7 at 31.5 mm" (for reasons)."""
    what = (
        "total occlusion" if lesion.occlusion else f"{lesion.pct_diameter_stenosis:.0f} % stenosis"
    )
    name = _vessel_name(lesion, vessels) or f"vessel {lesion.vessel_id}"
    where = f" segment {lesion.segment}" if lesion.segment is not None else ""
    return f"the {what} in {name}{where} at {lesion.mld_s_mm:.1f} mm"


def _vessel_name(lesion: Lesion, vessels: Sequence[Vessel]) -> str:
    for vessel in vessels:
        if vessel.vessel_id == lesion.vessel_id:
            return vessel.name
    return ""


def grade_study(lesions: Sequence[Lesion], inputs: GradeInputs | None = None) -> Grade:
    """The study's CAD-RADS 2.0 grade; also sets each lesion's ``grade``."""
    inputs = inputs or GradeInputs()
    vessels = inputs.vessels
    reasons: list[str] = []
    quality = inputs.image_quality
    if quality is not None and quality.score == "non-diagnostic":
        why = "; ".join(quality.notes) or "the image quality is non-diagnostic"
        return Grade(
            cad_rads="N",
            reasons=[f"CAD-RADS N: the study is non-diagnostic ({why})."],
            management=MANAGEMENT["N"],
        )
    for lesion in lesions:
        lesion.grade = lesion_grade(lesion)
    skipped: list[str] = []
    lesions = _gradable(lesions, vessels, skipped)
    category = "0"
    if not lesions:
        reasons.append("CAD-RADS 0: no plaque and no stenosis was found.")
    else:
        worst = max(
            lesions, key=lambda item: (SEVERITY[lesion_category(item)], item.pct_diameter_stenosis)
        )
        category = lesion_category(worst)
        row = {name: text for name, _, text in CATEGORY_TABLE}
        if category == "5":
            reasons.append(f"CAD-RADS 5: {describe(worst, vessels)} is a total occlusion.")
        else:
            reasons.append(
                f"CAD-RADS {category}: the highest-grade lesion is {describe(worst, vessels)} "
                f"({row[category]})."
            )
        category = _left_main_or_three_vessel(lesions, vessels, category, reasons)
    burden = plaque_burden(inputs.segment_involvement_score) if category != "0" else ""
    if burden:
        reasons.append(
            f"Plaque burden {burden}: {inputs.segment_involvement_score} segment(s) hold plaque "
            "(segment involvement score)."
        )
    modifiers: list[str] = []
    high_risk = [
        lesion for lesion in lesions
        if lesion.plaque is not None and len(lesion.plaque.high_risk_features) >= HRP_MIN_FEATURES
    ]  # fmt: skip
    if high_risk:
        modifiers.append("HRP")
        first = high_risk[0]
        assert first.plaque is not None
        reasons.append(
            f"Modifier HRP: the plaque of {describe(first, vessels)} has "
            f"{', '.join(first.plaque.high_risk_features)}."
        )
    bad = sorted(
        seg
        for seg, state in (quality.per_segment.items() if quality else [])
        if state == "non-diagnostic"
    )
    if bad:
        listed = ", ".join(bad)
        if SEVERITY[category] < SEVERITY["3"]:
            reasons.append(
                f"CAD-RADS N: segment(s) {listed} are non-diagnostic and the diagnostic ones show "
                f"at most CAD-RADS {category}, so obstructive disease cannot be excluded."
            )
            category = "N"
        else:
            modifiers.append("N")
            reasons.append(f"Modifier N: segment(s) {listed} are non-diagnostic.")
    reasons.extend(skipped)
    return Grade(
        cad_rads=category,
        modifiers=modifiers,
        plaque_burden=burden,
        segment_involvement_score=inputs.segment_involvement_score,
        reasons=reasons,
        management=MANAGEMENT[category],
    )


def _gradable(
    lesions: Sequence[Lesion], vessels: Sequence[Vessel], reasons: list[str]
) -> list[Lesion]:
    """The lesions CAD-RADS grades: in vessels of at least ``MIN_GRADED_DIAMETER_MM``
    and, once segments are labelled, in one of the 18 SCCT segments (not in septal
    perforators or unnamed twigs). Each left-out lesion adds a reason. The size rule
    holds for occlusions too: a lumen lost where the vessel around it is under 1.5 mm
    is at CT's resolution limit (the segmentation breaks there as readily as the
    lumen does), and a 5 for it would send a patient to the cath lab for a twig."""
    labelled = any(lesion.segment is not None for lesion in lesions)
    kept = []
    for lesion in lesions:
        if lesion.reference_diameter_mm < MIN_GRADED_DIAMETER_MM:
            reasons.append(
                f"Not graded: {describe(lesion, vessels)} lies in a vessel of "
                f"{lesion.reference_diameter_mm:.1f} mm (under {MIN_GRADED_DIAMETER_MM} mm)."
            )
        elif labelled and lesion.segment is None:
            reasons.append(
                f"Not graded: {describe(lesion, vessels)} lies outside the 18 SCCT segments."
            )
        else:
            kept.append(lesion)
    return kept


def _left_main_or_three_vessel(
    lesions: Sequence[Lesion], vessels: Sequence[Vessel], category: str, reasons: list[str]
) -> str:
    """Upgrade to 4B for a left main stenosis >= 50 % or three-vessel severe disease."""
    if category == "5":
        return category
    left_main = [
        lesion for lesion in lesions
        if territory(lesion, vessels) == "LM" and lesion.pct_diameter_stenosis >= LEFT_MAIN_PCT
    ]  # fmt: skip
    if left_main:
        reasons.append(
            f"CAD-RADS 4B: {describe(left_main[0], vessels)} is a left main stenosis "
            "of 50 % or more."
        )
        return "4B"
    severe: dict[str, Lesion] = {}
    for lesion in lesions:
        if lesion.pct_diameter_stenosis >= SEVERE_PCT or lesion.occlusion:
            severe.setdefault(territory(lesion, vessels), lesion)
    main = [name for name in ("LAD", "LCx", "RCA") if name in severe]
    if len(main) == 3:
        listed = "; ".join(describe(severe[name], vessels) for name in main)
        reasons.append(f"CAD-RADS 4B: severe (>= 70 %) stenosis in all three vessels ({listed}).")
        return "4B"
    return category
