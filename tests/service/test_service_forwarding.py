"""Forwarding: retries, the recorded outcome, the configuration, and the job store's
migration that added the forwarding columns."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ccta_ai.errors import ConfigError
from ccta_ai.service.forwarding import Destination, destinations, forward
from ccta_ai.service.jobstore import SCHEMA_VERSION, JobStore, SeriesRef
from ccta_ai.service.settings import DicomWebDestination, Forwarding, settings_from_orthanc


class Flaky:
    """Fails its first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeoutError(f"try {self.calls}")


@pytest.mark.parametrize(("failures", "state", "result", "calls", "sleeps"), [
    (0, "sent", "sent to A", 1, []),
    (1, "sent", "sent to A (attempt 2)", 2, [0.5]),
    (2, "sent", "sent to A (attempt 3)", 3, [0.5, 1.0]),
    (3, "failed", "forward failed: A: TimeoutError: try 3 (after 3 attempts)", 3,
     [0.5, 1.0]),
])
def test_each_destination_is_retried_with_doubling_delays(
        failures: int, state: str, result: str, calls: int, sleeps: list[float]) -> None:
    send = Flaky(failures)
    slept: list[float] = []
    outcome = forward([Destination("A", send)], attempts=3, retry_delay_s=0.5,
                      sleep=slept.append)
    assert (outcome.state, outcome.result) == (state, result)
    assert (send.calls, slept) == (calls, sleeps)


def test_one_failing_destination_does_not_stop_the_others() -> None:
    down, up = Flaky(99), Flaky(0)
    outcome = forward([Destination("down", down), Destination("up", up)], attempts=2,
                      retry_delay_s=0, sleep=lambda _s: None)
    assert outcome.state == "failed"
    assert outcome.result == ("forward failed: down: TimeoutError: try 2 (after 2 attempts); "
                              "sent to up")
    assert (down.calls, up.calls) == (2, 1)


def test_no_destination_means_no_outcome() -> None:
    assert forward([], attempts=3, retry_delay_s=1).state == ""


def test_orthanc_destinations_without_orthanc_fail_clearly() -> None:
    targets = destinations(Forwarding(modalities=("PACS",)), None, ["id"], [])
    outcome = forward(targets, attempts=1, retry_delay_s=0)
    assert outcome.result.startswith("forward failed: modality 'PACS': RuntimeError: "
                                     "modality destinations need Orthanc")


def test_forwarding_configuration_is_parsed_and_checked(tmp_path: Path) -> None:
    config = {"CctaAi": {"Forwarding": {
        "Modalities": ["PACS"], "Peers": ["twin"], "DicomWebServers": ["cloud"],
        "DicomWeb": ["http://a/dicom-web/", {"Url": "https://b/dw", "Username": "u",
                                              "Password": "p"}],
        "Attempts": 5, "RetryDelaySeconds": 0.5}}}
    forwarding = settings_from_orthanc(config, tmp_path).forwarding
    assert forwarding == Forwarding(
        modalities=("PACS",), peers=("twin",), dicomweb_servers=("cloud",),
        dicomweb=(DicomWebDestination("http://a/dicom-web"),
                  DicomWebDestination("https://b/dw", "u", "p")),
        attempts=5, retry_delay_s=0.5)
    assert forwarding.enabled and not Forwarding().enabled
    with pytest.raises(ConfigError, match=r"Forwarding\.DicomWeb\[0\]\.Url must be an http"):
        settings_from_orthanc({"CctaAi": {"Forwarding": {"DicomWeb": ["pacs:104"]}}}, tmp_path)
    with pytest.raises(ConfigError, match=r"Forwarding\.Attempts must be ≥ 1"):
        settings_from_orthanc({"CctaAi": {"Forwarding": {"Attempts": 0}}}, tmp_path)


_V1_TABLE = """CREATE TABLE ccta_ai_jobs (
    job_id INTEGER PRIMARY KEY, series_uid TEXT NOT NULL UNIQUE,
    study_uid TEXT NOT NULL DEFAULT '', orthanc_series_id TEXT NOT NULL DEFAULT '',
    orthanc_study_id TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', error TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL DEFAULT '', generation INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 3,
    worker_id TEXT NOT NULL DEFAULT '', stage TEXT NOT NULL DEFAULT '',
    enqueued_at DOUBLE PRECISION NOT NULL, started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION, heartbeat_at DOUBLE PRECISION,
    lease_until DOUBLE PRECISION, stages TEXT NOT NULL DEFAULT '{}',
    outputs TEXT NOT NULL DEFAULT '[]', updated_at DOUBLE PRECISION NOT NULL)"""


def test_a_version_1_store_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE ccta_ai_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO ccta_ai_meta VALUES ('schema_version', '1')")
    db.execute(_V1_TABLE)
    db.execute("INSERT INTO ccta_ai_jobs (series_uid, state, enqueued_at, updated_at, "
               "outputs, finished_at) VALUES ('1.2.3', 'done', 10, 11, ?, 11)",
               (json.dumps(["out-1"]),))
    db.commit()
    db.close()

    store = JobStore(path)
    job = store.find("1.2.3")
    assert job is not None
    assert (job.state, job.outputs, job.instances, job.forward_state) == (
        "done", ["out-1"], 0, "")
    version = sqlite3.connect(path).execute(
        "SELECT value FROM ccta_ai_meta WHERE key = 'schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION == 2
    # The migrated store works as a new one: re-queue, claim, finish with forwarding.
    store.enqueue(SeriesRef(series_uid="1.2.3", instances=7))
    claim = store.claim("w", lease_s=10)
    assert claim is not None and claim.job.instances == 7
    store.finish(claim, "done", forward_state="failed", forward_result="forward failed: x")
    again = JobStore(path).find("1.2.3")  # reopening does not migrate twice
    assert again is not None and (again.forward_state, again.outputs) == ("failed", ["out-1"])


def test_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE ccta_ai_meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="schema version 99, newer than"):
        JobStore(path)


def test_a_requeue_clears_the_forwarding_outcome(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.enqueue(SeriesRef(series_uid="9"))
    claim = store.claim("w", lease_s=10)
    assert claim is not None
    store.finish(claim, "done", forward_state="sent", forward_result="sent to A")
    job = store.enqueue(SeriesRef(series_uid="9"), requested_by="rerun")
    assert (job.forward_state, job.forward_result) == ("", "")
    with pytest.raises(ValueError, match="forward_state must be one of"):
        store.finish(claim, "done", forward_state="maybe")
