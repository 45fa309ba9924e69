"""The phantom's ground truth as a JSON-ready dict (schema: ``docs/truth.md``) and the
expected CAD-RADS 2.0 grade computed from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from ccta_ai.phantom.coronary import Vessel
from ccta_ai.phantom.labels import TERRITORY
from ccta_ai.phantom.lesions import Lesion
from ccta_ai.phantom.raster import Grid
from ccta_ai.phantom.shapes import painted_radius

SCHEMA_VERSION = 1
#: Which geometry the generator draws: the same seed gives another study when it
#: changes, so kept studies (``--cache``) carry it in their names. 2: the RCA enters
#: the right AV groove where it leaves the aorta (it used to climb to the top of the
#: RV ring first and double back past its own ostium).
#: 3: the truth's vessel radii and lesions describe the lumen as painted, not as
#: drawn (a tube's vertex spheres fill the shoulders of a short, tight stenosis).
GENERATOR_REVISION = 3
HIGH_RISK_FEATURES = (
    "positive_remodelling",
    "low_attenuation",
    "spotty_calcification",
    "napkin_ring",
)


def _r(v: float, digits: int = 3) -> float:
    return float(round(float(v), digits))


def _pts(points_lps: np.ndarray) -> list[list[float]]:
    return [[_r(c) for c in p] for p in np.asarray(points_lps)]


def high_risk_features(lesion: Lesion) -> list[str]:
    flags = {
        "positive_remodelling": lesion.remodelling_index >= 1.1,
        "low_attenuation": lesion.low_attenuation,
        "spotty_calcification": lesion.spotty_calcification,
        "napkin_ring": lesion.napkin_ring,
    }
    return [name for name in HIGH_RISK_FEATURES if flags[name]]


def plaque_burden(segment_involvement_score: int) -> str | None:
    """CAD-RADS 2.0 plaque burden from the segment involvement score (SIS)."""
    if segment_involvement_score <= 0:
        return None
    if segment_involvement_score <= 2:
        return "P1"
    if segment_involvement_score <= 4:
        return "P2"
    return "P3" if segment_involvement_score <= 7 else "P4"


def cad_rads(lesions: list[dict[str, Any]]) -> dict[str, Any]:
    """CAD-RADS 2.0 category, plaque burden and modifiers from truth lesions.

    Category from the most severe stenosis: 0 no plaque; 1: 1-24 %; 2: 25-49 %;
    3: 50-69 %; 4A: 70-99 % in one or two vessels; 4B: left main >= 50 % or
    three-vessel >= 70 %; 5: total occlusion. Plaque burden P1-P4 from the segment
    involvement score (segments with any plaque: 1-2, 3-4, 5-7, >= 8). Modifier
    "HRP" when any plaque has two or more high-risk features.
    """
    if not lesions:
        return {
            "category": "0",
            "plaque_burden": None,
            "segment_involvement_score": 0,
            "modifiers": [],
            "text": "CAD-RADS 0",
        }
    worst = max(float(les["pct_diameter_stenosis"]) for les in lesions)
    severe_territories = {
        TERRITORY.get(int(les["segment"]), "other")
        for les in lesions
        if float(les["pct_diameter_stenosis"]) >= 70.0
    }
    lm_50 = any(
        int(les["segment"]) == 5 and float(les["pct_diameter_stenosis"]) >= 50.0 for les in lesions
    )
    if any(les["occlusion"] for les in lesions):
        category = "5"
    elif lm_50 or {"LAD", "LCx", "RCA"} <= severe_territories:
        category = "4B"
    elif worst >= 70.0:
        category = "4A"
    elif worst >= 50.0:
        category = "3"
    elif worst >= 25.0:
        category = "2"
    else:
        category = "1"
    sis = len({int(les["segment"]) for les in lesions})
    burden = plaque_burden(sis)
    modifiers = ["HRP"] if any(len(les["high_risk_features"]) >= 2 for les in lesions) else []
    text = "/".join([f"CAD-RADS {category}", *([burden] if burden else []), *modifiers])
    return {
        "category": category,
        "plaque_burden": burden,
        "segment_involvement_score": sis,
        "modifiers": modifiers,
        "text": text,
    }


def lesion_truth(
    lesion: Lesion,
    vessel: Vessel,
    to_lps: np.ndarray,
    volumes_mm3: dict[str, float],
) -> dict[str, Any]:
    window = lesion.window
    idx = np.flatnonzero(window > 0.0)
    ref = lesion.reference_radius
    if lesion.occlusion:
        mld, j = 0.0, lesion.center_index
    else:  # what the image holds: the painted lumen (see :func:`painted_radius`)
        radius = painted_radius(vessel.points, vessel.radius_mm)
        j = int(idx[np.argmin(radius[idx])])
        mld = 2.0 * float(radius[j])
    reference = 2.0 * float(ref[j])
    # a lumen drawn narrower than 0.1 mm is not painted: the image holds an occlusion
    occlusion = lesion.occlusion or mld <= 0.0
    pct_d = 100.0 if occlusion else 100.0 * (1.0 - mld / reference)
    pct_a = 100.0 if occlusion else 100.0 * (1.0 - (mld / reference) ** 2)
    return {
        "id": lesion.id,
        "vessel": lesion.vessel,
        "segment": lesion.segment,
        "pct_diameter_stenosis": _r(pct_d, 2),
        "pct_area_stenosis": _r(pct_a, 2),
        "mld_mm": _r(mld),
        "reference_diameter_mm": _r(reference),
        "length_mm": _r(lesion.length_mm, 2),
        "center_lps_mm": [_r(c) for c in vessel.points[lesion.center_index] + to_lps],
        "mld_lps_mm": [_r(c) for c in vessel.points[j] + to_lps],
        "plaque_type": lesion.plaque_type,
        "calcified_volume_mm3": _r(volumes_mm3["calcified"], 2),
        "non_calcified_volume_mm3": _r(volumes_mm3["non_calcified"], 2),
        "low_attenuation_volume_mm3": _r(volumes_mm3["low_attenuation"], 2),
        "remodelling_index": _r(lesion.remodelling_index),
        "eccentric": lesion.eccentric,
        "high_risk_features": high_risk_features(lesion),
        "occlusion": occlusion,
    }


def vessel_truth(vessel: Vessel, to_lps: np.ndarray) -> dict[str, Any]:
    return {
        "name": vessel.name,
        "parent": vessel.parent,
        "points_lps_mm": _pts(vessel.points + to_lps),
        "radius_mm": [_r(r) for r in painted_radius(vessel.points, vessel.radius_mm)],
        "segment": [int(s) for s in vessel.segment],
    }


def image_truth(
    grid: Grid, scan_slices: int, contrast_hu: float, noise_hu: float, patient_position: str
) -> dict[str, Any]:
    spacing = grid.spacing_mm
    return {
        "pixel_spacing_mm": [_r(spacing[1], 4), _r(spacing[2], 4)],
        "slice_spacing_mm": _r(spacing[0], 4),
        "slices": scan_slices,
        "rows": int(grid.shape[1]),
        "columns": int(grid.shape[2]),
        "contrast_hu": _r(contrast_hu, 1),
        "noise_hu": _r(noise_hu, 1),
        "patient_position": patient_position,
    }
