"""Encapsulated PDF report: conformance, identity, and the PDF's text in zh and en."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest

from ccta_ai.dicom_out.common import instance_uid, series_uid
from ccta_ai.dicom_out.pdf import encapsulated_pdf, write_report
from ccta_ai.errors import InputError
from findings_samples import MODEL_SHA256, sample_case


def _poppler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (apt-get install poppler-utils)")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pdf")
    case = sample_case(root)
    out = {"case": case, "root": root}
    for language in ("zh", "en"):
        path = write_report(case.findings, case.volume, case.datasets, root / language,
                            language=language)
        ds = pydicom.dcmread(path)
        pdf = root / f"{language}.pdf"
        pdf.write_bytes(bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)])
        text = subprocess.run([_poppler("pdftotext"), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        text = " ".join(text.split())  # a table cell's words may wrap onto two lines
        fonts = subprocess.run([_poppler("pdffonts"), str(pdf)], capture_output=True,
                               text=True, check=True).stdout
        listed = subprocess.run([_poppler("pdfimages"), "-list", str(pdf)],
                                capture_output=True, text=True, check=True).stdout
        out[f"{language}_images"] = len(listed.splitlines()) - 2  # minus the 2 header lines
        out[language] = (path, ds, text, fonts)
    return out


@pytest.mark.parametrize("language", ["zh", "en"])
def test_report_passes_dciodvfy(reports: dict, language: str,
                                dciodvfy: Callable[[Path], list[str]]) -> None:
    path, *_ = reports[language]
    assert dciodvfy(path) == []


@pytest.mark.parametrize("language", ["zh", "en"])
def test_report_identity(reports: dict, language: str) -> None:
    _, ds, _, _ = reports[language]
    source = reports["case"].datasets[0]
    assert ds.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    assert ds.file_meta.MediaStorageSOPClassUID == pydicom.uid.EncapsulatedPDFStorage
    index = ["zh", "en"].index(language)
    assert ds.SOPInstanceUID == instance_uid(source.SeriesInstanceUID, "report", index, "0.1.0")
    assert ds.InstanceNumber == index + 1
    assert ds.SeriesInstanceUID == series_uid(source.SeriesInstanceUID, "report", "0.1.0")
    assert ds.SeriesNumber == 908 and ds.Modality == "DOC"
    assert ds.SeriesDescription == "CCTA AI report (PDF)"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.ConceptNameCodeSequence[0].CodingSchemeDesignator == "LN"
    assert ds.BurnedInAnnotation == "YES"
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber"):
        assert ds[keyword].value == source[keyword].value
    assert bytes(ds.EncapsulatedDocument).startswith(b"%PDF")


def test_chinese_report_text(reports: dict) -> None:
    _, ds, text, fonts = reports["zh"]
    assert ds.DocumentTitle == "冠状动脉CT血管成像（CCTA）AI 分析报告"
    for term in ("冠状动脉CT血管成像", "需医师审核", "前降支", "前降支近段", "右冠中段",
                 "混合斑块", "钙化斑块", "正性重构", "重度狭窄", "有创冠状动脉造影",
                 "CAD-RADS 4A/HRP (P2)", "72%", "45%", "35%", "0.9 mm", "3.2 mm",
                 "100 kV", "Bv36", "不构成诊断", "P2（中度）", MODEL_SHA256):
        assert term in text, term
    assert "Noto" in fonts or "WenQuanYi" in fonts
    assert " yes " in fonts  # the font is embedded (as a subset)
    # key images: overview, 3 straightened CPRs, 3 cross-sections, 3 profiles
    assert reports["zh_images"] == 10


def test_english_report_text(reports: dict) -> None:
    _, ds, text, _ = reports["en"]
    features = reports["case"].findings.lesions[0].plaque.high_risk_features
    assert ds.DocumentTitle.startswith("Coronary CT angiography")
    for term in (*features, "requires physician review", "Findings per vessel", "pLAD", "mixed",
                 "calcified", "70–99%: severe stenosis",
                 "Consider ICA or functional assessment", "CAD-RADS 4A/HRP (P2)", "72%",
                 "coronary-lumen-unet", MODEL_SHA256, "not a diagnosis"):
        assert term in text, term
    assert "前降支" not in text


def test_not_a_pdf_is_refused(reports: dict) -> None:
    case = reports["case"]
    with pytest.raises(InputError, match="not a PDF"):
        encapsulated_pdf(b"hello", case.datasets[0], case.findings, "zh")
    with pytest.raises(ValueError, match="language"):
        write_report(case.findings, case.volume, case.datasets, reports["root"], language="fr")


def test_dcentvfy_finds_source_and_reports_consistent(reports: dict) -> None:
    dcentvfy = shutil.which("dcentvfy")
    if dcentvfy is None:
        pytest.fail("dcentvfy is not installed (apt-get install dicom3tools)")
    files = [*map(str, reports["case"].paths), str(reports["zh"][0]), str(reports["en"][0])]
    result = subprocess.run([dcentvfy, *files], capture_output=True, text=True, check=False)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
    assert errors == []
