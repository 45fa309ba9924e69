"""What the report, the film page and the image headers say, as plain strings.

Built from the :class:`Findings` and the source's DICOM attributes (read, never
written here); :mod:`ccta_ai.report.pdf_document` and :mod:`ccta_ai.render.film` lay
them out. Numbers are formatted once, here, the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccta_ai.analysis.findings import Findings, Lesion, Vessel
from ccta_ai.phantom.labels import segment_name
from ccta_ai.report import strings as words


@dataclass(frozen=True)
class StudyInfo:
    """The patient and study lines of every picture and page."""

    patient_name: str = ""
    patient_id: str = ""
    sex: str = ""
    birth_date: str = ""
    age: str = ""
    study_date: str = ""
    accession: str = ""
    study_description: str = ""

    def header_line(self) -> str:
        """One line: name, ID, sex/age, study date, accession."""
        parts = [self.patient_name, self.patient_id, " ".join(p for p in (self.sex, self.age) if p),
                 self.study_date, self.accession]
        return "  |  ".join(p for p in parts if p)


@dataclass
class ReportContent:
    """Everything the report shows, in one language."""

    language: str
    study: StudyInfo
    technique: list[tuple[str, str]] = field(default_factory=list)
    lesion_header: list[str] = field(default_factory=list)
    lesion_rows: list[list[str]] = field(default_factory=list)
    grade_rows: list[tuple[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    algorithm_rows: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _date(value: Any) -> str:
    text = str(value or "")
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


def _attr(source: Any, keyword: str) -> str:
    value = source.get(keyword, "") if source is not None else ""
    return "" if value is None else str(value).strip()


def study_info(source: Any, language: str) -> StudyInfo:
    """Patient and study strings from a source dataset (``None`` gives blanks)."""
    sex = _attr(source, "PatientSex")
    return StudyInfo(
        patient_name=_attr(source, "PatientName").replace("^", " ").strip(),
        patient_id=_attr(source, "PatientID"),
        sex=words.TEXT[language].get(f"sex_{sex}", sex),
        birth_date=_date(_attr(source, "PatientBirthDate")),
        age=_attr(source, "PatientAge"),
        study_date=_date(_attr(source, "StudyDate")),
        accession=_attr(source, "AccessionNumber"),
        study_description=_attr(source, "StudyDescription"),
    )


def _number(value: Any, unit: str, digits: int = 1) -> str:
    try:
        return f"{float(value):.{digits}f} {unit}".strip()
    except (TypeError, ValueError):
        return ""


def technique_rows(source: Any, n_slices: int, language: str) -> list[tuple[str, str]]:
    """Acquisition parameters from the source tags (rows with no value are left out)."""
    t = words.TEXT[language]
    spacing = source.get("PixelSpacing") if source is not None else None
    contrast = " ".join(
        p for p in (_attr(source, "ContrastBolusAgent"),
                    _number(source.get("ContrastBolusVolume") if source is not None else None,
                            "ml", 0)) if p
    )
    rows = [
        (t["scanner"], " ".join(p for p in (_attr(source, "Manufacturer"),
                                            _attr(source, "ManufacturerModelName")) if p)),
        (t["kvp"], _number(source.get("KVP") if source is not None else None, "kV", 0)),
        (t["tube_current"], _number(source.get("XRayTubeCurrent") if source is not None
                                    else None, "mA", 0)),
        (t["slice_thickness"], _number(source.get("SliceThickness") if source is not None
                                       else None, "mm", 2)),
        (t["pixel_spacing"], f"{float(spacing[0]):.2f} × {float(spacing[1]):.2f} mm"
         if spacing else ""),
        (t["kernel"], _attr(source, "ConvolutionKernel")),
        (t["contrast"], contrast),
        (t["heart_rate"], _number(source.get("HeartRate") if source is not None else None,
                                  "bpm", 0)),
        (t["cardiac_phase"], _number(source.get("NominalPercentageOfCardiacPhase")
                                     if source is not None else None, "%", 0)),
        (t["ctdi"], _number(source.get("CTDIvol") if source is not None else None, "mGy", 1)),
        (t["slices"], str(n_slices) if n_slices else ""),
    ]
    return [(label, value) for label, value in rows if value]


def lesion_segment(findings: Findings, lesion: Lesion) -> str:
    return segment_name(lesion.segment) if lesion.segment else ""


def vessel_name(findings: Findings, vessel_id: int) -> str:
    if 0 <= vessel_id < len(findings.vessels):
        return findings.vessels[vessel_id].name or f"#{vessel_id}"
    return f"#{vessel_id}"


def _plaque_text(lesion: Lesion, language: str) -> tuple[str, str, str]:
    plaque = lesion.plaque
    if plaque is None:
        return "", "", ""
    kind = words.lookup(words.PLAQUE, language, plaque.composition) if plaque.composition else ""
    volume = _number(plaque.volume_mm3, "mm³", 1) if plaque.volume_mm3 is not None else ""
    risks = "、" if language == "zh" else ", "
    features = risks.join(
        words.lookup(words.HIGH_RISK, language, f) for f in plaque.high_risk_features
    )
    return kind, volume, features


def lesion_table(findings: Findings, language: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-vessel findings table: one row per lesion, and one row
    for each reported vessel without a lesion."""
    t = words.TEXT[language]
    header = [t["vessel"], t["segment"], t["stenosis"], t["mld"], t["reference"], t["length"],
              t["plaque"], t["plaque_volume"], t["high_risk"], t["lesion_grade"]]
    rows: list[list[str]] = []
    by_vessel: dict[int, list[Lesion]] = {}
    for lesion in findings.lesions:
        by_vessel.setdefault(lesion.vessel_id, []).append(lesion)
    for vessel in reported_vessels(findings):
        lesions = sorted(by_vessel.get(vessel.vessel_id, []), key=lambda x: x.mld_s_mm)
        name = words.vessel_label(language, vessel.name or f"#{vessel.vessel_id}")
        if not lesions:
            rows.append([name, "", t["no_lesion"], "", "", "", "", "", "", ""])
        for lesion in lesions:
            kind, volume, features = _plaque_text(lesion, language)
            stenosis = f"{lesion.pct_diameter_stenosis:.0f}%"
            if lesion.occlusion:
                stenosis += f" ({t['occlusion']})"
            rows.append([
                name, words.segment_label(language, lesion_segment(findings, lesion)), stenosis,
                f"{lesion.mld_mm:.1f} mm", f"{lesion.reference_diameter_mm:.1f} mm",
                f"{lesion.length_mm:.1f} mm", kind, volume, features,
                words.lookup(words.LESION_GRADES, language, lesion.grade),
            ])
    return header, rows


