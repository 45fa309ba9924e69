"""Every code the SEG and the SR use, in one place (STYLE.md habit 4).

Standard concepts come from :data:`pydicom.sr.codedict.codes`. Concepts the standard
does not have (CAD-RADS 2.0's plaque burden P1-P4, HRP and its features, some plaque
volumes) are private codes under the coding scheme :data:`PRIVATE_SCHEME`, which the SR
declares in its Coding Scheme Identification Sequence (:func:`coding_scheme_item`).

Two standard concepts are built from their parts here because pydicom 3.0's code
dictionary lacks or misspells them; both are quoted from PS3.16:

* (C0034375, UMLS, "Qualitative Evaluations"): TID 1500 row 12.
* (130721, DCM, "Coronary Artery Disease Assessment Modifier"): pydicom spells the
  meaning "oronary ..."; the value comes from pydicom, the meaning from PS3.16 D.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ccta_ai.errors import InputError

PRIVATE_SCHEME = "99CCTAAI"
PRIVATE_SCHEME_NAME = "CCTA AI private codes (CAD-RADS 2.0 concepts absent from DICOM)"
PRIVATE_SCHEME_VERSION = "1"


def private(value: str, meaning: str) -> Code:
    """A code of :data:`PRIVATE_SCHEME`."""
    return Code(value, PRIVATE_SCHEME, meaning)


def coding_scheme_item() -> hd.coding_schemes.CodingSchemeIdentificationItem:
    """The Coding Scheme Identification Sequence item (C.12.1.1.3) declaring our scheme."""
    return hd.coding_schemes.CodingSchemeIdentificationItem(
        designator=PRIVATE_SCHEME,
        name=PRIVATE_SCHEME_NAME,
        version=PRIVATE_SCHEME_VERSION,
        responsible_organization="CCTA AI project",
    )


#: TID 1500 "Procedure reported" (CID 100). CID 100 has no coronary CT angiography
#: concept (PixelMed reports any code outside it as an Error), hence the CT code.
PROCEDURE_REPORTED = codes.cid100.CTUnspecifiedBodyRegion
DEVICE_OBSERVER = codes.cid270.Device


# --- Anatomy: SCCT segment number -> CID 3014 (Coronary Artery Segment) -------------
_3014 = codes.cid3014
SCCT_SEGMENT_CODES: dict[int, Code] = {
    1: _3014.ProximalRightCoronaryArtery,
    2: _3014.MidRightCoronaryArtery,
    3: _3014.DistalRightCoronaryArtery,
    4: _3014.PosteriorDescendingRightCoronaryArtery,
    5: _3014.LeftMainCoronaryArtery,
    6: _3014.ProximalLeftAnteriorDescendingCoronaryArtery,
    7: _3014.MidLeftAnteriorDescendingCoronaryArtery,
    8: _3014.DistalLeftAnteriorDescendingCoronaryArtery,
    9: _3014._1stDiagonalCoronaryArtery,
    10: _3014._2ndDiagonalCoronaryArtery,
    11: _3014.ProximalCircumflexCoronaryArtery,
    12: _3014._1stMarginalCoronaryArtery,
    13: _3014.DistalCircumflexCoronaryArtery,  # SCCT 13 "mid/distal LCx"
    14: _3014._2ndMarginalCoronaryArtery,
    15: _3014.LeftPosteriorDescendingCircumflexCoronaryArtery,
    16: _3014._1stRightPosterolateralCoronaryArtery,
    17: _3014.IntermediateArteryRamus,
    18: _3014._1stLeftPosterolateralCoronaryArtery,
}
#: Lumen outside the 18-segment model (septal perforators, acute marginals...).
CORONARY_ARTERY = codes.cid7151.CoronaryArtery

#: Named vessels -> CID 3016 (main arteries) or CID 3014 (branches).
VESSEL_CODES: dict[str, Code] = {
    "LM": codes.cid3016.LeftMainCoronaryArtery,
    "LAD": codes.cid3016.LeftAnteriorDescendingCoronaryArtery,
    "LCX": codes.cid3016.CircumflexCoronaryArtery,
    "RCA": codes.cid3016.RightCoronaryArtery,
    "D1": _3014._1stDiagonalCoronaryArtery,
    "D2": _3014._2ndDiagonalCoronaryArtery,
    "D3": _3014._3rdDiagonalCoronaryArtery,
    "OM1": _3014._1stMarginalCoronaryArtery,
    "OM2": _3014._2ndMarginalCoronaryArtery,
    "OM3": _3014._3rdMarginalCoronaryArtery,
    "RI": _3014.IntermediateArteryRamus,
    "R-PDA": _3014.PosteriorDescendingRightCoronaryArtery,
    "L-PDA": _3014.LeftPosteriorDescendingCircumflexCoronaryArtery,
    "R-PLB": _3014._1stRightPosterolateralCoronaryArtery,
    "L-PLB": _3014._1stLeftPosterolateralCoronaryArtery,
    "S1": _3014._1stSeptalCoronaryArtery,
}


def segment_code(scct_number: int | None) -> Code:
    """CID 3014 code of an SCCT segment; :data:`CORONARY_ARTERY` for none or 19."""
    if scct_number is None:
        return CORONARY_ARTERY
    return SCCT_SEGMENT_CODES.get(scct_number, CORONARY_ARTERY)


def vessel_code(name: str, segments: list[int | None]) -> Code:
    """Code of a named vessel; unnamed ones take their most frequent SCCT segment."""
    if name.upper() in VESSEL_CODES:
        return VESSEL_CODES[name.upper()]
    known = [s for s in segments if s is not None]
    if not known:
        return CORONARY_ARTERY
    return segment_code(max(set(known), key=known.count))


# --- SEG property categories and types (CID 7150 / 7151) ----------------------------
ANATOMICAL_STRUCTURE = codes.cid7150.AnatomicalStructure
ABNORMAL_STRUCTURE = codes.cid7150.MorphologicallyAbnormalStructure
CALCIFIED_PLAQUE = codes.SCT.CalcifiedAtheromatousPlaque
NON_CALCIFIED_PLAQUE = codes.SCT.Atheroma
ALGORITHM_FAMILY = codes.cid7162.ArtificialIntelligence

# --- Plaque (CID 3802 Plaque Type, as "Associated morphology") ----------------------
PLAQUE_TYPE = codes.SCT.AssociatedMorphology
PLAQUE_TYPE_CODES: dict[str, Code] = {
    "calcified": codes.cid3802.PathologicCalcification,
    "non-calcified": codes.cid3802.NonCalcified,
    "mixed": codes.cid3802.Mixed,
}
HIGH_RISK_FEATURE = private("HRPF", "High-risk plaque feature")
_POSITIVE_REMODELING = private("HRPF-PR", "Positive remodeling")
HIGH_RISK_FEATURE_CODES: dict[str, Code] = {
    "positive remodelling": _POSITIVE_REMODELING,  # ccta_ai.analysis.plaque's spelling
    "positive remodeling": _POSITIVE_REMODELING,
    "low-attenuation plaque": private("HRPF-LAP", "Low-attenuation plaque"),
    "napkin-ring sign": private("HRPF-NRS", "Napkin-ring sign"),
    "spotty calcification": private("HRPF-SC", "Spotty calcification"),
}

# --- Findings and measurements -------------------------------------------------------
STENOSIS = codes.SCT.Stenosis
OCCLUSION = codes.SCT.Occlusion
VESSEL_LUMEN = codes.cid7151.LumenOfBloodVessel
CORONARY_TREE = CORONARY_ARTERY
PCT_DIAMETER_STENOSIS = codes.SCT.LumenDiameterStenosis
PCT_AREA_STENOSIS = codes.SCT.LumenAreaStenosis
DIAMETER_METHOD = codes.cid3804.DiameterBasedMethod
AREA_METHOD = codes.cid3804.AreaBasedMethod
LUMEN_DIAMETER = codes.SCT.VesselLumenDiameter
LUMEN_AREA = codes.SCT.VesselLumenCrossSectionalArea
MINIMUM = codes.SCT.Minimum
MAXIMUM = codes.SCT.Maximum
REFERENCE_DIAMETER = private("REFD", "Reference lumen diameter")
LESION_LENGTH = codes.SCT.StenoticLesionLength
VESSEL_LENGTH = codes.SCT.LengthOfSegment
PLAQUE_VOLUME = codes.DCM.NativePlaqueVolume
CALCIFIED_VOLUME = codes.DCM.CalciumVolume
NON_CALCIFIED_VOLUME = private("NCPV", "Non-calcified plaque volume")
LOW_ATTENUATION_VOLUME = private("LAPV", "Low-attenuation plaque volume")
REMODELING_INDEX = codes.DCM.RemodelingIndex
SEGMENT_INVOLVEMENT_SCORE = private("SIS", "Segment involvement score")
DOMINANCE = private("DOM", "Coronary artery dominance")
DOMINANCE_CODES: dict[str, Code] = {
    "right": codes.SCT.RightCoronaryDominance,
    "left": codes.SCT.LeftCoronaryDominance,
    "co": codes.SCT.BalancedCoronaryDominance,
}

# --- Units (UCUM) --------------------------------------------------------------------
PERCENT = codes.UCUM.Percent
MM = codes.UCUM.Millimeter
MM2 = codes.UCUM.SquareMillimeter
MM3 = codes.UCUM.CubicMillimeter
NO_UNITS = codes.UCUM.NoUnits

# --- CAD-RADS (CID 3020-3022; CAD-RADS 2.0 additions private) ------------------------
QUALITATIVE_EVALUATIONS = hd.sr.CodedConcept("C0034375", "UMLS", "Qualitative Evaluations")
CAD_RADS_CATEGORY = codes.DCM.CoronaryArteryDiseaseAssessment
CAD_RADS_MODIFIER = hd.sr.CodedConcept(
    codes.DCM.OronaryArteryDiseaseAssessmentModifier.value,
    "DCM",
    "Coronary Artery Disease Assessment Modifier",
)
CAD_RADS_STENOSIS_MODIFIER = codes.DCM.CoronaryArteryDiseaseStenosisAssessmentModifier
PLAQUE_BURDEN = private("PB", "CAD-RADS 2.0 plaque burden")
GRADE_REASON = private("REASON", "Reason for CAD-RADS assessment")
MANAGEMENT = codes.DCM.Recommendation

_3020 = codes.cid3020
CAD_RADS_CODES: dict[str, Code] = {
    "0": _3020._0DocumentedAbsenceOfCAD,
    "1": _3020._1MinimalNonObstructiveCAD,
    "2": _3020._2MildNonObstructiveCAD,
    "3": _3020._3ModerateStenosis,
    "4": _3020._4SevereStenosis,
    "5": _3020._5TotalCoronaryOcclusion,
    "N": _3020.NNonDiagnosticStudy,
}
CAD_RADS_4_CODES: dict[str, Code] = {
    "4A": codes.cid3021._4ASevereStenosis,
    "4B": codes.cid3021._4BSevereStenosis,
}
CAD_RADS_MODIFIER_CODES: dict[str, Code] = {
    "N": codes.cid3022.NNonDiagnosticSegments,
    "S": codes.cid3022.SStent,
    "G": codes.cid3022.GGraft,
    "HRP": private("HRP", "HRP - High-risk plaque"),
    "I+": private("I+", "I+ - Ischemia present"),
    "I-": private("I-", "I- - No ischemia"),
    "I+/-": private("I+/-", "I+/- - Ischemia borderline"),
    "E": private("E", "E - Exceptions"),
}
PLAQUE_BURDEN_CODES: dict[str, Code] = {
    f"P{n}": private(f"P{n}", f"P{n} - {text} plaque burden")
    for n, text in ((1, "Mild"), (2, "Moderate"), (3, "Severe"), (4, "Extensive"))
}


#: Per-lesion stenosis grades (``Lesion.grade``, CAD-RADS 2.0 table 1 wording) -> CID 3020.
LESION_GRADE_CODES: dict[str, Code] = {
    "none": _3020._0DocumentedAbsenceOfCAD,
    "minimal": _3020._1MinimalNonObstructiveCAD,
    "mild": _3020._2MildNonObstructiveCAD,
    "moderate": _3020._3ModerateStenosis,
    "severe": _3020._4SevereStenosis,
    "occluded": _3020._5TotalCoronaryOcclusion,
}


def lesion_grade_codes(grade: str) -> tuple[Code, Code | None]:
    """CID 3020 (and 3021) codes of a lesion's grade: a word of
    :data:`LESION_GRADE_CODES` or a CAD-RADS category.

    Raises:
        InputError: neither.
    """
    word = grade.strip().lower()
    if word in LESION_GRADE_CODES:
        return LESION_GRADE_CODES[word], None
    try:
        return cad_rads_codes(grade)
    except InputError:
        known = sorted(LESION_GRADE_CODES)
        raise InputError(
            f"unknown lesion grade {grade!r}; known: {known} or a CAD-RADS category"
        ) from None


def cad_rads_codes(category: str) -> tuple[Code, Code | None]:
    """The CID 3020 code of a CAD-RADS category and, for 4A/4B, its CID 3021 code.

    Raises:
        InputError: ``category`` is not one of 0-5, 4A, 4B, N.
    """
    key = category.strip().upper().removeprefix("CAD-RADS").strip()
    if key in CAD_RADS_4_CODES:
        return CAD_RADS_CODES["4"], CAD_RADS_4_CODES[key]
    if key in CAD_RADS_CODES:
        return CAD_RADS_CODES[key], None
    known = sorted([*CAD_RADS_CODES, *CAD_RADS_4_CODES])
    raise InputError(f"unknown CAD-RADS category {category!r}; known: {known}")


def lookup(table: dict[str, Code], key: str, what: str) -> Code:
    """``table[key]`` (case-insensitive), or an :class:`InputError` naming ``what``."""
    normal = {k.upper(): v for k, v in table.items()}
    try:
        return normal[key.strip().upper()]
    except KeyError:
        raise InputError(f"unknown {what} {key!r}; known: {sorted(table)}") from None
