"""Fake pipeline functions for the worker and integration tests.

The worker runs them in a child process (``CctaAi.Workers.Pipeline =
"ccta_fake_pipelines:by_description"``; ``tests/`` must be on ``PYTHONPATH``). What
``by_description`` does depends on the input's SeriesDescription:

* ``... CRASH ...``: raises RuntimeError (a pipeline bug);
* ``... BADINPUT ...``: raises SeriesError (an input the analysis refuses);
* ``... DIE ...``: the process kills itself with SIGKILL (like the OOM killer);
* ``... SLOW <seconds> ...``: sleeps that long, then succeeds;
* anything else: writes one output object derived from the first input file.

``with_report`` also writes a minimal SR (one vessel, a CAD-RADS grade) for the demo.
In a spare pipeline process, :func:`prepare` runs before the request comes; the job
then records ``waited_as_spare`` (seconds since then) among its stage times.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ccta_ai.errors import SeriesError
from ccta_ai.service.pipeline_port import PipelineConfig

OUTPUT_DESCRIPTION = "CCTA AI fake result"


def write_output(series_files: list[Path], out_dir: Path) -> Path:
    """One DERIVED CT object carrying our identity, UIDs derived from the input."""
    source = pydicom.dcmread(sorted(series_files)[0])
    ds = source.copy()
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[source.SeriesInstanceUID, "fake-out"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[source.SOPInstanceUID, "fake-out"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Manufacturer = "CCTA AI"
    ds.SeriesDescription = OUTPUT_DESCRIPTION
    ds.SeriesNumber = 9901
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    path = out_dir / "result.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


_PREPARED_AT: list[float] = []


def prepare() -> None:
    """What a spare pipeline process calls before its request (records when)."""
    _PREPARED_AT.append(time.monotonic())


def by_description(series_files: list[Path], out_dir: Path, config: PipelineConfig
                   ) -> list[Path]:
    if _PREPARED_AT:
        config.stage_times_s["waited_as_spare"] = time.monotonic() - _PREPARED_AT[0]
    description = str(pydicom.dcmread(series_files[0], stop_before_pixels=True)
                      .get("SeriesDescription", ""))
    started = time.perf_counter()
    if "CRASH" in description:
        raise RuntimeError(f"deliberate failure for {config.series_uid}")
    if "BADINPUT" in description:
        raise SeriesError("slices do not form a volume (deliberate)", config.series_uid)
    if "DIE" in description:
        os.kill(os.getpid(), signal.SIGKILL)
    slow = re.search(r"SLOW (\d+(?:\.\d+)?)", description)
    if slow:
        time.sleep(float(slow.group(1)))
    config.stage_times_s["fake"] = time.perf_counter() - started
    return [write_output(series_files, out_dir)]


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _item(value_type: str, name: Dataset, **values: object) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [name]
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def write_report(series_files: list[Path], out_dir: Path) -> Path:
    """A minimal Comprehensive SR with one vessel group and a CAD-RADS grade (written
    with pydicom alone, independent of the project's SR writer)."""
    source = pydicom.dcmread(sorted(series_files)[0], stop_before_pixels=True)
    measured = Dataset()
    measured.NumericValue = "55"
    measured.MeasurementUnitsCodeSequence = [_code("%", "UCUM", "percent")]
    group = _item("CONTAINER", _code("125007", "DCM", "Measurement Group"),
                  ContinuityOfContent="SEPARATE")
    group.ContentSequence = [
        _item("CODE", _code("121071", "DCM", "Finding"),
              ConceptCodeSequence=[_code("36228007", "SCT", "Stenosis")]),
        _item("CODE", _code("363698007", "SCT", "Finding Site"),
              ConceptCodeSequence=[_code("33795007", "SCT", "Left anterior descending "
                                         "coronary artery")]),
        _item("NUM", _code("R-101BB", "SRT", "Diameter stenosis"),
              MeasuredValueSequence=[measured]),
    ]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[source.SOPInstanceUID, "fake-sr"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "AccessionNumber", "StudyID"):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.Modality = "SR"
    ds.Manufacturer = "CCTA AI"
    ds.SeriesDescription = "CCTA AI fake report"
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[source.SeriesInstanceUID, "fake-sr"])
    ds.SeriesNumber = 9902
    ds.InstanceNumber = 1
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.CompletionFlag, ds.VerificationFlag = "COMPLETE", "UNVERIFIED"
    ds.ConceptNameCodeSequence = [_code("126000", "DCM", "Imaging Measurement Report")]
    ds.ContentSequence = [
        group,
        _item("CODE", _code("CADRADS", "99CCTA", "CAD-RADS category"),
              ConceptCodeSequence=[_code("3", "99CCTA", "CAD-RADS 3")]),
    ]
    path = out_dir / "report.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def with_report(series_files: list[Path], out_dir: Path, config: PipelineConfig
                ) -> list[Path]:
    """Like :func:`by_description`, plus the minimal SR of :func:`write_report`."""
    outputs = by_description(series_files, out_dir, config)
    config.stage_times_s["write"] = 0.01
    return [*outputs, write_report(series_files, out_dir)]
