"""The job store: states, leases and expiry, idempotency, restarts, two claimers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from ccta_ai.service.jobstore import JobStore, SeriesRef


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite", clock=clock)


def ref(n: int = 1, study: str = "st1") -> SeriesRef:
    return SeriesRef(series_uid=f"1.2.3.{n}", study_uid="1.2.3", orthanc_series_id=f"s{n}",
                     orthanc_study_id=study, description=f"series {n}")


def test_a_new_store_is_in_wal_mode_and_empty(store: JobStore) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.counts() == {"queued": 0, "running": 0, "done": 0, "failed": 0, "skipped": 0}


def test_lifecycle_queued_running_done(store: JobStore, clock: Clock) -> None:
    job = store.enqueue(ref(), reason="CCTA", max_attempts=3)
    assert (job.state, job.attempts, job.generation, job.reason) == ("queued", 0, 1, "CCTA")
    assert job.enqueued_at == clock.now
    clock.now += 2
    claim = store.claim("w1", lease_s=30)
    assert claim is not None and claim.job.job_id == job.job_id
    assert (claim.job.state, claim.job.attempts, claim.job.worker_id) == ("running", 1, "w1")
    assert claim.job.lease_until == clock.now + 30
    assert store.claim("w2", lease_s=30) is None
    clock.now += 5
    assert store.heartbeat(claim, 30, stage="analyse")
    assert store.get(job.job_id).stage == "analyse"  # type: ignore[union-attr]
    assert store.finish(claim, "done", stages={"fetch_s": 1.5})
    done = store.get(job.job_id)
    assert done is not None
    assert (done.state, done.stages, done.finished_at) == ("done", {"fetch_s": 1.5}, clock.now)
    assert store.finished_timings() == [("done", 5.0, 7.0)]


def test_stable_twice_while_queued_keeps_one_row_and_its_place(store: JobStore,
                                                               clock: Clock) -> None:
    first = store.enqueue(ref(1))
    clock.now += 1
    store.enqueue(ref(2))
    clock.now += 1
    again = store.enqueue(ref(1))
    assert again.job_id == first.job_id and again.generation == 1
    assert again.enqueued_at == first.enqueued_at
    assert len(store.list_jobs()) == 2
    claim = store.claim("w", 10)
    assert claim is not None and claim.job.series_uid == "1.2.3.1"  # still first in line


def test_rerun_after_done_requeues_the_same_row_and_keeps_outputs(store: JobStore) -> None:
    job = store.enqueue(ref())
    claim = store.claim("w", 10)
    assert claim is not None
    store.add_outputs(job.job_id, ["out-1", "out-2"])
    store.finish(claim, "done")
    again = store.enqueue(ref(), requested_by="rerun")
    assert again.job_id == job.job_id
    assert (again.state, again.generation, again.attempts) == ("queued", 2, 0)
    assert again.requested_by == "rerun" and again.finished_at is None
    assert again.outputs == ["out-1", "out-2"]
    store.remove_outputs(job.job_id, ["out-1"])
    assert store.get(job.job_id).outputs == ["out-2"]  # type: ignore[union-attr]


def test_stable_again_while_running_discards_the_running_result(store: JobStore) -> None:
    store.enqueue(ref())
    old = store.claim("w1", 10)
    assert old is not None
    requeued = store.enqueue(ref())  # more instances arrived: the series changed
    assert (requeued.state, requeued.generation) == ("queued", 2)
    assert not store.heartbeat(old, 10)
    assert not store.finish(old, "done")
    new = store.claim("w2", 10)
    assert new is not None and new.job.generation == 2 and new.job.attempts == 1
    assert store.finish(new, "done")


def test_an_expired_lease_is_claimed_again_and_the_old_worker_is_locked_out(
        store: JobStore, clock: Clock) -> None:
    store.enqueue(ref(), max_attempts=3)
    dead = store.claim("w1", lease_s=10)
    assert dead is not None
    clock.now += 9.9
    assert store.claim("w2", lease_s=10) is None  # lease still valid
    clock.now += 0.2
    taken = store.claim("w2", lease_s=10)
    assert taken is not None and taken.job.attempts == 2 and taken.job.worker_id == "w2"
    assert "w1 lost" in taken.job.error
    assert not store.heartbeat(dead, 10)
    assert not store.finish(dead, "failed", error="late")
    assert store.finish(taken, "done")


def test_attempts_are_bounded_when_workers_keep_dying(store: JobStore, clock: Clock) -> None:
    store.enqueue(ref(), max_attempts=2)
    for worker in ("w1", "w2"):
        claim = store.claim(worker, lease_s=5)
        assert claim is not None
        store.heartbeat(claim, 5, stage="analyse")
        clock.now += 6
    assert store.claim("w3", lease_s=5) is None
    job = store.list_jobs()[0]
    assert job.state == "failed"
    assert "lease of w2 expired in stage 'analyse', attempt 2 of 2" in job.error


def test_retry_requeues_then_gives_up(store: JobStore) -> None:
    store.enqueue(ref(), max_attempts=2)
    first = store.claim("w", 10)
    assert first is not None
    assert store.retry(first, "Orthanc: connection refused") == "queued"
    second = store.claim("w", 10)
    assert second is not None and second.job.attempts == 2
    assert store.retry(second, "Orthanc: connection refused") == "failed"
    job = store.get(second.job.job_id)
    assert job is not None and job.error.startswith("gave up after 2 attempts: Orthanc")
    assert store.retry(second, "again") is None  # no longer ours


def test_release_does_not_count_an_attempt(store: JobStore) -> None:
    store.enqueue(ref(), max_attempts=1)
    claim = store.claim("w", 10)
    assert claim is not None and store.release(claim)
    again = store.claim("w", 10)
    assert again is not None and again.job.attempts == 1


def test_skip_records_the_reason_and_replaces_a_job(store: JobStore) -> None:
    skipped = store.skip(ref(), "a localizer (ImageType ORIGINAL\\PRIMARY\\LOCALIZER)")
    assert skipped.state == "skipped" and "localizer" in skipped.reason
    assert skipped.finished_at is not None
    assert store.claim("w", 10) is None
    queued = store.enqueue(ref(), requested_by="rerun")
    assert queued.job_id == skipped.job_id and queued.state == "queued"
    assert store.counts()["queued"] == 1 and store.counts()["skipped"] == 0


def test_finish_only_accepts_final_states(store: JobStore) -> None:
    store.enqueue(ref())
    claim = store.claim("w", 10)
    assert claim is not None
    with pytest.raises(ValueError, match="'done' or 'failed'"):
        store.finish(claim, "skipped")


def test_the_store_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    first = JobStore(tmp_path / "jobs.sqlite", clock=clock)
    job = first.enqueue(ref(7))
    reopened = JobStore(tmp_path / "jobs.sqlite", clock=clock)
    assert reopened.get(job.job_id) == job
    assert reopened.find("s7") == job and reopened.find("1.2.3.7") == job


def test_listing_filters(store: JobStore) -> None:
    store.enqueue(ref(1, "A"))
    store.enqueue(ref(2, "B"))
    store.skip(ref(3, "A"), "not CT")
    assert {j.series_uid for j in store.list_jobs(study="A")} == {"1.2.3.1", "1.2.3.3"}
    assert [j.series_uid for j in store.list_jobs(state="skipped")] == ["1.2.3.3"]
    assert len(store.list_jobs(limit=1)) == 1
    with pytest.raises(ValueError, match="state must be one of"):
        store.list_jobs(state="bogus")


def test_two_claimers_take_each_job_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path)
    for n in range(40):
        JobStore(path).enqueue(ref(n))
    claimed: dict[str, list[int]] = {"a": [], "b": []}

    def claimer(name: str) -> None:
        store = JobStore(path)  # its own connections, as a second process would have
        while (claim := store.claim(name, lease_s=60)) is not None:
            claimed[name].append(claim.job.job_id)
            store.finish(claim, "done")

    threads = [threading.Thread(target=claimer, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = claimed["a"] + claimed["b"]
    assert sorted(everything) == sorted(set(everything)) and len(everything) == 40
    assert JobStore(path).counts()["done"] == 40
