"""``ccta-ai analyze`` end to end with the committed model on a small synthetic study:
the series is loaded from its DICOM files, segmented by the MONAI bundle (aorta by HU
rules), traced, named, measured and graded, and every DICOM output is written; each is
read back with an independent reader (highdicom, pdftotext)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from ccta_ai.analysis.segment_bundle import default_bundle_dir, load_bundle
from ccta_ai.cli import main

SEED = 24  # one 65 % mixed plaque in the distal LAD (tests/analysis/test_pipeline.py)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    from ccta_ai.phantom.study import write_study

    study = tmp_path_factory.mktemp("study")
    truth = write_study(study, SEED, "small")
    out = tmp_path_factory.mktemp("out")
    code = main(["analyze", str(study), "--out", str(out), "--series", truth["series"]["ccta"],
                 "--language", "en"])
    assert code == 0
    return study, out, truth


def test_findings_name_the_tree_and_grade_it_with_the_committed_model(analysed) -> None:  # type: ignore[no-untyped-def]
    _, out, truth = analysed
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    names = {vessel["name"] for vessel in findings["vessels"]}
    assert {"LAD", "LCx", "RCA"} <= names, names  # (the LM is not always split off yet)
    assert findings["grade"]["cad_rads"] not in ("", "N")
    assert findings["image_quality"]["score"] != "non-diagnostic"
    bundle = load_bundle(default_bundle_dir())
    assert findings["algorithm"]["model_sha256"] == bundle.weights_sha256
    assert any("ascending aorta" in warning for warning in findings["warnings"])
    assert findings["series_instance_uid"] == truth["series"]["ccta"]


def test_seg_and_sr_read_back_with_highdicom(analysed) -> None:  # type: ignore[no-untyped-def]
    study, out, truth = analysed
    ccta_uids = {
        pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        for path in study.rglob("*.dcm")
        if pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID
        == truth["series"]["ccta"]
    }
    seg = hd.seg.segread(out / "seg.dcm")
    labels = {seg.get_segment_description(n).segment_label for n in seg.segment_numbers}
    assert any("LAD" in label for label in labels), labels
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    assert referenced and referenced <= ccta_uids
    sr = hd.sr.srread(out / "sr.dcm")
    assert sr.StudyInstanceUID == truth["study_instance_uid"]
    groups = sr.content.get_planar_roi_measurement_groups() + \
        sr.content.get_volumetric_roi_measurement_groups()
    values: list[str] = []
    sr.walk(lambda _, element: values.append(str(element.value))
            if element.VR in ("UT", "LO", "SH", "ST") else None)
    text = " ".join(values)
    assert "CAD-RADS" in text
    bundle = load_bundle(default_bundle_dir())
    assert bundle.weights_sha256 in text  # TID 4019 algorithm identification
    assert len(sr.content.get_image_measurement_groups()) + len(groups) >= 1


def test_pictures_and_report_are_written_and_readable(analysed) -> None:  # type: ignore[no-untyped-def]
    _, out, truth = analysed
    pictures = sorted((out / "images").glob("sc_9*.dcm"))
    series = {int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber) for p in pictures}
    assert {903, 904, 905, 906, 907} <= series
    film = [p for p in pictures if int(pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber)
            == 907]
    frame = pydicom.dcmread(film[0]).pixel_array
    assert frame.ndim == 3 and frame.shape[2] == 3 and np.ptp(frame) > 100
    (report,) = out.glob("report_908_*.dcm")
    dataset = pydicom.dcmread(report)
    assert dataset.MIMETypeOfEncapsulatedDocument == "application/pdf"
    pdf = out / "report.pdf"
    pdf.write_bytes(bytes(dataset.EncapsulatedDocument).rstrip(b"\0"))
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "CAD-RADS" in words and "LAD" in words
    assert dataset.PatientID == pydicom.dcmread(
        next(p for p in pictures), stop_before_pixels=True).PatientID
    assert dataset.StudyInstanceUID == truth["study_instance_uid"]
