"""Findings: a JSON round trip gives back an equal object; malformed input is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ccta_ai.analysis.findings import (
    AlgorithmIdentity,
    Centerline,
    Findings,
    Grade,
    ImageQuality,
    Lesion,
    LumenProfile,
    Plaque,
    Vessel,
)
from ccta_ai.errors import InputError


def _findings() -> Findings:
    centerline = Centerline(
        points_lps_mm=[[1.0, 2.0, 3.0], [1.5, 2.0, 3.25]],
        radius_mm=[1.6, 1.55],
        segment=[6, None],
        bridged=[False, True],
    )
    profile = LumenProfile(
        s_mm=[0.0, 0.5590169943749475],
        area_mm2=[8.0, None],
        min_diameter_mm=[3.1, None],
        max_diameter_mm=[3.3, None],
        equivalent_diameter_mm=[3.19, None],
        reference_diameter_mm=[3.2, 3.19],
        calcium_area_mm2=[0.0, None],
    )
    lesion = Lesion(
        vessel_id=0,
        start_s_mm=0.0,
        end_s_mm=0.5,
        mld_s_mm=0.25,
        mld_position_lps_mm=[1.2, 2.0, 3.1],
        pct_diameter_stenosis=100.0,
        pct_area_stenosis=100.0,
        mld_mm=0.0,
        mla_mm2=0.0,
        reference_diameter_mm=3.2,
        length_mm=0.5,
        occlusion=True,
        bridged=True,
        segment=6,
        plaque=Plaque(composition="mixed", volume_mm3=12.5, high_risk_features=["napkin-ring"]),
    )
    return Findings(
        series_instance_uid="1.2.3",
        frame_of_reference_uid="1.2.4",
        algorithm=AlgorithmIdentity(version="0.1.0", model_sha256="ab" * 32, parameters={"a": "1"}),
        vessels=[Vessel(vessel_id=0, centerline=centerline, profile=profile, name="LAD")],
        lesions=[lesion],
        grade=Grade(cad_rads="5", modifiers=["P2"]),
        image_quality=ImageQuality(score="diagnostic"),
        timings_s={"trace": 1.25},
        warnings=["vessel 0 was bridged over 8.0 mm"],
    )


def test_findings_survive_a_json_round_trip() -> None:
    findings = _findings()
    text = json.dumps(findings.to_dict(), allow_nan=False)
    restored = Findings.from_dict(json.loads(text))
    assert restored == findings
    assert restored.vessels[0].centerline.segment == [6, None]
    assert restored.lesions[0].plaque is not None
    assert restored.lesions[0].plaque.high_risk_features == ["napkin-ring"]


def test_empty_findings_round_trip() -> None:
    assert Findings.from_dict(json.loads(json.dumps(Findings().to_dict()))) == Findings()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema_version="99"), "schema_version"),
        (lambda d: d["vessels"][0].update(colour="red"), "unknown fields"),
        (lambda d: d["vessels"][0]["centerline"].update(radius_mm="thick"), "expected a list"),
        (lambda d: d["lesions"][0].update(pct_diameter_stenosis="50"), "expected a number"),
        (lambda d: d["lesions"][0].pop("vessel_id"), "vessel_id"),
        (lambda d: d["lesions"][0].update(occlusion=1), "expected bool"),
    ],
)
def test_malformed_findings_are_refused_with_the_path(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    data = _findings().to_dict()
    change(data)
    with pytest.raises(InputError, match=message):
        Findings.from_dict(data)
