"""The demo's SR summary, on an SR written with pydicom alone (tests/ccta_fake_pipelines)."""

from __future__ import annotations

from pathlib import Path

import pydicom

from ccta_ai.service.sr_summary import GroupSummary, format_summary, summarise_sr
from ccta_fake_pipelines import write_report
from service_samples import write_ct_series


def test_groups_with_a_finding_site_and_the_cad_rads_grade_are_summarised(tmp_path: Path
                                                                          ) -> None:
    files = write_ct_series(tmp_path / "in", study_uid="1.2.3", series_uid="1.2.3.4",
                            n_slices=2)
    (tmp_path / "out").mkdir()
    summary = summarise_sr(pydicom.dcmread(write_report(files, tmp_path / "out")))
    assert summary.title == "Imaging Measurement Report"
    assert summary.grade == ["CAD-RADS category: CAD-RADS 3"]
    assert summary.groups == [GroupSummary(
        finding="Stenosis", site="Left anterior descending coronary artery",
        values=["Diameter stenosis 55 %"])]
    assert format_summary(summary) == [
        "  CAD-RADS category: CAD-RADS 3",
        "  Left anterior descending coronary artery (Stenosis): Diameter stenosis 55 %"]


def test_an_sr_without_content_gives_an_empty_summary() -> None:
    summary = summarise_sr(pydicom.Dataset())
    assert (summary.grade, summary.groups, format_summary(summary)) == ([], [], [])


def test_the_dicom_cad_rads_concepts_are_part_of_the_grade() -> None:
    from pydicom.sr.codedict import codes

    def code_item(name: object, value: object) -> pydicom.Dataset:
        item = pydicom.Dataset()
        item.ValueType = "CODE"
        concept, answer = pydicom.Dataset(), pydicom.Dataset()
        for target, code in ((concept, name), (answer, value)):
            target.CodeValue = code.value  # type: ignore[attr-defined]
            target.CodingSchemeDesignator = code.scheme_designator  # type: ignore[attr-defined]
            target.CodeMeaning = code.meaning  # type: ignore[attr-defined]
        item.ConceptNameCodeSequence = [concept]
        item.ConceptCodeSequence = [answer]
        return item

    report = pydicom.Dataset()
    report.ContentSequence = [code_item(codes.DCM.CoronaryArteryDiseaseAssessment,
                                        codes.cid3020._4SevereStenosis)]
    [line] = summarise_sr(report).grade
    assert line.startswith("Coronary Artery Disease Assessment: 4")


def test_algorithm_parameters_naming_cad_rads_are_not_grade_lines() -> None:
    """TID 4019 parameters say "grading=CAD-RADS 2.0" in every group: not a grade,
    and a grade line is printed once however often it occurs."""

    def text_item(name: str, value: str) -> pydicom.Dataset:
        item = pydicom.Dataset()
        item.ValueType = "TEXT"
        concept = pydicom.Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = (
            "111002", "DCM", name)
        item.ConceptNameCodeSequence = [concept]
        item.TextValue = value
        return item

    report = pydicom.Dataset()
    report.ContentSequence = [
        text_item("Algorithm Parameters", "grading=CAD-RADS 2.0"),
        text_item("Reason for CAD-RADS assessment", "CAD-RADS 0: no plaque"),
        text_item("Algorithm Parameters", "grading=CAD-RADS 2.0"),
        text_item("Reason for CAD-RADS assessment", "CAD-RADS 0: no plaque"),
    ]
    assert summarise_sr(report).grade == ["Reason for CAD-RADS assessment: CAD-RADS 0: no plaque"]
