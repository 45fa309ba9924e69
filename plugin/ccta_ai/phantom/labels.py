"""Label codes of the phantom's label maps and the SCCT coronary segment table.

``anatomy_labels.nii.gz`` holds :class:`Anatomy` codes; ``lumen_labels.nii.gz`` holds
SCCT segment numbers 1-18 (:data:`SCCT_SEGMENTS`) and :data:`OTHER_BRANCH` for coronary
lumen outside the 18-segment model. Both are documented in ``docs/truth.md``.
"""

from __future__ import annotations

from enum import IntEnum


class Anatomy(IntEnum):
    """Codes of ``anatomy_labels.nii.gz`` (0 is air outside the body)."""

    OUTSIDE = 0
    AORTA = 1
    LV_BLOOD = 2
    RV_BLOOD = 3
    LA_BLOOD = 4
    RA_BLOOD = 5
    LV_MYOCARDIUM = 6
    RV_MYOCARDIUM = 7
    PULMONARY_ARTERY = 8
    CORONARY_LUMEN = 9
    PLAQUE_CALCIFIED = 10
    PLAQUE_NONCALCIFIED = 11
    PLAQUE_LOW_ATTENUATION = 12
    EPICARDIAL_FAT = 13
    PERICARDIUM = 14
    LUNG = 15
    BONE = 16
    SOFT_TISSUE = 17
    SUBCUTANEOUS_FAT = 18
    LIVER = 19
    SYSTEMIC_VEIN = 20
    PULMONARY_VEIN = 21
    LUNG_VESSEL = 22
    AIRWAY = 23
    ESOPHAGUS = 24
    MEDIASTINAL_FAT = 25
    ATRIAL_WALL = 26
    SPINAL_CANAL = 27
    TABLE = 28
    ABDOMEN_OTHER = 29
    CARTILAGE = 30
    VESSEL_WALL = 31


# SCCT 2014 (Leipsic et al., J Cardiovasc Comput Tomogr 2014;8:342-358), table 2.
SCCT_SEGMENTS: dict[int, tuple[str, str]] = {
    1: ("pRCA", "proximal RCA: ostium to one-half the distance to the acute margin"),
    2: ("mRCA", "mid RCA: end of proximal RCA to the acute margin"),
    3: ("dRCA", "distal RCA: end of mid RCA to the origin of the PDA"),
    4: ("R-PDA", "PDA from the RCA"),
    5: ("LM", "left main: ostium to the bifurcation of LAD and LCx"),
    6: ("pLAD", "proximal LAD: end of LM to the first large septal or D1, whichever first"),
    7: ("mLAD", "mid LAD: end of proximal LAD to one-half the distance to the apex"),
    8: ("dLAD", "distal LAD: end of mid LAD to the end of the LAD"),
    9: ("D1", "first diagonal"),
    10: ("D2", "second diagonal"),
    11: ("pLCx", "proximal LCx: end of LM to the origin of OM1"),
    12: ("OM1", "first obtuse marginal"),
    13: ("dLCx", "mid/distal LCx: distal to OM1 to the end of the vessel or the L-PDA origin"),
    14: ("OM2", "second obtuse marginal"),
    15: ("L-PDA", "PDA from the LCx"),
    16: ("R-PLB", "posterolateral branch from the RCA"),
    17: ("RI", "ramus intermedius: from the LM between LAD and LCx (trifurcation)"),
    18: ("L-PLB", "posterolateral branch from the LCx"),
}

OTHER_BRANCH = 19  # lumen of septal perforators and acute marginals (no SCCT segment)

# Territory of each segment for "n-vessel disease" (CAD-RADS): branches count with
# their parent vessel; the ramus counts with the LCx; the LM stands alone.
TERRITORY: dict[int, str] = {
    1: "RCA", 2: "RCA", 3: "RCA", 4: "RCA", 16: "RCA",
    5: "LM",
    6: "LAD", 7: "LAD", 8: "LAD", 9: "LAD", 10: "LAD",
    11: "LCx", 12: "LCx", 13: "LCx", 14: "LCx", 15: "LCx", 17: "LCx", 18: "LCx",
}  # fmt: skip


def segment_name(number: int) -> str:
    """Short name of an SCCT segment (``"other"`` for :data:`OTHER_BRANCH` or 0)."""
    return SCCT_SEGMENTS[number][0] if number in SCCT_SEGMENTS else "other"
