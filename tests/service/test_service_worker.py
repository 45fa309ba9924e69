"""The worker's job handling against a fake Orthanc port: success, failures with their
reasons, timeout, a dying pipeline process, re-runs replacing outputs, a lost lease.
The pipeline runs for real in a child process (fake pipeline functions)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pydicom
import pytest

from ccta_ai.service.jobstore import JobStore, SeriesRef
from ccta_ai.service.orthanc_port import SeriesGoneError
from ccta_ai.service.settings import Forwarding, Settings
from ccta_ai.service.worker import Worker
from service_samples import write_ct_series

TESTS_DIR = Path(__file__).resolve().parents[1]


class FakePort:
    """In-memory Orthanc: series are folders of files; uploads are remembered."""

    def __init__(self, series: dict[str, list[Path]]) -> None:
        self.series = series
        self.stored: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.sent: list[tuple[str, str, list[str]]] = []
        self.down: set[str] = set()

    def wait_ready(self, should_stop: Callable[[], bool], max_wait_s: float = 5.0) -> bool:
        return True

    def resolve_series(self, orthanc_series_id: str, series_uid: str) -> str:
        return orthanc_series_id

    def download_series(self, series_id: str, dest: Path, max_instances: int) -> list[Path]:
        if series_id not in self.series:
            raise SeriesGoneError(f"series {series_id} is no longer in Orthanc")
        dest.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy(p, dest)) for p in self.series[series_id]]

    def upload(self, files: Iterable[Path]) -> list[str]:
        ids = []
        for path in files:
            sop = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
            self.stored[sop] = Path(path).read_bytes()
            ids.append(sop)
        return ids

    def delete_own_outputs(self, instance_ids: list[str], input_series_id: str) -> list[str]:
        self.deleted += instance_ids
        for instance_id in instance_ids:
            self.stored.pop(instance_id, None)
        return instance_ids

    def store_to(self, kind: str, name: str, instance_ids: list[str]) -> None:
        self.sent.append((kind, name, list(instance_ids)))
        if name in self.down:
            raise ConnectionError(f"{name} is down")


@pytest.fixture(autouse=True)
def fake_pipelines_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(TESTS_DIR), path) if p))


def make_worker(tmp_path: Path, series: dict[str, list[Path]], **changes: object
                ) -> tuple[Worker, JobStore, FakePort]:
    values: dict[str, object] = dict(
        state_dir=tmp_path / "state", job_store_path=tmp_path / "state" / "jobs.sqlite",
        pipeline="ccta_fake_pipelines:by_description", lease_s=4.0, heartbeat_s=0.5,
        poll_s=0.1, job_timeout_s=30.0, max_attempts=2)
    values.update(changes)
    settings = Settings(**values)  # type: ignore[arg-type]
    store = JobStore(settings.job_store_path)
    port = FakePort(series)
    worker = Worker(settings, store, port, "test-worker", python=sys.executable)  # type: ignore[arg-type]
    return worker, store, port


def input_series(tmp_path: Path, name: str, description: str, n: int = 4) -> list[Path]:
    return write_ct_series(tmp_path / "in" / name, study_uid="1.2.826.0.1.1",
                           series_uid=f"1.2.826.0.1.1.{abs(hash(name)) % 10**8}", n_slices=n,
                           description=description)


def enqueue(store: JobStore, name: str, max_attempts: int = 2) -> int:
    return store.enqueue(SeriesRef(series_uid=f"uid-{name}", orthanc_series_id=name),
                         max_attempts=max_attempts).job_id


def test_success_stores_the_outputs_and_records_stages(tmp_path: Path) -> None:
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA 0.6")})
    job_id = enqueue(store, "a")
    assert worker.run(once=True) == 0
    job = store.get(job_id)
    assert job is not None and job.state == "done", job
    assert job.error == "" and len(job.outputs) == 1
    stored = pydicom.dcmread(io.BytesIO(port.stored[job.outputs[0]]))
    assert stored.Manufacturer == "CCTA AI" and stored.SeriesDescription == "CCTA AI fake result"
    assert {"fetch_s", "analyse_s", "store_s", "total_s", "pipeline.fake_s"} <= set(job.stages)
    assert not (tmp_path / "state" / "work").exists() or not any(
        (tmp_path / "state" / "work").iterdir())


def test_the_job_runs_in_the_spare_process_started_before_it(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")})
    worker._start_spare()
    spare = worker._spare
    assert spare is not None
    job_id = enqueue(store, "a")
    assert worker.run(once=True) == 0
    job = store.get(job_id)
    assert job is not None and job.state == "done", job
    assert job.stages["pipeline.waited_as_spare_s"] > 0, job.stages  # prepared, then the job
    assert spare.wait(timeout=5) == 0  # it ran the job and exited
    assert worker._spare is None


def test_without_prestart_each_job_starts_its_own_process(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")},
                                      prestart_pipeline=False)
    job_id = enqueue(store, "a")
    assert worker.run(once=True) == 0
    job = store.get(job_id)
    assert job is not None and job.state == "done", job
    assert "pipeline.waited_as_spare_s" not in job.stages


def test_a_dead_spare_is_replaced_by_a_new_process(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")})
    worker._start_spare()
    spare = worker._spare
    assert spare is not None
    spare.kill()
    spare.wait()
    job_id = enqueue(store, "a")
    assert worker.run(once=True) == 0
    job = store.get(job_id)
    assert job is not None and job.state == "done", job


def test_a_stopping_worker_ends_its_spare(tmp_path: Path) -> None:
    worker, _, _ = make_worker(tmp_path, {})
    stopper = threading.Timer(1.5, worker.stop_requested.set)
    stopper.start()
    assert worker.run() == 0  # starts a spare, finds no job, stops
    spares = [line for line in subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(os.getpid())], capture_output=True, text=True,
        check=True).stdout.splitlines() if "--spare" in line and "<defunct>" not in line]
    assert spares == []


def test_a_rerun_replaces_the_earlier_outputs(tmp_path: Path) -> None:
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")})
    job_id = enqueue(store, "a")
    worker.run(once=True)
    first = store.get(job_id)
    assert first is not None
    store.enqueue(SeriesRef(series_uid="uid-a", orthanc_series_id="a"), requested_by="rerun")
    worker.run(once=True)
    second = store.get(job_id)
    assert second is not None and second.state == "done" and second.generation == 2
    assert port.deleted == first.outputs
    assert second.outputs == first.outputs  # deterministic UIDs: the same object again
    assert list(port.stored) == second.outputs


@pytest.mark.parametrize(
    ("description", "error_part"),
    [
        ("CCTA CRASH", "pipeline error: RuntimeError: deliberate failure for uid-"),
        ("CCTA BADINPUT", "SeriesError: series uid-"),
    ],
)
def test_a_failing_pipeline_fails_the_job_with_its_reason(
        tmp_path: Path, description: str, error_part: str) -> None:
    series = input_series(tmp_path, "bad", description)
    before = [p.read_bytes() for p in series]
    worker, store, _ = make_worker(
        tmp_path, {"bad": series, "good": input_series(tmp_path, "good", "CCTA")})
    bad, good = enqueue(store, "bad"), enqueue(store, "good")
    worker.run(once=True)
    worker.run(once=True)
    failed, done = store.get(bad), store.get(good)
    assert failed is not None and failed.state == "failed" and failed.attempts == 1
    assert error_part in failed.error
    assert done is not None and done.state == "done"
    assert [p.read_bytes() for p in series] == before  # the input is untouched


def test_the_default_pipeline_says_the_analysis_is_not_available(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA", n=5)},
                                   pipeline="ccta_ai.service.pipeline_port:run")
    job_id = enqueue(store, "a")
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "failed"
    assert job.error.startswith("analysis not yet available: series uid-a loaded as a 5x16x16")
    assert "pipeline.load_s" in job.stages


def test_a_timeout_fails_the_job(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA SLOW 30")},
                                   job_timeout_s=1.5)
    job_id = enqueue(store, "a")
    started = time.monotonic()
    worker.run(once=True)
    assert time.monotonic() - started < 10
    job = store.get(job_id)
    assert job is not None and job.state == "failed"
    assert job.error.startswith("timed out after 1.5 s (Limits.JobTimeoutSeconds)")


def test_a_dying_pipeline_process_is_retried_then_fails(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA DIE")})
    job_id = enqueue(store, "a", max_attempts=2)
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "queued" and "killed by signal 9" in job.error
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "failed"
    assert job.error == ("gave up after 2 attempts: pipeline process died (killed by signal 9)"
                         " (out of memory?)")


def test_a_series_deleted_meanwhile_fails_with_that_reason(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {})
    job_id = enqueue(store, "gone")
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "failed" and "no longer in Orthanc" in job.error


def test_a_worker_that_lost_its_job_leaves_it_alone(tmp_path: Path) -> None:
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA SLOW 3")})
    job_id = enqueue(store, "a")
    ref = SeriesRef(series_uid="uid-a", orthanc_series_id="a")

    def requeue_while_running() -> None:
        while (job := store.get(job_id)) is not None and job.stage != "analyse":
            time.sleep(0.05)
        store.enqueue(ref)  # the series changed: a new generation

    thread = threading.Thread(target=requeue_while_running)
    thread.start()
    started = time.monotonic()
    worker.run(once=True)
    thread.join()
    assert time.monotonic() - started < 3  # dropped at the next heartbeat, not after 3 s
    job = store.get(job_id)
    assert job is not None and (job.state, job.generation, job.attempts) == ("queued", 2, 0)
    assert port.stored == {}


def test_a_stop_request_releases_the_job(tmp_path: Path) -> None:
    worker, store, _ = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA SLOW 30")})
    job_id = enqueue(store, "a")
    threading.Timer(1.0, worker.stop_requested.set).start()
    worker.run()
    job = store.get(job_id)
    assert job is not None and (job.state, job.attempts) == ("queued", 0)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's reaper may be slow)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_pipeline_process_ends_when_its_worker_is_killed(tmp_path: Path) -> None:
    files = input_series(tmp_path, "a", "CCTA SLOW 30", n=2)
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "pipeline": "ccta_fake_pipelines:by_description", "files": [str(f) for f in files],
        "out_dir": str(tmp_path / "out"), "result": str(tmp_path / "result.json"),
        "config": {"series_uid": "1.2.3", "study_uid": "1.2"}}))
    # A stand-in worker: starts the pipeline process, prints its PID, waits.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         f"child = subprocess.Popen([sys.executable, '-m', "
         f"'ccta_ai.service.pipeline_runner', {str(request)!r}])\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    time.sleep(1.0)
    assert _running(child_pid)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _running(child_pid):
        assert time.monotonic() < deadline, "the pipeline process outlived its worker"
        time.sleep(0.1)
    assert not (tmp_path / "result.json").exists()


def test_results_are_forwarded_and_the_outcome_recorded(tmp_path: Path) -> None:
    forwarding = Forwarding(modalities=("PACS",), peers=("twin",), attempts=2,
                            retry_delay_s=0.01)
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")},
                                      forwarding=forwarding)
    job_id = enqueue(store, "a")
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "done", job
    assert port.sent == [("modality", "PACS", job.outputs), ("peer", "twin", job.outputs)]
    assert (job.forward_state, job.forward_result) == (
        "sent", "sent to modality 'PACS', peer 'twin'")
    assert "forward_s" in job.stages


def test_a_destination_that_stays_down_fails_forwarding_but_not_the_job(tmp_path: Path
                                                                        ) -> None:
    forwarding = Forwarding(modalities=("PACS", "DOWN"), attempts=3, retry_delay_s=0.01)
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")},
                                      forwarding=forwarding)
    port.down.add("DOWN")
    job_id = enqueue(store, "a")
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and (job.state, job.error) == ("done", ""), job
    assert [name for _, name, _ in port.sent] == ["PACS", "DOWN", "DOWN", "DOWN"]
    assert job.forward_state == "failed"
    assert job.forward_result == ("forward failed: modality 'DOWN': ConnectionError: DOWN is "
                                  "down (after 3 attempts); sent to modality 'PACS'")


def test_nothing_is_forwarded_without_destinations(tmp_path: Path) -> None:
    worker, store, port = make_worker(tmp_path, {"a": input_series(tmp_path, "a", "CCTA")})
    job_id = enqueue(store, "a")
    worker.run(once=True)
    job = store.get(job_id)
    assert job is not None and job.state == "done"
    assert port.sent == [] and (job.forward_state, job.forward_result) == ("", "")
