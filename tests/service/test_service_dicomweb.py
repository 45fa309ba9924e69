"""DICOMweb mode without a server: DICOM JSON → selection facts, and the poller's
stability, selection and idempotence over a fake QIDO-RS listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid

from ccta_ai.service.dicomweb_poller import DicomWebPoller
from ccta_ai.service.dicomweb_port import facts_from_dicom_json, short_tags
from ccta_ai.service.jobstore import JobStore
from ccta_ai.service.selection import SeriesFacts
from ccta_ai.service.settings import Settings
from service_samples import write_ct_series


def dicom_json(path: Path) -> dict[str, Any]:
    """An instance's metadata as a DICOMweb server sends it (pydicom's to_json_dict)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return dict(ds.to_json_dict())


def qido_series(study: str, series: str, count: int, description: str = "CCTA") -> dict:
    return {"0020000D": {"vr": "UI", "Value": [study]},
            "0020000E": {"vr": "UI", "Value": [series]},
            "00080060": {"vr": "CS", "Value": ["CT"]},
            "0008103E": {"vr": "LO", "Value": [description]},
            "00201209": {"vr": "IS", "Value": [count]}}


def test_dicom_json_becomes_the_same_facts_as_orthancs_tags(tmp_path: Path) -> None:
    [path] = write_ct_series(tmp_path, study_uid="1.2.3", series_uid="1.2.3.4", n_slices=1,
                             description="CorCTA 0.6 Bv40", thickness_mm=0.625)
    facts = facts_from_dicom_json(qido_series("1.2.3", "1.2.3.4", 240, "CorCTA 0.6 Bv40"),
                                  dicom_json(path))
    assert facts == SeriesFacts(
        orthanc_series_id="", orthanc_study_id="", series_uid="1.2.3.4", study_uid="1.2.3",
        modality="CT", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        manufacturer="Test Scanner", series_description="CorCTA 0.6 Bv40",
        study_description="Cardiac", image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        slice_thickness_mm=0.625, n_instances=240, n_slices=240,
        contrast_agent="Iopromide 370")


def test_short_tags_of_sequences_and_person_names() -> None:
    tags = short_tags({
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
        "52009229": {"vr": "SQ", "Value": [{"00289110": {"vr": "SQ", "Value": [
            {"00180050": {"vr": "DS", "Value": [0.5]}}]}}]},
        "00080008": {"vr": "CS", "Value": ["DERIVED", "SECONDARY"]},
        "00180010": {"vr": "LO"},
    })
    assert tags == {"0010,0010": "Doe^Jane", "0008,0008": "DERIVED\\SECONDARY",
                    "5200,9229": [{"0028,9110": [{"0018,0050": 0.5}]}], "0018,0010": ""}


class FakeDicomWeb:
    """A QIDO-RS listing whose series the test edits; metadata from real files."""

    def __init__(self) -> None:
        self.series: dict[str, dict[str, Any]] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self.metadata_reads = 0

    def add(self, tmp_path: Path, name: str, count: int, **kwargs: Any) -> str:
        study, uid = generate_uid(), generate_uid()
        [path] = write_ct_series(tmp_path / name, study_uid=study, series_uid=uid,
                                 n_slices=1, **kwargs)
        self.metadata[uid] = dicom_json(path)
        self.series[uid] = qido_series(study, uid, count, kwargs.get("description", "CCTA"))
        return uid

    def find_series(self) -> list[dict[str, Any]]:
        return list(self.series.values())

    def series_facts(self, series: dict[str, Any]) -> SeriesFacts:
        self.metadata_reads += 1
        uid = series["0020000E"]["Value"][0]
        return facts_from_dicom_json(series, self.metadata[uid])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def poller(tmp_path: Path) -> tuple[DicomWebPoller, FakeDicomWeb, JobStore, Clock]:
    port, store, clock = FakeDicomWeb(), JobStore(tmp_path / "jobs.sqlite"), Clock()
    settings = Settings(state_dir=tmp_path, job_store_path=tmp_path / "jobs.sqlite")
    return (DicomWebPoller(port, store, settings, stable_s=10, clock=clock),  # type: ignore[arg-type]
            port, store, clock)


def test_a_series_is_selected_once_its_count_is_stable(
        poller: tuple[DicomWebPoller, FakeDicomWeb, JobStore, Clock], tmp_path: Path) -> None:
    dw_poller, port, store, clock = poller
    uid = port.add(tmp_path, "ccta", 100)
    assert dw_poller.poll() == []  # first seen
    clock.now = 6
    port.series[uid]["00201209"]["Value"] = [180]  # still arriving
    assert dw_poller.poll() == []
    clock.now = 15  # 9 s since the count changed
    assert dw_poller.poll() == []
    clock.now = 16.5
    [job] = dw_poller.poll()
    assert (job.series_uid, job.state, job.instances) == (uid, "queued", 180)
    assert job.reason.startswith("CCTA: CT, 180 slices of 0.6 mm")
    clock.now = 100
    assert dw_poller.poll() == [] and port.metadata_reads == 1  # idempotent
    # A restarted poller (new memory, same store) does not select it again either.
    fresh = DicomWebPoller(port, store, dw_poller.settings, stable_s=10, clock=clock)  # type: ignore[arg-type]
    assert fresh.poll() == [] and port.metadata_reads == 1


def test_a_series_that_grows_after_its_job_is_selected_again(
        poller: tuple[DicomWebPoller, FakeDicomWeb, JobStore, Clock], tmp_path: Path) -> None:
    dw_poller, port, _store, clock = poller
    uid = port.add(tmp_path, "ccta", 100)
    dw_poller.poll()
    clock.now = 11
    [first] = dw_poller.poll()
    port.series[uid]["00201209"]["Value"] = [120]
    clock.now = 12
    assert dw_poller.poll() == []
    clock.now = 30
    [second] = dw_poller.poll()
    assert (second.job_id, second.instances) == (first.job_id, 120)
    assert second.generation == first.generation  # still queued: one run will do


def test_our_outputs_and_localizers_are_skipped_with_reasons(
        poller: tuple[DicomWebPoller, FakeDicomWeb, JobStore, Clock], tmp_path: Path) -> None:
    dw_poller, port, _store, clock = poller
    ours = port.add(tmp_path, "ours", 1, manufacturer="CCTA AI",
                    description="CCTA AI Coronary report")
    scout = port.add(tmp_path, "scout", 2, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                     description="Topogram")
    dw_poller.poll()
    clock.now = 20
    jobs = {job.series_uid: job for job in dw_poller.poll()}
    assert jobs[ours].state == "skipped"
    assert jobs[ours].reason == "our own output (Manufacturer 'CCTA AI')"
    assert jobs[scout].state == "skipped" and jobs[scout].reason.startswith("a localizer")
