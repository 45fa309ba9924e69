"""TID 1500 SR conformance and content: dciodvfy, PixelMed DicomSRValidator, dcentvfy
over source + SEG + SR, highdicom ``srread`` and dcmqi ``tid1500reader`` read-backs,
deterministic identity."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import Comprehensive3DSRStorage

from ccta_ai.dicom_out import coding
from ccta_ai.dicom_out.seg import build_seg, segment_number_for
from ccta_ai.dicom_out.sr import build_sr
from ccta_ai.errors import InputError
from findings_samples import MODEL_SHA256, SampleCase, sample_case

PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
JAVA_XML_LIMITS = [
    "-Djdk.xml.xpathExprOpLimit=0",
    "-Djdk.xml.xpathExprGrpLimit=0",
    "-Djdk.xml.xpathTotalOpLimit=0",
]


@dataclass
class Outputs:
    case: SampleCase
    seg_path: Path
    sr_path: Path
    seg: Dataset
    sr: Any  # highdicom's srread result (its content has the TID 1500 accessors)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    case = sample_case(tmp_path_factory.mktemp("sr-case"))
    out = tmp_path_factory.mktemp("sr")
    seg = build_seg(
        case.findings, case.volume, case.datasets, case.segment_labels, case.plaque_labels
    )
    seg.save_as(out / "seg.dcm")
    sr = build_sr(case.findings, case.datasets, seg)
    sr.save_as(out / "sr.dcm")
    return Outputs(case, out / "seg.dcm", out / "sr.dcm", seg, hd.sr.srread(out / "sr.dcm"))


@pytest.fixture(scope="module")
def pixelmed_output(outputs: Outputs) -> str:
    """PixelMed's DicomSRValidator report on the SR (one run, ~10-16 s)."""
    if not PIXELMED_JAR.exists():
        pytest.fail(f"{PIXELMED_JAR} is missing (apt-get install libpixelmed-java)")
    result = subprocess.run(
        [_tool("java"), *JAVA_XML_LIMITS, "-cp", str(PIXELMED_JAR),
         "com.pixelmed.validate.DicomSRValidator", str(outputs.sr_path)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    return result.stdout + result.stderr


def _all_groups(sr: Any) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    return list(sr.content.get_image_measurement_groups())


def _group(sr: Any, prefix: str) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    (group,) = [g for g in _all_groups(sr) if str(g.tracking_identifier).startswith(prefix)]
    return group


def _value(group: hd.sr.MeasurementsAndQualitativeEvaluations, name: coding.Code,
           derivation: coding.Code | None = None) -> tuple[float, str]:  # fmt: skip
    matches = [
        m for m in group.get_measurements(name=name)
        if derivation is None or m.derivation == derivation
    ]  # fmt: skip
    assert len(matches) == 1, [m.name for m in group.get_measurements()]
    return float(matches[0].value), matches[0].unit.value


def test_sr_passes_dciodvfy(outputs: Outputs, dciodvfy: Callable[[Path], list[str]]) -> None:
    assert dciodvfy(outputs.sr_path) == []


@pytest.mark.slow
def test_sr_passes_pixelmed_sr_validator(pixelmed_output: str) -> None:
    assert "Found Root Template TID_1500" in pixelmed_output
    errors = [line for line in pixelmed_output.splitlines() if line.startswith("Error")]
    assert errors == []


def test_dcentvfy_finds_source_seg_and_sr_consistent(outputs: Outputs) -> None:
    files = [str(p) for p in outputs.case.paths] + [str(outputs.seg_path), str(outputs.sr_path)]
    result = subprocess.run(
        [_tool("dcentvfy"), *files], capture_output=True, text=True, check=False
    )
    lines = (result.stdout + result.stderr).splitlines()
    assert [line for line in lines if "Error" in line] == []


def test_lesion_groups_hold_the_numbers_with_ucum_units(outputs: Outputs) -> None:
    findings = outputs.case.findings
    for index, lesion in enumerate(findings.lesions):
        group = _group(outputs.sr, f"Lesion {index + 1} ")
        assert group.finding_type == coding.STENOSIS
        (site,) = group.finding_sites
        assert site.value == coding.SCCT_SEGMENT_CODES[lesion.segment or 0]
        assert _value(group, coding.PCT_DIAMETER_STENOSIS) == (lesion.pct_diameter_stenosis, "%")
        assert _value(group, coding.PCT_AREA_STENOSIS) == (lesion.pct_area_stenosis, "%")
        assert _value(group, coding.LUMEN_DIAMETER, coding.MINIMUM) == (lesion.mld_mm, "mm")
        assert _value(group, coding.LUMEN_AREA, coding.MINIMUM) == (lesion.mla_mm2, "mm2")
        assert _value(group, coding.REFERENCE_DIAMETER) == (lesion.reference_diameter_mm, "mm")
        assert _value(group, coding.LESION_LENGTH) == (pytest.approx(lesion.length_mm), "mm")
        plaque = lesion.plaque
        assert plaque is not None
        assert _value(group, coding.CALCIFIED_VOLUME) == (plaque.calcified_volume_mm3, "mm3")
        assert _value(group, coding.NON_CALCIFIED_VOLUME) == (
            plaque.non_calcified_volume_mm3, "mm3")  # fmt: skip
        evaluations = {e.name: e.value for e in group.get_qualitative_evaluations()
                       if e.name != coding.HIGH_RISK_FEATURE}  # fmt: skip
        assert evaluations[coding.PLAQUE_TYPE] == coding.PLAQUE_TYPE_CODES[plaque.composition]
        assert evaluations[coding.CAD_RADS_CATEGORY] == coding.LESION_GRADE_CODES[lesion.grade]


def test_plaque_types_are_cid_3802_and_high_risk_features_private(outputs: Outputs) -> None:
    types = set()
    for index in range(len(outputs.case.findings.lesions)):
        group = _group(outputs.sr, f"Lesion {index + 1} ")
        for evaluation in group.get_qualitative_evaluations(name=coding.PLAQUE_TYPE):
            types.add(str(evaluation.value.value))  # type: ignore[union-attr]
    cid3802 = {getattr(coding.codes.cid3802, n).value for n in coding.codes.cid3802.dir()}
    assert types == {c.value for c in coding.PLAQUE_TYPE_CODES.values()} and types <= cid3802
    lad = _group(outputs.sr, "Lesion 1 ")
    features = {
        e.value.meaning  # type: ignore[union-attr]
        for e in lad.get_qualitative_evaluations(name=coding.HIGH_RISK_FEATURE)
    }
    assert features == {"Positive remodeling", "Low-attenuation plaque"}
    assert _value(lad, coding.REMODELING_INDEX) == (1.25, "1")


def test_lesions_reference_their_seg_segment_and_3d_points(outputs: Outputs) -> None:
    frame = outputs.case.findings.frame_of_reference_uid
    for index, lesion in enumerate(outputs.case.findings.lesions):
        group = _group(outputs.sr, f"Lesion {index + 1} ")
        (source,) = group.source_images
        reference = source.ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == outputs.seg.SOPInstanceUID
        expected = segment_number_for(outputs.seg, coding.segment_code(lesion.segment))
        assert int(reference.ReferencedSegmentNumber) == expected
        label = outputs.seg.SegmentSequence[expected - 1].SegmentLabel
        assert label.endswith(f"(SCCT {lesion.segment})")
        (mld,) = group.get_measurements(name=coding.LUMEN_DIAMETER)
        assert mld.referenced_coordinates is not None
        (point,) = mld.referenced_coordinates
        assert point and point.ReferencedFrameOfReferenceUID == frame
        assert point.GraphicType == "POINT"
        np.testing.assert_allclose(point.value, [lesion.mld_position_lps_mm], atol=1e-3)
        (length,) = group.get_measurements(name=coding.LESION_LENGTH)
        assert length.referenced_coordinates is not None
        assert length.referenced_coordinates[0].GraphicType == "POLYLINE"


def test_vessel_groups_hold_the_centreline(outputs: Outputs) -> None:
    findings = outputs.case.findings
    for vessel in findings.vessels:
        group = _group(outputs.sr, f"Vessel {vessel.name}")
        (site,) = group.finding_sites
        assert site.value == coding.vessel_code(vessel.name, vessel.centerline.segment)
        (length,) = group.get_measurements(name=coding.VESSEL_LENGTH)
        assert length.referenced_coordinates is not None
        (line,) = length.referenced_coordinates
        assert line.GraphicType == "POLYLINE"
        np.testing.assert_allclose(line.value, vessel.centerline.points_lps_mm, atol=1e-3)
    assert _group(outputs.sr, "Vessel LAD").finding_sites[0].value == (
        coding.codes.cid3016.LeftAnteriorDescendingCoronaryArtery)  # fmt: skip
    tree = {
        item.ConceptNameCodeSequence[0].CodeValue: item
        for item in _qualitative_container(outputs.sr).ContentSequence
    }
    dominance = tree[coding.DOMINANCE.value].ConceptCodeSequence[0]
    assert dominance.CodeValue == coding.codes.SCT.RightCoronaryDominance.value
    score = tree[coding.SEGMENT_INVOLVEMENT_SCORE.value].MeasuredValueSequence[0]
    assert float(score.NumericValue) == 3.0
    assert score.MeasurementUnitsCodeSequence[0].CodeValue == "1"


def test_each_lesion_points_at_its_mld_on_a_source_slice(outputs: Outputs) -> None:
    """Viewers (OHIF 3) draw only image coordinates: the % diameter stenosis of each
    lesion references a 2D POINT on the slice through its MLD, at the MLD."""
    by_uid = {str(ds.SOPInstanceUID): ds for ds in outputs.case.datasets}
    for index, lesion in enumerate(outputs.case.findings.lesions):
        group = _group(outputs.sr, f"Lesion {index + 1} ")
        (stenosis,) = group.get_measurements(name=coding.PCT_DIAMETER_STENOSIS)
        assert stenosis.referenced_coordinates is not None
        (point,) = [c for c in stenosis.referenced_coordinates if c.ValueType == "SCOORD"]
        assert point.GraphicType == "POINT"
        image = by_uid[point.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID]
        origin = np.asarray(image.ImagePositionPatient, dtype=float)
        row_dir = np.asarray(image.ImageOrientationPatient[:3], dtype=float)
        col_dir = np.asarray(image.ImageOrientationPatient[3:], dtype=float)
        column, row = (float(v) for v in point.GraphicData)
        spacing = [float(v) for v in image.PixelSpacing]
        back = origin + (column - 0.5) * spacing[1] * row_dir + (row - 0.5) * spacing[0] * col_dir
        mld = np.asarray(lesion.mld_position_lps_mm)
        normal = np.cross(row_dir, col_dir)
        in_plane = (mld - origin) - ((mld - origin) @ normal) * normal
        np.testing.assert_allclose(back - origin, in_plane, atol=1e-3)
        assert abs((mld - origin) @ normal) <= float(image.SliceThickness)


def test_tracking_uids_are_unique_and_stable(outputs: Outputs) -> None:
    uids = [g.tracking_uid for g in _all_groups(outputs.sr)]
    assert len(set(uids)) == len(uids) == 3 + 6
    again = _reread(build_sr(outputs.case.findings, outputs.case.datasets, outputs.seg))
    assert [g.tracking_uid for g in _all_groups(again)] == uids
    assert again.SOPInstanceUID == outputs.sr.SOPInstanceUID
    assert again.SeriesInstanceUID == outputs.sr.SeriesInstanceUID
    newer = replace(
        outputs.case.findings, algorithm=replace(outputs.case.findings.algorithm, version="9")
    )
    other = _reread(build_sr(newer, outputs.case.datasets))
    assert other.SOPInstanceUID != outputs.sr.SOPInstanceUID
    assert not {g.tracking_uid for g in _all_groups(other)} & set(uids)


def _reread(sr: hd.sr.Comprehensive3DSR) -> Any:
    buffer = io.BytesIO()
    sr.save_as(buffer)
    buffer.seek(0)
    return hd.sr.srread(buffer)


def _qualitative_container(sr: Dataset) -> Dataset:
    (container,) = [
        item for item in sr.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == coding.QUALITATIVE_EVALUATIONS.value
    ]  # fmt: skip
    return container


def test_cad_rads_grade_modifiers_and_reasons(outputs: Outputs) -> None:
    grade = outputs.case.findings.grade
    assert grade is not None
    items = _qualitative_container(outputs.sr).ContentSequence
    codes_by_name: dict[str, list[tuple[str, str]]] = {}
    texts = []
    for item in items:
        name = item.ConceptNameCodeSequence[0].CodeValue
        if item.ValueType == "CODE":
            code = item.ConceptCodeSequence[0]
            codes_by_name.setdefault(name, []).append((code.CodeValue, code.CodingSchemeDesignator))
        elif item.ValueType == "TEXT":
            texts.append(item.TextValue)
    four = coding.codes.cid3020._4SevereStenosis
    assert codes_by_name[coding.CAD_RADS_CATEGORY.value] == [(four.value, "DCM")]
    four_a = coding.codes.cid3021._4ASevereStenosis
    assert codes_by_name[coding.CAD_RADS_STENOSIS_MODIFIER.value] == [(four_a.value, "DCM")]
    assert codes_by_name[coding.CAD_RADS_MODIFIER.value] == [("HRP", coding.PRIVATE_SCHEME)]
    assert codes_by_name[coding.PLAQUE_BURDEN.value] == [("P2", coding.PRIVATE_SCHEME)]
    assert texts == [*grade.reasons, grade.management]


def test_header_declares_private_scheme_and_identity(outputs: Outputs) -> None:
    sr, source = outputs.sr, outputs.case.datasets[0]
    schemes = {item.CodingSchemeDesignator for item in sr.CodingSchemeIdentificationSequence}
    assert coding.PRIVATE_SCHEME in schemes
    assert sr.SeriesNumber == 902 and sr.SeriesDescription.startswith("CCTA AI")
    assert (sr.StudyInstanceUID, sr.PatientID) == (source.StudyInstanceUID, source.PatientID)
    procedures = [
        (item.ConceptCodeSequence[0].CodeValue, item.ConceptCodeSequence[0].CodingSchemeDesignator)
        for item in sr.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == coding.codes.DCM.ProcedureReported.value
    ]
    assert procedures == [("25045-6", "LN")]
    assert coding.PROCEDURE_REPORTED in [
        getattr(coding.codes.cid100, n) for n in coding.codes.cid100.dir()
    ]
    evidence = {
        ref.ReferencedSOPInstanceUID
        for study in sr.CurrentRequestedProcedureEvidenceSequence
        for series in study.ReferencedSeriesSequence
        for ref in series.ReferencedSOPSequence
    }
    assert evidence == {ds.SOPInstanceUID for ds in outputs.case.datasets} | {
        outputs.seg.SOPInstanceUID
    }


def test_observer_and_algorithm_identify_the_model(outputs: Outputs) -> None:
    (observer,) = outputs.sr.content.get_observer_contexts(observer_type=coding.DEVICE_OBSERVER)
    attributes = observer.observer_identifying_attributes
    assert attributes.name == "ccta-ai"
    assert attributes.model_name == "coronary-lumen-unet"
    for group in _all_groups(outputs.sr):
        texts = {
            (item.ConceptNameCodeSequence[0].CodeValue, item.TextValue)
            for item in group[0].ContentSequence if item.ValueType == "TEXT"
        }  # fmt: skip
        assert (coding.codes.DCM.AlgorithmName.value, "ccta-ai") in texts
        assert (coding.codes.DCM.AlgorithmVersion.value, "0.1.0") in texts
        parameters = [t for n, t in texts if n == coding.codes.DCM.AlgorithmParameters.value]
        assert parameters == [
            f"model_name=coronary-lumen-unet; model_sha256={MODEL_SHA256}; "
            "lumen_threshold=0.5; stenosis_min_pct=25"
        ]


def test_dcmqi_tid1500reader_parses_the_sr(outputs: Outputs, tmp_path: Path) -> None:
    reader = Path(sys.executable).with_name("tid1500reader")
    if not reader.exists():
        pytest.fail("dcmqi is not installed in the venv (pip install dcmqi)")
    target = tmp_path / "sr.json"
    subprocess.run(
        [str(reader), "--inputDICOM", str(outputs.sr_path), "--outputMetadata", str(target)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    parsed = json.loads(target.read_text())
    lesion = outputs.case.findings.lesions[0]
    first = parsed["Measurements"][0]
    assert first["TrackingIdentifier"].startswith("Lesion 1 ")
    assert first["FindingSite"]["CodeValue"] == coding.SCCT_SEGMENT_CODES[6].value
    values = {
        item["quantity"]["CodeValue"]: float(item["value"])
        for item in first["measurementItems"]
        if "derivationModifier" not in item
    }
    assert values[coding.PCT_DIAMETER_STENOSIS.value] == lesion.pct_diameter_stenosis
    assert len(parsed["Measurements"]) == len(_all_groups(outputs.sr))


def test_unknown_category_is_refused(outputs: Outputs) -> None:
    grade = outputs.case.findings.grade
    assert grade is not None
    broken = replace(outputs.case.findings, grade=replace(grade, cad_rads="7"))
    with pytest.raises(InputError, match="CAD-RADS category '7'"):
        build_sr(broken, outputs.case.datasets)


def test_sr_is_a_comprehensive_3d_sr(outputs: Outputs) -> None:
    ds = pydicom.dcmread(outputs.sr_path)
    assert ds.SOPClassUID == Comprehensive3DSRStorage
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_findings_without_lesions_or_grade_make_a_valid_sr(
    outputs: Outputs, tmp_path: Path, dciodvfy: Callable[[Path], list[str]]
) -> None:
    bare = replace(outputs.case.findings, lesions=[], grade=None, dominance="")
    path = tmp_path / "bare.dcm"
    build_sr(bare, outputs.case.datasets).save_as(path)
    assert dciodvfy(path) == []
    sr = hd.sr.srread(path)
    names = [str(g.tracking_identifier) for g in _all_groups(sr)]
    assert names == [f"Vessel {v.name}" for v in bare.vessels]
    codes = [item.ConceptNameCodeSequence[0].CodeValue for item in sr.ContentSequence]
    assert coding.QUALITATIVE_EVALUATIONS.value not in codes
