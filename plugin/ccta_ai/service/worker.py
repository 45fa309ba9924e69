"""The worker: its own OS process in the project's venv (torch never inside Orthanc).

Loop: claim a job (a lease) → read the series from Orthanc → run the pipeline function
in a child process (:mod:`ccta_ai.service.pipeline_runner`; one is kept started
ahead of the job, its imports done and its model loaded) under the job timeout →
replace the series' earlier outputs by the new ones → forward → mark the job. A
heartbeat thread renews the lease; a worker that lost its lease (it stalled, or the
series was re-queued meanwhile) drops the job without touching it.

Failures are recorded with a specific reason and never stop the loop:

* input problems and pipeline exceptions → ``failed`` (the same input would fail again);
* timeout → ``failed`` ("timed out after N s");
* the pipeline process dying, or Orthanc unreachable / 5xx → retried (bounded);
* SIGTERM (Orthanc stopping) or the parent gone → the job is released untouched.

Started by the plugin's supervisor as ``python -m ccta_ai.service.worker --config
FILE --parent-pid PID``; :func:`main` is also what ``ccta-ai worker`` calls.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import httpx

from ccta_ai.errors import CctaAiError, ConfigError
from ccta_ai.service.forwarding import Outcome, destinations, forward
from ccta_ai.service.jobstore import Claim, JobStore
from ccta_ai.service.orthanc_port import OrthancPort, SeriesGoneError, is_transient, make_client
from ccta_ai.service.pipeline_port import PipelineConfig
from ccta_ai.service.settings import TOKEN_ENV, Settings, load_settings

log = logging.getLogger("ccta_ai.worker")

#: Credentials of the DICOMweb server in DICOMweb mode (never on the command line).
DICOMWEB_USER_ENV = "CCTA_AI_DICOMWEB_USERNAME"
DICOMWEB_PASSWORD_ENV = "CCTA_AI_DICOMWEB_PASSWORD"


class PacsPort(Protocol):
    """What the worker needs from the archive (:class:`OrthancPort`, or
    :class:`~ccta_ai.service.dicomweb_port.DicomWebPort` in DICOMweb mode)."""

    def wait_ready(self, should_stop: Callable[[], bool], max_wait_s: float = 5.0) -> bool: ...

    def resolve_series(self, orthanc_series_id: str, series_uid: str) -> str: ...

    def download_series(self, series_id: str, dest: Path, max_instances: int
                        ) -> list[Path]: ...

    def upload(self, files: Iterable[Path]) -> list[str]: ...

    def delete_own_outputs(self, instance_ids: list[str], input_series_id: str
                           ) -> list[str]: ...

    def store_to(self, kind: str, name: str, instance_ids: list[str]) -> None: ...


class _AbandonJobError(Exception):
    """Stop working on the claimed job (lease lost, or the worker is stopping)."""

    def __init__(self, why: str, release: bool) -> None:
        super().__init__(why)
        self.release = release


class _Heartbeat(threading.Thread):
    """Renews a claim's lease every ``interval_s``; sets :attr:`lost` when it cannot."""

    def __init__(self, store: JobStore, claim: Claim, lease_s: float, interval_s: float) -> None:
        super().__init__(name=f"heartbeat-{claim.job.job_id}", daemon=True)
        self.store, self.claim = store, claim
        self.lease_s, self.interval_s = lease_s, interval_s
        self.lost = threading.Event()
        self._done = threading.Event()

    def beat(self, stage: str | None = None) -> None:
        try:
            if not self.store.heartbeat(self.claim, self.lease_s, stage):
                self.lost.set()
        except Exception:  # the store busy or unreachable: try again next beat
            log.exception("heartbeat of job %d failed", self.claim.job.job_id)

    def run(self) -> None:
        while not self._done.wait(self.interval_s) and not self.lost.is_set():
            self.beat()

    def stop(self) -> None:
        self._done.set()


