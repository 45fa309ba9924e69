"""A study sent into a private Orthanc with our plugin, as a CT scanner would, and its
jobs awaited: what ``ccta-ai demo`` and ``ccta-ai bench e2e`` share.

Timing: "last instance received" is when ``storescu`` returned (it waits for Orthanc's
answer to the last C-STORE, so Orthanc had the instance by then); "results stored" is
the job's ``finished_at`` (after its outputs were stored and forwarded). Both clocks
are this machine's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from ccta_ai.errors import CctaAiError
from ccta_ai.service.launcher import OrthancServer, dicom_files

FINAL_STATES = ("done", "failed", "skipped")


class E2eError(CctaAiError):
    """The end-to-end run could not complete (no job, time out)."""


@dataclass
class SentStudy:
    """A study on disk: its files, series and the phantom's truth (if any)."""

    folder: Path
    files: list[Path]
    study_uid: str
    series: dict[str, str]  # SeriesInstanceUID -> SeriesDescription
    truth: dict[str, Any] = field(default_factory=dict)


@dataclass
class E2eResult:
    study: SentStudy
    sent_at: float  # storescu returned (UNIX seconds)
    send_s: float
    jobs: list[dict[str, Any]]  # one per input series, final

    @property
    def analysed(self) -> list[dict[str, Any]]:
        return [job for job in self.jobs if job["state"] != "skipped"]

    @property
    def last_stored_at(self) -> float | None:
        times = [job["finished_at"] for job in self.analysed if job.get("finished_at")]
        return max(times) if times else None


def make_study(folder: Path, *, seed: int, size: str) -> SentStudy:
    """Write the synthetic study of ``seed`` (:mod:`ccta_ai.phantom`) into ``folder``."""
    from ccta_ai.phantom.study import write_study

    truth = write_study(folder, seed=seed, size=size)
    return read_study(folder, truth)


def read_study(folder: Path, truth: dict[str, Any] | None = None) -> SentStudy:
    """A study already on disk (every DICOM file under ``folder``; one study)."""
    files = dicom_files([folder])
    series: dict[str, str] = {}
    studies = set()
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True,
                             specific_tags=["StudyInstanceUID", "SeriesInstanceUID",
                                            "SeriesDescription"])
        studies.add(str(ds.StudyInstanceUID))
        series.setdefault(str(ds.SeriesInstanceUID), str(ds.get("SeriesDescription", "")))
    if len(studies) != 1:
        raise E2eError(f"{folder} holds {len(studies)} studies; expected exactly one")
    return SentStudy(folder, files, studies.pop(), series, truth or {})


def send_and_wait(server: OrthancServer, study: SentStudy, *, timeout_s: float,
                  progress: bool = False) -> E2eResult:
    """C-STORE the study with ``storescu``, then wait until every series has a final
    job (done, failed or skipped)."""
    started = time.time()
    server.store_scu(study.files)
    sent_at = time.time()
    if progress:
        print(f"sent {len(study.files)} instances in {sent_at - started:.1f} s; waiting for "
              "the series to become stable and be analysed...", flush=True)
    deadline = time.monotonic() + timeout_s
    jobs: dict[str, dict[str, Any]] = {}
    last_line = ""
    while time.monotonic() < deadline:
        for series_uid in study.series:
            if series_uid not in jobs or jobs[series_uid]["state"] not in FINAL_STATES:
                job = server.job(series_uid)
                if job is not None:
                    jobs[series_uid] = job
        if len(jobs) == len(study.series) and all(
                job["state"] in FINAL_STATES for job in jobs.values()):
            return E2eResult(study, sent_at, sent_at - started, list(jobs.values()))
        if progress:
            line = ", ".join(f"{j['description'] or '?'}: {j['state']}"
                             f"{' (' + j['stage'] + ')' if j.get('stage') else ''}"
                             for j in jobs.values())
            if line != last_line:
                print(f"  [{time.time() - sent_at:5.1f} s] {line or 'no job yet'}",
                      flush=True)
                last_line = line
        time.sleep(0.25)
    waiting = {uid: (jobs.get(uid) or {}).get("state", "no job") for uid in study.series}
    raise E2eError(f"not finished within {timeout_s:g} s: {waiting}\n{server.logs()}")


def breakdown(job: dict[str, Any], sent_at: float) -> list[tuple[str, float]]:
    """Seconds per step of one analysed job, from the last instance received."""
    stages = job.get("stages") or {}
    steps: list[tuple[str, float]] = [
        ("wait for stability (StableAge) and selection", job["enqueued_at"] - sent_at)]
    if job.get("started_at"):
        steps.append(("queued until a worker took it", job["started_at"] - job["enqueued_at"]))
    names = {"fetch_s": "read the series from Orthanc", "analyse_s": "analyse (child process)",
             "store_s": "store the results in Orthanc", "forward_s": "forward the results"}
    for key, label in names.items():
        if key in stages:
            steps.append((label, float(stages[key])))
        if key == "analyse_s":
            steps += [(f"    pipeline: {name[len('pipeline.'):-2]}", float(value))
                      for name, value in stages.items() if name.startswith("pipeline.")]
    if job.get("finished_at"):
        steps.append(("total: last instance received → results stored",
                      job["finished_at"] - sent_at))
    return steps


def format_breakdown(steps: list[tuple[str, float]], indent: str = "  ") -> list[str]:
    width = max((len(label) for label, _ in steps), default=0)
    return [f"{indent}{label:<{width}}  {seconds:7.2f} s" for label, seconds in steps]
