"""The service end to end in a real Orthanc: C-STORE in, selection, jobs, workers
(supervised, killed, restarted), outputs stored back, Orthanc restarted.

The pipeline is ``tests/ccta_fake_pipelines.py:by_description`` (the real analysis
is not plugged in yet): it writes one DERIVED object with our identity per series,
or fails / sleeps as the series description asks.
"""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from ccta_orthanc_server import OrthancServer
from pydicom.uid import generate_uid

from service_samples import write_ct_series, write_localizer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("report_logs")]


def finished(job: dict[str, Any]) -> bool:
    return job["state"] in ("done", "failed", "skipped")


def study_series(server: OrthancServer, series_uid: str) -> list[dict[str, Any]]:
    """Every series of the study holding ``series_uid`` (Orthanc's JSON)."""
    job = server.job(series_uid)
    assert job is not None
    answer = server.client.get_studies_id_series(job["orthanc_study_id"])
    assert isinstance(answer, list)
    return answer


def all_jobs_finished(server: OrthancServer, timeout_s: float = 45.0) -> list[dict[str, Any]]:
    """Every job, once none is queued or running."""
    deadline = time.monotonic() + timeout_s
    while True:
        jobs: list[dict[str, Any]] = server.api("GET", "/ccta-ai/jobs",
                                                params={"limit": 1000}).json()["jobs"]
        if all(finished(j) for j in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.2)


def outputs_of(server: OrthancServer, series_uid: str) -> list[dict[str, Any]]:
    return [s for s in study_series(server, series_uid)
            if s["MainDicomTags"].get("SeriesDescription") == "CCTA AI fake result"]


def test_rest_api_is_behind_orthanc_authentication(orthanc_server: OrthancServer) -> None:
    anonymous = httpx.get(f"{orthanc_server.url}/ccta-ai/health", timeout=10)
    assert anonymous.status_code == 401
    health = orthanc_server.api("GET", "/ccta-ai/health")
    assert health.status_code == 200, health.text
    assert [w["alive"] for w in health.json()["workers"]] == [True, True]
    # Inside Orthanc: Debian's interpreter, and nothing heavy imported.
    assert health.json()["python"].startswith("3.11")
    assert health.json()["heavy_modules_loaded"] == []


def test_a_ccta_is_analysed_and_its_localizer_skipped(orthanc_server: OrthancServer,
                                                     tmp_path: Path) -> None:
    study, ccta, scout = generate_uid(), generate_uid(), generate_uid()
    files = write_localizer(tmp_path / "scout", study_uid=study, series_uid=scout)
    files += write_ct_series(tmp_path / "ccta", study_uid=study, series_uid=ccta, n_slices=12)
    orthanc_server.store_scu(files)

    skipped = orthanc_server.wait_job(scout, finished)
    assert skipped["state"] == "skipped"
    assert skipped["reason"] == "a localizer (ImageType ORIGINAL\\PRIMARY\\LOCALIZER)"
    job = orthanc_server.wait_job(ccta, finished)
    assert job["state"] == "done", job
    assert job["reason"].startswith("CCTA: CT, 12 slices of 0.6 mm")
    assert job["attempts"] == 1 and job["requested_by"] == "stable"
    assert job["enqueued_at"] <= job["started_at"] <= job["finished_at"]
    assert {"fetch_s", "analyse_s", "store_s", "pipeline.fake_s"} <= set(job["stages"])

    [output_id] = job["outputs"]
    tags = orthanc_server.client.get_instances_id_simplified_tags(output_id)
    assert isinstance(tags, dict)
    assert (tags["Manufacturer"], tags["StudyInstanceUID"]) == ("CCTA AI", study)
    # Our output series becomes stable in turn, and is recognised as ours.
    own_series_uid = tags["SeriesInstanceUID"]
    own = orthanc_server.wait_job(own_series_uid, finished)
    assert own["state"] == "skipped" and own["reason"].startswith("our own output")

    results = orthanc_server.api("GET", f"/ccta-ai/studies/{job['orthanc_study_id']}/results")
    assert [s["outputs"] for s in results.json()["series"]] == [[output_id]]
    assert {s["reason"][:11] for s in results.json()["skipped"]} == {"a localizer", "our own out"}


def test_five_series_at_once_are_each_processed_exactly_once(orthanc_server: OrthancServer,
                                                             tmp_path: Path) -> None:
    study = generate_uid()
    uids = [generate_uid() for _ in range(5)]
    files = []
    for n, uid in enumerate(uids):
        files += write_ct_series(tmp_path / str(n), study_uid=study, series_uid=uid,
                                 n_slices=10, series_number=10 + n)
    orthanc_server.store_scu(files)
    jobs = [orthanc_server.wait_job(uid, finished) for uid in uids]
    assert [(j["state"], j["attempts"], j["generation"]) for j in jobs] == [("done", 1, 1)] * 5
    assert all(len(j["outputs"]) == 1 for j in jobs)
    time.sleep(3)  # StableAge of the outputs: nothing may start again
    again = [orthanc_server.job(uid) for uid in uids]
    assert [(j["state"], j["attempts"], j["generation"]) for j in again  # type: ignore[index]
            ] == [("done", 1, 1)] * 5
    outputs = outputs_of(orthanc_server, uids[0])
    assert len(outputs) == 5 and all(len(s["Instances"]) == 1 for s in outputs)