class Worker:
    """Claims and processes jobs until asked to stop."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        port: PacsPort,
        worker_id: str,
        *,
        parent_pid: int | None = None,
        python: str = sys.executable,
    ) -> None:
        self.settings = settings
        self.store = store
        self.port = port
        self.worker_id = worker_id
        self.parent_pid = parent_pid
        self.python = python
        self.stop_requested = threading.Event()
        self._spare: subprocess.Popen[bytes] | None = None

    # --- the loop ----------------------------------------------------------------------

    def should_stop(self) -> bool:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            if not self.stop_requested.is_set():
                log.warning("parent process %d is gone: stopping", self.parent_pid)
            self.stop_requested.set()
        return self.stop_requested.is_set()

    def run(self, *, once: bool = False) -> int:
        """Process jobs until stopped (``once``: at most one job). Returns an exit code."""
        if not self.port.wait_ready(self.should_stop):
            return 0
        log.info("worker %s ready (Orthanc %s, store %s)", self.worker_id,
                 self.settings.orthanc_url, self.store.path)
        try:
            return self._loop(once)
        finally:
            self._stop_spare()

    def _loop(self, once: bool) -> int:
        self._start_spare()
        while not self.should_stop():
            try:
                claim = self.store.claim(self.worker_id, self.settings.lease_s)
            except Exception:  # e.g. the store locked for longer than its busy timeout
                log.exception("claiming a job failed; trying again")
                self.stop_requested.wait(self.settings.poll_s)
                continue
            if claim is None:
                if once:
                    return 0
                self.stop_requested.wait(self.settings.poll_s)
                continue
            try:
                self.process(claim)
            except Exception:  # recording the outcome failed; the lease will expire
                log.exception("job %d: recording its outcome failed", claim.job.job_id)
            if once:
                return 0
            self._start_spare()
        return 0

    # --- the pipeline process ----------------------------------------------------------

    def _runner_command(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "ccta_ai.service.pipeline_runner", *args]

    def _start_spare(self) -> None:
        """Start the next job's pipeline process now: it imports the pipeline and loads
        the model while there is no job, then waits for a request on its stdin
        (``Workers.PrestartPipeline``)."""
        if not self.settings.prestart_pipeline or self.should_stop():
            return
        if self._spare is not None and self._spare.poll() is None:
            return
        self._spare = subprocess.Popen(
            self._runner_command("--spare", self.settings.pipeline), stdin=subprocess.PIPE)

    def _stop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        try:
            assert spare.stdin is not None
            spare.stdin.close()  # no request: it exits
            spare.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            _kill(spare)

    def _pipeline_process(self, request_path: Path) -> subprocess.Popen[bytes]:
        """The spare, handed ``request_path``, when it is alive; else a new process."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is None and spare.stdin is not None:
            try:
                spare.stdin.write(f"{request_path}\n".encode())
                spare.stdin.close()
                return spare
            except OSError:  # it died just now
                _kill(spare)
        return subprocess.Popen(self._runner_command(str(request_path)))

    def process(self, claim: Claim) -> None:
        """Do one claimed job and record its outcome; never raises."""
        job = claim.job
        log.info("job %d (series %s), attempt %d/%d", job.job_id, job.series_uid,
                 job.attempts, job.max_attempts)
        heartbeat = _Heartbeat(self.store, claim, self.settings.lease_s,
                               self.settings.heartbeat_s)
        heartbeat.start()
        work_dir = self.settings.state_dir / "work" / f"job-{job.job_id}-{os.getpid()}"
        stages: dict[str, float] = {}
        try:
            self._process(claim, heartbeat, work_dir, stages)
        except _AbandonJobError as abandon:
            log.warning("job %d abandoned: %s", job.job_id, abandon)
            if abandon.release:
                self.store.release(claim)
        except SeriesGoneError as error:
            self.store.finish(claim, "failed", error=str(error), stages=stages)
        except Exception as error:
            if is_transient(error):
                state = self.store.retry(claim, f"Orthanc: {error}")
                log.warning("job %d: transient error (%s) → %s", job.job_id, error, state)
            else:
                log.exception("job %d failed", job.job_id)
                reason = str(error) if isinstance(error, CctaAiError) else (
                    f"worker error: {type(error).__name__}: {error}")
                self.store.finish(claim, "failed", error=reason, stages=stages)
        finally:
            heartbeat.stop()
            shutil.rmtree(work_dir, ignore_errors=True)

    def _check(self, heartbeat: _Heartbeat) -> None:
        if heartbeat.lost.is_set():
            raise _AbandonJobError("lease lost (the job was re-queued or taken by another worker)",
                           release=False)
        if self.should_stop():
            raise _AbandonJobError("worker stopping", release=True)

    def _process(self, claim: Claim, heartbeat: _Heartbeat, work_dir: Path,
                 stages: dict[str, float]) -> None:
        job = claim.job
        started = time.monotonic()
        heartbeat.beat("fetch")
        series_id = self.port.resolve_series(job.orthanc_series_id, job.series_uid)
        files = self.port.download_series(series_id, work_dir / "input",
                                          self.settings.max_instances_per_series)
        stages["fetch_s"] = time.monotonic() - started
        self._check(heartbeat)

        mark = time.monotonic()
        heartbeat.beat("analyse")
        result = self._run_pipeline(claim, files, work_dir, heartbeat, started)
        stages["analyse_s"] = time.monotonic() - mark
        for name, seconds in (result.get("stage_times_s") or {}).items():
            stages[f"pipeline.{name}_s"] = float(seconds)
        if not result["ok"]:
            if result["kind"] == "crashed":
                state = self.store.retry(claim, result["error"])
                log.warning("job %d: %s → %s", job.job_id, result["error"], state)
            else:
                self.store.finish(claim, "failed", error=result["error"], stages=stages)
            return
        self._check(heartbeat)

        mark = time.monotonic()
        heartbeat.beat("store")
        previous = (self.store.get(job.job_id) or job).outputs
        if previous:
            gone = self.port.delete_own_outputs(previous, series_id)
            self.store.remove_outputs(job.job_id, gone)
        self._check(heartbeat)
        stored = self.port.upload(Path(p) for p in result["outputs"])
        self.store.add_outputs(job.job_id, stored)
        stages["store_s"] = time.monotonic() - mark
        outcome = Outcome("", "")
        if stored and self.settings.forwarding.enabled:
            mark = time.monotonic()
            heartbeat.beat("forward")
            forwarding = self.settings.forwarding
            outcome = forward(
                destinations(forwarding, self.port, stored, [Path(p) for p in result["outputs"]]),
                attempts=forwarding.attempts, retry_delay_s=forwarding.retry_delay_s,
                sleep=self.stop_requested.wait, before_attempt=lambda: self._check(heartbeat))
            stages["forward_s"] = time.monotonic() - mark
            log.info("job %d: %s", job.job_id, outcome.result)
        stages["total_s"] = time.monotonic() - started
        if self.store.finish(claim, "done", stages=stages, forward_state=outcome.state,
                             forward_result=outcome.result):
            log.info("job %d done: %d outputs in %.1f s", job.job_id, len(stored),
                     stages["total_s"])
        else:
            log.warning("job %d: finished, but the job was re-queued meanwhile", job.job_id)

    def _run_pipeline(self, claim: Claim, files: list[Path], work_dir: Path,
                      heartbeat: _Heartbeat, started: float) -> dict[str, Any]:
        """Run the pipeline function in a child process, under the job timeout."""
        job = claim.job
        config = PipelineConfig(series_uid=job.series_uid, study_uid=job.study_uid,
                                output_language=self.settings.output_language,
                                settings=self.settings.to_json())
        result_path = work_dir / "result.json"
        request_path = work_dir / "request.json"
        request_path.write_text(json.dumps({
            "pipeline": self.settings.pipeline, "files": [str(f) for f in files],
            "out_dir": str(work_dir / "output"), "config": asdict(config),
            "result": str(result_path), "parent_pid": os.getpid(),
        }), "utf-8")
        child = self._pipeline_process(request_path)
        deadline = started + self.settings.job_timeout_s
        try:
            while True:
                try:
                    code = child.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if time.monotonic() > deadline:
                    _kill(child)
                    return {"ok": False, "kind": "timeout", "error": (
                        f"timed out after {self.settings.job_timeout_s:g} s "
                        "(Limits.JobTimeoutSeconds) while the pipeline was running")}
                self._check(heartbeat)
        except _AbandonJobError:
            _kill(child)
            raise
        if code == 0 and result_path.is_file():
            return dict(json.loads(result_path.read_text("utf-8")))
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        hint = " (out of memory?)" if code in (-9, 137) else ""
        return {"ok": False, "kind": "crashed",
                "error": f"pipeline process died ({how}){hint}"}


