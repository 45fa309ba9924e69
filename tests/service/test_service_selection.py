"""Selection rules: which series are CCTAs to analyse, with boundary cases."""

from __future__ import annotations

import pytest

from ccta_ai.service.selection import decide, facts_from_orthanc
from ccta_ai.service.settings import OwnOutputs, SelectionRules
from service_samples import ccta_facts

RULES = SelectionRules()
OWN = OwnOutputs()
LIMIT = 3000


@pytest.mark.parametrize(
    ("changes", "accept", "reason_part"),
    [
        ({}, True, "CCTA: CT, 256 slices of 0.6 mm"),
        # modality and SOP class
        ({"modality": "MR"}, False, "modality 'MR'"),
        ({"sop_class_uid": "1.2.840.10008.5.1.4.1.1.7"}, False, "not a CT image storage"),
        ({"sop_class_uid": "1.2.840.10008.5.1.4.1.1.2.1"}, True, "CCTA"),
        # localizers, derived and secondary images
        ({"image_type": ("ORIGINAL", "PRIMARY", "LOCALIZER")}, False, "a localizer"),
        ({"image_type": ("DERIVED", "PRIMARY", "AXIAL")}, False, "derived"),
        ({"image_type": ("ORIGINAL", "SECONDARY")}, False, "secondary"),
        ({"image_type": ("original", "primary", "localizer")}, False, "a localizer"),
        ({"series_description": "Topogram 0.6 T20f"}, False, "'topogram'"),
        ({"series_description": "CaScore 3.0 Qr36"}, False, "ca\\s?score"),
        ({"series_description": "", "protocol_name": "SmartPrep"}, False, "smart"),
        # slice thickness: ≤ 1 mm, with a hair of tolerance
        ({"slice_thickness_mm": 1.0}, True, "1 mm"),
        ({"slice_thickness_mm": 1.0009}, True, "CCTA"),
        ({"slice_thickness_mm": 1.01}, False, "slices too thick (1.01 mm > 1 mm)"),
        ({"slice_thickness_mm": 3.0}, False, "too thick"),
        ({"slice_thickness_mm": None}, False, "slice thickness not recorded"),
        # enough slices
        ({"n_slices": 64, "n_instances": 64}, True, "64 slices"),
        ({"n_slices": 63, "n_instances": 63}, False, "too few slices (63 < 64)"),
        ({"n_slices": 300, "n_instances": 1}, True, "300 slices"),  # one multi-frame
        # contrast: the tag, or the description
        ({"contrast_agent": ""}, True, "contrast named in the description"),
        ({"contrast_agent": "", "series_description": "Thorax 0.6 Br40",
          "protocol_name": "Chest", "study_description": "Chest"}, False, "no contrast"),
        ({"contrast_agent": "", "series_description": "冠脉 0.6", "protocol_name": "",
          "study_description": ""}, True, "CCTA"),
        ({"contrast_agent": " "}, True, "CCTA"),
        # never our own outputs
        ({"manufacturer": "CCTA AI"}, False, "our own output (Manufacturer"),
        ({"series_description": "CCTA AI coronary segmentation"}, False, "our own output"),
        ({"private_creators": ("CCTA AI",)}, False, "private creator"),
        ({"manufacturer": "CCTA AI phantom"}, True, "CCTA"),  # the phantom is input
        # limits
        ({"n_instances": 3000, "n_slices": 3000}, True, "CCTA"),
        ({"n_instances": 3001, "n_slices": 3001}, False, "too many instances (3001 >"),
    ],
)
def test_rules(changes: dict[str, object], accept: bool, reason_part: str) -> None:
    decision = decide(ccta_facts(**changes), RULES, OWN, LIMIT)
    assert decision.accept is accept
    assert reason_part in decision.reason


def test_the_first_failing_rule_gives_the_reason() -> None:
    decision = decide(ccta_facts(modality="MR", slice_thickness_mm=5.0), RULES, OWN, LIMIT)
    assert decision.reason.startswith("modality")


def test_force_bypasses_every_rule_but_our_own_outputs() -> None:
    localizer = ccta_facts(image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), n_slices=2)
    assert decide(localizer, RULES, OWN, LIMIT, force=True).accept
    ours = ccta_facts(manufacturer="CCTA AI")
    assert not decide(ours, RULES, OWN, LIMIT, force=True).accept


def test_rules_are_data() -> None:
    lenient = SelectionRules(max_slice_thickness_mm=1.25, min_slices=10, require_contrast=False)
    facts = ccta_facts(slice_thickness_mm=1.25, n_slices=10, contrast_agent="",
                       series_description="Thorax", protocol_name="", study_description="")
    assert decide(facts, lenient, OWN, LIMIT).accept
    assert not decide(facts, RULES, OWN, LIMIT).accept


def test_facts_from_orthanc_short_tags() -> None:
    series = {"ID": "ser", "ParentStudy": "stu", "Instances": ["a", "b", "c"],
              "MainDicomTags": {"Modality": "CT", "SeriesDescription": "CCTA 0.6",
                                "SeriesInstanceUID": "1.2.3.4"}}
    tags = {"0008,0016": "1.2.840.10008.5.1.4.1.1.2", "0008,0008": "ORIGINAL\\PRIMARY\\AXIAL",
            "0008,0070": "GE MEDICAL SYSTEMS", "0018,0010": "Omnipaque",
            "0018,0050": "0.625", "0020,000d": "1.2.3", "0029,0010": "SIEMENS CSA HEADER"}
    facts = facts_from_orthanc(series, tags)
    assert facts.orthanc_series_id == "ser" and facts.orthanc_study_id == "stu"
    assert facts.series_uid == "1.2.3.4" and facts.study_uid == "1.2.3"
    assert facts.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert facts.slice_thickness_mm == pytest.approx(0.625)
    assert facts.n_instances == 3 and facts.n_slices == 3
    assert facts.contrast_agent == "Omnipaque"
    assert facts.private_creators == ("SIEMENS CSA HEADER",)


def test_facts_from_orthanc_enhanced_ct_in_long_format() -> None:
    def long(value: object, vr: str = "String") -> dict[str, object]:
        return {"Name": "x", "Type": vr, "Value": value}

    series = {"ID": "ser", "ParentStudy": "stu", "Instances": ["a"],
              "MainDicomTags": {"Modality": "CT", "SeriesInstanceUID": "1.2.3.4"}}
    tags = {
        "0008,0008": long("ORIGINAL\\PRIMARY\\VOLUME\\NONE"),
        "0028,0008": long("240"),
        "0018,0012": long([{"0008,0100": long("C-B0322")}], "Sequence"),
        "5200,9229": long([{"0028,9110": long([{"0018,0050": long("0.5")}], "Sequence")}],
                          "Sequence"),
    }
    facts = facts_from_orthanc(series, tags)
    assert facts.n_slices == 240 and facts.n_instances == 1
    assert facts.slice_thickness_mm == pytest.approx(0.5)
    assert facts.contrast_agent == "(ContrastBolusAgentSequence)"
