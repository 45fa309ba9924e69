"""Encapsulated PDF (PS3.3 A.45.1) of the report, built with pydicom.

Modules: Patient, General Study, Patient Study (copied from the source), Encapsulated
Document Series (C.24.1), General Equipment (C.7.5.1), SC Equipment (C.8.6.1),
Encapsulated Document (C.24.2) and SOP Common (C.12.1). Text is UTF-8 (ISO_IR 192).
UIDs and dates are deterministic (``common``), so a re-run replaces the report; the
Chinese and the English report are two instances of the series (numbers 1 and 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
)

from ccta_ai.analysis.findings import Findings
from ccta_ai.dicom_out.common import (
    add_equipment,
    algorithm_version,
    content_datetime,
    copy_patient_and_study,
    instance_uid,
    output_series,
    series_uid,
    stamp_dates,
)
from ccta_ai.dicom_out.ct_modules import da, tm
from ccta_ai.dicom_out.sc import source_series_uid
from ccta_ai.errors import InputError
from ccta_ai.imaging.volume import Volume
from ccta_ai.render.keyimages import KeyImage, build_key_images
from ccta_ai.report import strings as words
from ccta_ai.report.content import build_content, study_info
from ccta_ai.report.pdf_document import build_pdf

KIND = "report"


def _code_item(code: object) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value  # type: ignore[attr-defined]
    item.CodingSchemeDesignator = code.scheme_designator  # type: ignore[attr-defined]
    item.CodeMeaning = code.meaning  # type: ignore[attr-defined]
    return item


def encapsulated_pdf(pdf_bytes: bytes, source: Dataset, findings: Findings, language: str
                     ) -> Dataset:
    """The Encapsulated PDF dataset (file meta included) holding ``pdf_bytes``."""
    if not pdf_bytes.startswith(b"%PDF"):
        raise InputError(f"not a PDF document (starts with {pdf_bytes[:8]!r})")
    version = algorithm_version(findings)
    source_uid = source_series_uid(findings, source)
    moment = content_datetime(source)
    series = output_series(KIND)
    # one instance per language (both may be stored side by side): zh 0, en 1
    index = words.LANGUAGES.index(words.check_language(language))
    sop_uid = instance_uid(source_uid, KIND, index, version)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    copy_patient_and_study(ds, source)  # also sets SpecificCharacterSet ISO_IR 192
    for keyword in ("StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID",
                    "AccessionNumber", "PatientName", "PatientID", "PatientBirthDate",
                    "PatientSex"):
        if keyword not in ds:  # type 2 attributes: present even when the source lacks them
            setattr(ds, keyword, None)
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = da(moment)
    ds.InstanceCreationTime = tm(moment)
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid(source_uid, KIND, version)
    ds.SeriesNumber = series.series_number
    ds.SeriesDescription = series.description
    # General Equipment, SC Equipment
    add_equipment(ds, version)
    ds.ConversionType = "WSD"
    # Encapsulated Document
    stamp_dates(ds, moment)
    ds.InstanceNumber = index + 1
    ds.AcquisitionDateTime = da(moment) + tm(moment)
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.DocumentTitle = words.text(language, "title")
    ds.ConceptNameCodeSequence = [_code_item(codes.LN.CTReport)]
    ds.VerificationFlag = "UNVERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocumentLength = len(pdf_bytes)
    ds.EncapsulatedDocument = pdf_bytes + (b"\0" if len(pdf_bytes) % 2 else b"")
    return ds


def write_report(
    findings: Findings,
    volume: Volume,
    source_datasets: Sequence[Dataset],
    out_dir: Path,
    *,
    language: str = "zh",
    key_images: list[KeyImage] | None = None,
) -> Path:
    """Build the PDF report in ``language`` ("zh" or "en") and write it as an
    Encapsulated PDF into ``out_dir``; return the file's path. ``key_images`` (e.g.
    from :func:`ccta_ai.dicom_out.sc.render_all`) avoid rendering the pictures twice."""
    words.check_language(language)
    if not source_datasets:
        raise InputError("write_report needs at least one source dataset")
    source = source_datasets[0]
    content = build_content(findings, source, volume.shape[0], language)
    images = key_images if key_images is not None else build_key_images(  # what it shows
        findings, volume, study_info(source, language), language, (0.0,), ())
    ds = encapsulated_pdf(build_pdf(content, images), source, findings, language)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"report_{output_series(KIND).series_number}_{language}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path