def test_a_failing_pipeline_fails_its_job_only_and_leaves_the_input(
        orthanc_server: OrthancServer, tmp_path: Path) -> None:
    study, bad, good1, good2 = (generate_uid() for _ in range(4))
    bad_files = write_ct_series(tmp_path / "bad", study_uid=study, series_uid=bad,
                                n_slices=10, description="CCTA CRASH", series_number=5)
    files = bad_files + write_ct_series(tmp_path / "g1", study_uid=study, series_uid=good1,
                                        n_slices=10, series_number=6)
    files += write_ct_series(tmp_path / "g2", study_uid=study, series_uid=good2, n_slices=10,
                             series_number=7)
    orthanc_server.store_scu(files)
    failed = orthanc_server.wait_job(bad, finished)
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert failed["error"].startswith("pipeline error: RuntimeError: deliberate failure for")
    assert failed["outputs"] == []
    for uid in (good1, good2):
        assert orthanc_server.wait_job(uid, finished)["state"] == "done"
    instances = orthanc_server.client.get_series_id(failed["orthanc_series_id"])
    assert isinstance(instances, dict) and len(instances["Instances"]) == 10
    stored = {}
    for instance_id in instances["Instances"]:
        ds = pydicom.dcmread(io.BytesIO(orthanc_server.client.get_instances_id_file(instance_id)))
        stored[ds.SOPInstanceUID] = ds
    for path in bad_files:  # every element as sent (C-STORE rewrites only the file meta)
        sent = pydicom.dcmread(path)
        assert stored[sent.SOPInstanceUID] == sent
    listing = orthanc_server.api("GET", "/ccta-ai/jobs", params={"state": "failed"})
    assert bad in [j["series_uid"] for j in listing.json()["jobs"]]


def test_a_worker_killed_mid_job_loses_its_lease_and_the_job_completes(
        orthanc_server: OrthancServer, tmp_path: Path) -> None:
    study, uid = generate_uid(), generate_uid()
    orthanc_server.store_scu(write_ct_series(tmp_path, study_uid=study, series_uid=uid,
                                             n_slices=10, description="CCTA SLOW 3"))
    running = orthanc_server.wait_job(uid, lambda j: j["stage"] == "analyse")
    pid = int(running["worker_id"].rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    job = orthanc_server.wait_job(uid, finished)
    assert job["state"] == "done", job
    assert job["attempts"] == 2 and job["worker_id"] != running["worker_id"]
    assert len(job["outputs"]) == 1
    workers = orthanc_server.api("GET", "/ccta-ai/health").json()["workers"]
    assert sum(w["restarts"] for w in workers) >= 1
    assert all(w["alive"] for w in workers)
    assert len(outputs_of(orthanc_server, uid)) == 1


def test_orthanc_restart_keeps_the_jobs_and_a_rerun_replaces_outputs(
        orthanc_server: OrthancServer, tmp_path: Path) -> None:
    study, uid = generate_uid(), generate_uid()
    orthanc_server.store_scu(write_ct_series(tmp_path, study_uid=study, series_uid=uid,
                                             n_slices=10))
    first = orthanc_server.wait_job(uid, finished)
    before = all_jobs_finished(orthanc_server)  # none left running by an earlier test
    pids = [w["pid"] for w in orthanc_server.api("GET", "/ccta-ai/health").json()["workers"]]

    orthanc_server.stop()
    for pid in pids:  # the workers stop with Orthanc
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    orthanc_server.start()

    after = orthanc_server.api("GET", "/ccta-ai/jobs", params={"limit": 1000}).json()["jobs"]
    assert after == before
    health = orthanc_server.api("GET", "/ccta-ai/health").json()
    assert health["status"] == "ok" and all(w["alive"] for w in health["workers"])

    rerun = orthanc_server.api("POST", f"/ccta-ai/series/{first['orthanc_series_id']}/rerun")
    assert rerun.status_code == 200 and rerun.json()["generation"] == 2
    job = orthanc_server.wait_job(uid, lambda j: j["generation"] == 2 and finished(j))
    assert job["state"] == "done" and job["requested_by"] == "rerun"
    outputs = outputs_of(orthanc_server, uid)
    assert len(outputs) == 1 and len(outputs[0]["Instances"]) == 1  # replaced, not added