def reported_vessels(findings: Findings) -> list[Vessel]:
    """Vessels with lesions, and the main vessels and SCCT branches
    (:data:`~ccta_ai.report.strings.REPORTED_VESSELS`, once per name); the top-level
    vessels when the tree is unlabelled (no vessel has a name)."""
    with_lesion = {lesion.vessel_id for lesion in findings.lesions}
    named = any(v.name for v in findings.vessels)
    seen: set[str] = set()
    chosen = []
    for vessel in findings.vessels:
        listed = vessel.name in words.REPORTED_VESSELS and vessel.name not in seen
        if vessel.vessel_id in with_lesion or listed or (not named and vessel.parent_id is None):
            chosen.append(vessel)
            seen.add(vessel.name)
    return chosen


def grade_rows(findings: Findings, language: str) -> tuple[list[tuple[str, str]], list[str]]:
    """CAD-RADS category, meaning, modifiers, plaque burden, management; and the reasons."""
    t = words.TEXT[language]
    grade = findings.grade
    if grade is None or not grade.cad_rads:
        return [(t["cad_rads"], "—")], []
    category = grade.cad_rads
    modifiers = ", ".join(words.lookup(words.MODIFIERS, language, m) for m in grade.modifiers)
    management = words.CAD_RADS_MANAGEMENT[language].get(category, "")
    if language == "en" and grade.management:
        management = grade.management
    full = "/".join([f"CAD-RADS {category}", *grade.modifiers])
    if grade.plaque_burden:
        full += f" ({grade.plaque_burden})"
    rows = [
        (t["cad_rads"], full),
        (t["meaning"], words.CAD_RADS_MEANING[language].get(category, "")),
        (t["modifiers"], modifiers or t["none"]),
        (t["plaque_burden"], words.lookup(words.MODIFIERS, language, grade.plaque_burden)
         if grade.plaque_burden else t["none"]),
    ]
    if grade.segment_involvement_score is not None:
        rows.append((t["sis"], str(grade.segment_involvement_score)))
    if findings.dominance:
        rows.append((t["dominance"], t.get(f"dominance_{findings.dominance}", findings.dominance)))
    if findings.image_quality is not None and findings.image_quality.score:
        score = findings.image_quality.score
        rows.append((t["image_quality"], t.get(f"quality_{score}", score)))
    rows.append((t["management"], management))
    return rows, list(grade.reasons)


def algorithm_rows(findings: Findings, language: str) -> list[tuple[str, str]]:
    t = words.TEXT[language]
    algorithm = findings.algorithm
    model = algorithm.model_name
    model_version = algorithm.parameters.get("model_version", "")
    if model and model_version:  # the film and report name the model that made the result
        model = f"{model} {model_version}"
    calcium = algorithm.parameters.get("lumen_under_calcium", "")
    if model and calcium.startswith("calcium_lumen"):  # and the one that read calcified lumens
        model = f"{model}, {calcium.split(' (')[0]}"
    rows = [(t["algorithm_name"], algorithm.name), (t["version"], algorithm.version),
            (t["model"], model), (t["sha256"], algorithm.model_sha256)]
    return [(label, value) for label, value in rows if value]


def build_content(findings: Findings, source: Any, n_slices: int, language: str) -> ReportContent:
    """All the report's strings in ``language`` (see :class:`ReportContent`)."""
    words.check_language(language)
    header, rows = lesion_table(findings, language)
    grades, reasons = grade_rows(findings, language)
    return ReportContent(
        language=language,
        study=study_info(source, language),
        technique=technique_rows(source, n_slices, language),
        lesion_header=header,
        lesion_rows=rows,
        grade_rows=grades,
        reasons=reasons,
        algorithm_rows=algorithm_rows(findings, language),
        warnings=list(findings.warnings),
    )
