"""Identity shared by every object we write: series table, deterministic UIDs, equipment,
patient and study copied from the source.

Rules (STYLE.md habit 7, issue 4 item 5):

- Each kind of output is its own series with a fixed number and a description that
  starts with :data:`MANUFACTURER` ("CCTA AI"), so a viewer lists them together and the
  service recognises them as ours (``service.settings.OwnOutputs``) and never analyses
  them.
- UIDs are derived from the source series UID, the algorithm version and the kind (and
  an index inside the series), so re-running the same version on the same series
  produces the same UIDs: the PACS replaces instead of duplicating. A new version gives
  new UIDs (its results are a different opinion and both stay auditable).
- Patient and study attributes are copied from the source, never retyped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydicom.dataset import Dataset

from ccta_ai import __version__
from ccta_ai.analysis.findings import Findings
from ccta_ai.dicom_out.ct_modules import da, derived_uid, tm

MANUFACTURER = "CCTA AI"
MANUFACTURER_MODEL_NAME = "ccta-ai"


@dataclass(frozen=True)
class OutputSeries:
    """One kind of output: its series number and its description."""

    kind: str
    series_number: int
    description: str


#: Every kind of output, in the order a viewer should list them.
OUTPUT_SERIES: dict[str, OutputSeries] = {
    s.kind: s
    for s in (
        OutputSeries("seg", 901, "CCTA AI coronary segmentation"),
        OutputSeries("sr", 902, "CCTA AI coronary findings (TID 1500)"),
        OutputSeries("cpr", 903, "CCTA AI curved planar reformations"),
        OutputSeries("cross-section", 904, "CCTA AI lumen cross-sections"),
        OutputSeries("profile", 905, "CCTA AI lumen diameter profiles"),
        OutputSeries("overview", 906, "CCTA AI coronary tree overview"),
        OutputSeries("film", 907, "CCTA AI film page"),
        OutputSeries("report", 908, "CCTA AI report (PDF)"),
    )
}

#: Patient (C.7.1.1), General Study (C.7.2.1) and Patient Study (C.7.2.2) attributes
#: copied from the source when present.
PATIENT_STUDY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "PatientSize",
    "OtherPatientIDsSequence",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
    "IssuerOfAccessionNumberSequence",
)


def algorithm_version(findings: Findings) -> str:
    """The version that identifies the outputs (the package's when the findings have none)."""
    return findings.algorithm.version or __version__


def output_series(kind: str) -> OutputSeries:
    """The series of one kind of output.

    Raises:
        ValueError: ``kind`` is not one of :data:`OUTPUT_SERIES`.
    """
    try:
        return OUTPUT_SERIES[kind]
    except KeyError:
        raise ValueError(f"unknown output kind {kind!r}; known: {sorted(OUTPUT_SERIES)}") from None


def series_uid(source_series_uid: str, kind: str, version: str = __version__) -> str:
    """SeriesInstanceUID of the ``kind`` output of one source series and algorithm version."""
    output_series(kind)
    return derived_uid("ccta-ai", version, source_series_uid, kind, "series")


def instance_uid(
    source_series_uid: str, kind: str, index: int = 0, version: str = __version__
) -> str:
    """SOPInstanceUID of the ``index``-th instance of the ``kind`` output."""
    output_series(kind)
    return derived_uid("ccta-ai", version, source_series_uid, kind, "instance", str(index))


def content_datetime(source: Dataset) -> datetime:
    """A deterministic content date/time for outputs: the source's acquisition, series or
    study date/time (so re-runs give identical objects), or the epoch when none."""
    for date_kw, time_kw in (
        ("AcquisitionDate", "AcquisitionTime"),
        ("SeriesDate", "SeriesTime"),
        ("StudyDate", "StudyTime"),
    ):
        date = str(source.get(date_kw, "") or "")
        if len(date) == 8 and date.isdigit():
            clock = str(source.get(time_kw, "") or "").split(".")[0].ljust(6, "0")[:6]
            clock = clock if clock.isdigit() else "000000"
            return datetime.strptime(date + clock, "%Y%m%d%H%M%S")
    return datetime(1970, 1, 1)


def copy_patient_and_study(target: Dataset, source: Dataset) -> None:
    """Copy the patient and study attributes of ``source`` into ``target`` faithfully
    (same values, same VRs); the character set becomes UTF-8 (ISO_IR 192), which can
    hold any source text once pydicom has decoded it."""
    for keyword in PATIENT_STUDY_KEYWORDS:
        if keyword in source:
            target[keyword] = source[keyword]
    target.SpecificCharacterSet = "ISO_IR 192"


def add_equipment(target: Dataset, version: str = __version__) -> None:
    """General Equipment (C.7.5.1) of our outputs: who made them."""
    target.Manufacturer = MANUFACTURER
    target.ManufacturerModelName = MANUFACTURER_MODEL_NAME
    target.SoftwareVersions = version


def stamp_dates(target: Dataset, moment: datetime) -> None:
    """Content Date/Time and Series Date/Time of an output (deterministic, see
    :func:`content_datetime`)."""
    target.ContentDate = da(moment)
    target.ContentTime = tm(moment)
    target.SeriesDate = da(moment)
    target.SeriesTime = tm(moment)


def highdicom_identity(source: Dataset, kind: str, version: str = __version__) -> dict[str, Any]:
    """Keyword arguments of a highdicom object's constructor that fix its identity:
    deterministic series/instance UIDs, series number and description, manufacturer,
    content and series date/time from :func:`content_datetime`, UTF-8."""
    series = output_series(kind)
    moment = content_datetime(source)
    source_series_uid = str(source.SeriesInstanceUID)
    return {
        "series_instance_uid": series_uid(source_series_uid, kind, version),
        "series_number": series.series_number,
        "sop_instance_uid": instance_uid(source_series_uid, kind, 0, version),
        "instance_number": 1,
        "manufacturer": MANUFACTURER,
        "series_description": series.description,
        "content_date": moment.date(),
        "content_time": moment.time(),
        "series_date": moment.date(),
        "series_time": moment.time(),
        "specific_character_set": "ISO_IR 192",
    }