def _kill(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccta-ai worker", description=__doc__.split("\n")[0],
        epilog="Orthanc mode: --config FILE (started by the plugin, or by hand next to an "
               "Orthanc). DICOMweb mode: --dicomweb URL (any DICOMweb server; credentials "
               f"from ${DICOMWEB_USER_ENV} and ${DICOMWEB_PASSWORD_ENV}).")
    parser.add_argument("--config", type=Path, default=None,
                        help="settings written by the plugin, or an Orthanc configuration "
                             "file (JSON) with a CctaAi section")
    parser.add_argument("--worker-id", default="worker",
                        help="name shown in the jobs (host and PID are appended)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process (Orthanc) is no longer the parent")
    parser.add_argument("--once", action="store_true", help="process at most one job")
    parser.add_argument("--log-level", default="INFO")
    web = parser.add_argument_group("DICOMweb mode")
    web.add_argument("--dicomweb", metavar="URL", default=None,
                     help="DICOMweb root (e.g. http://pacs:8042/dicom-web): find new CCTA "
                          "series with QIDO-RS, read with WADO-RS, store with STOW-RS")
    web.add_argument("--poll-s", type=float, default=5.0, help="seconds between QIDO-RS polls")
    web.add_argument("--stable-s", type=float, default=10.0,
                     help="a series is complete when its instance count has not changed "
                          "this long")
    web.add_argument("--state", type=Path, default=Path("ccta-ai-dicomweb/jobs.sqlite"),
                     help="the job store of this mode (SQLite file; work files beside it)")
    web.add_argument("--pipeline", default=None, help="pipeline function, module:function")
    web.add_argument("--qido-filter", action="append", default=[], metavar="KEY=VALUE",
                     help="extra QIDO-RS series filter, e.g. StudyDate=20260101- (repeatable; "
                          "use wildcards, not spaces)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``ccta-ai worker --config FILE [--worker-id NAME] [--parent-pid PID] [--once]`` or
    ``ccta-ai worker --dicomweb URL [--poll-s N] [--state DB]``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.config is None and args.dicomweb is None:
        parser.error("give --config FILE (Orthanc mode) or --dicomweb URL (DICOMweb mode; "
                     "--config then only supplies the CctaAi settings)")
    worker_id = f"{args.worker_id}@{socket.gethostname()}:{os.getpid()}"
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, force=True,
                        format=f"%(asctime)s {worker_id} %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.dicomweb is not None:
        return _main_dicomweb(args, worker_id)
    settings = load_settings(args.config)
    store = JobStore(settings.job_store_path)
    client = make_client(settings, os.environ.get(TOKEN_ENV))
    worker = Worker(settings, store, OrthancPort(client, settings.own_outputs), worker_id,
                    parent_pid=args.parent_pid)
    _stop_on_signals(worker)
    try:
        return worker.run(once=args.once)
    except httpx.HTTPError as error:
        log.error("Orthanc error outside a job: %s", error)
        return 1
    finally:
        client.close()


def _stop_on_signals(worker: Worker) -> None:
    def stop(_signal: int, _frame: Any) -> None:
        worker.stop_requested.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _main_dicomweb(args: argparse.Namespace, worker_id: str) -> int:
    from ccta_ai.service.dicomweb_poller import DicomWebPoller
    from ccta_ai.service.dicomweb_port import DicomWebPort, make_dicomweb_client

    filters = {}
    for item in args.qido_filter:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--qido-filter must be KEY=VALUE, got {item!r}")
        filters[key] = value
    base = load_settings(args.config) if args.config else Settings()
    state = args.state.resolve()
    settings = dataclasses.replace(
        base, orthanc_url=args.dicomweb.rstrip("/"), job_store_path=state,
        state_dir=state.parent, poll_s=min(args.poll_s, 1.0),
        pipeline=args.pipeline or base.pipeline)
    store = JobStore(settings.job_store_path)
    client = make_dicomweb_client(settings.orthanc_url, os.environ.get(DICOMWEB_USER_ENV, ""),
                                  os.environ.get(DICOMWEB_PASSWORD_ENV, ""))
    port = DicomWebPort(client, search_filters=filters)
    worker = Worker(settings, store, port, worker_id, parent_pid=args.parent_pid)
    _stop_on_signals(worker)
    if not port.wait_ready(worker.should_stop):
        return 0
    poller = DicomWebPoller(port, store, settings, stable_s=args.stable_s)
    thread = threading.Thread(target=poller.run, args=(worker.stop_requested, args.poll_s),
                              name="ccta-ai-qido", daemon=True)
    thread.start()
    log.info("DICOMweb mode: %s, job store %s", settings.orthanc_url, store.path)
    try:
        return worker.run(once=args.once)
    finally:
        worker.stop_requested.set()
        thread.join(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
