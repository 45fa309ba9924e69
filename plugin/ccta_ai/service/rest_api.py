"""The REST API under ``/ccta-ai/``, as plain functions of a request.

Orthanc's own HTTP server serves it (``RegisterRestCallback``), so its authentication
applies. The routes (``{id}``: Orthanc identifier; jobs also by SeriesInstanceUID):

============================================  =========================================
``GET  /ccta-ai/jobs?state=&study=&limit=``   jobs, newest first
``GET  /ccta-ai/jobs/{job_id | series}``      one job
``GET  /ccta-ai/series/{id}``                 the job of a series
``POST /ccta-ai/series/{id}/rerun``           re-select and re-queue (``{"force": true}``
                                              bypasses the rules, never for our outputs)
``POST /ccta-ai/studies/{id}/rerun``          the same for every series of a study
``GET  /ccta-ai/studies/{id}/results``        jobs and stored outputs of a study
``GET  /ccta-ai/health``                      store and workers (503 when degraded)
``GET  /ccta-ai/metrics``                     Prometheus text
============================================  =========================================

Standard library only: this runs inside Orthanc's embedded interpreter.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ccta_ai import __version__
from ccta_ai.service.jobstore import STATES, Job, JobStore

PREFIX = "/ccta-ai"
_BUCKETS_S = (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
#: Must never be imported by the code that runs inside Orthanc (health reports them).
HEAVY_MODULES = ("numpy", "torch", "monai", "pydicom", "httpx")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # the URI, e.g. "/ccta-ai/jobs/3"
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    content_type: str = "application/json"
    allow: str = ""  # for 405


def _json(status: int, data: Any) -> Response:
    return Response(status, json.dumps(data, indent=2, ensure_ascii=True))


def _error(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class NotFoundError(LookupError):
    """The resource named in the URI does not exist (answered as 404)."""


RerunSeries = Callable[[str, bool], Job]
RerunStudy = Callable[[str, bool], list[Job]]


class RestApi:
    """Routes requests to the store and to the plugin's re-run and health hooks."""

    def __init__(
        self,
        store: JobStore,
        *,
        rerun_series: RerunSeries,
        rerun_study: RerunStudy,
        workers: Callable[[], list[dict[str, Any]]],
        expect_workers: bool,
    ) -> None:
        self.store = store
        self.rerun_series = rerun_series
        self.rerun_study = rerun_study
        self.workers = workers
        self.expect_workers = expect_workers
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("GET", re.compile(r"/jobs"), self.list_jobs),
            ("GET", re.compile(r"/jobs/([^/]+)"), self.get_job),
            ("GET", re.compile(r"/series/([^/]+)"), self.get_job),
            ("POST", re.compile(r"/series/([^/]+)/rerun"), self.post_rerun_series),
            ("POST", re.compile(r"/studies/([^/]+)/rerun"), self.post_rerun_study),
            ("GET", re.compile(r"/studies/([^/]+)/results"), self.get_results),
            ("GET", re.compile(r"/health"), self.get_health),
            ("GET", re.compile(r"/metrics"), self.get_metrics),
        ]

    def handle(self, request: Request) -> Response:
        """Answer one request; errors become JSON answers, never exceptions."""
        path = request.path[len(PREFIX):] if request.path.startswith(PREFIX) else request.path
        path = path.rstrip("/") or "/"
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            try:
                return handler(request, *match.groups())
            except NotFoundError as error:
                return _error(404, str(error))
            except ValueError as error:
                return _error(400, str(error))
        if allowed:
            return Response(405, json.dumps({"error": f"use {', '.join(allowed)}"}),
                            allow=",".join(allowed))
        return _error(404, f"no such resource: {request.path}")

    # --- handlers ----------------------------------------------------------------------

    def list_jobs(self, request: Request) -> Response:
        state = request.query.get("state") or None
        if state is not None and state not in STATES:
            raise ValueError(f"state must be one of {list(STATES)}, got {state!r}")
        limit = _int(request.query.get("limit", "100"), "limit", 1, 10000)
        offset = _int(request.query.get("offset", "0"), "offset", 0, 10**9)
        jobs = self.store.list_jobs(state=state, study=request.query.get("study") or None,
                               limit=limit, offset=offset)
        return _json(200, {"jobs": [job.to_json() for job in jobs], "limit": limit,
                           "offset": offset})

    def _find(self, key: str) -> Job:
        job = self.store.get(int(key)) if key.isdigit() else None
        job = job or self.store.find(key)
        if job is None:
            raise NotFoundError(f"no job for {key!r}")
        return job

    def get_job(self, _request: Request, key: str) -> Response:
        return _json(200, self._find(key).to_json())

    @staticmethod
    def _force(request: Request) -> bool:
        if not request.body.strip():
            return False
        try:
            body = json.loads(request.body)
        except ValueError as error:
            raise ValueError(f"body must be JSON like {{\"force\": true}}: {error}") from error
        force = body.get("force", False) if isinstance(body, dict) else None
        if not isinstance(force, bool):
            raise ValueError(f"\"force\" must be true or false, got {force!r}")
        return force

    def post_rerun_series(self, request: Request, series_id: str) -> Response:
        job = self.rerun_series(series_id, self._force(request))
        return _json(200, job.to_json())

    def post_rerun_study(self, request: Request, study_id: str) -> Response:
        jobs = self.rerun_study(study_id, self._force(request))
        return _json(200, {"jobs": [job.to_json() for job in jobs]})

    def get_results(self, _request: Request, study_id: str) -> Response:
        jobs = self.store.list_jobs(study=study_id, limit=10000)
        if not jobs:
            raise NotFoundError(f"no jobs for study {study_id!r}")
        analysed = [job for job in jobs if job.state != "skipped"]
        return _json(200, {
            "study": study_id,
            "series": [
                {"job_id": job.job_id, "series_uid": job.series_uid,
                 "orthanc_series_id": job.orthanc_series_id, "description": job.description,
                 "state": job.state, "reason": job.reason, "error": job.error,
                 "finished_at": job.finished_at, "outputs": job.outputs,
                 "forward_state": job.forward_state, "forward_result": job.forward_result}
                for job in analysed
            ],
            "skipped": [{"orthanc_series_id": job.orthanc_series_id,
                         "description": job.description, "reason": job.reason}
                        for job in jobs if job.state == "skipped"],
        })

    def get_health(self, _request: Request) -> Response:
        problems = []
        counts: dict[str, int] = {}
        try:
            counts = self.store.counts()
        except Exception as error:
            problems.append(f"job store {self.store.path}: {error}")
        workers = self.workers()
        if self.expect_workers and not any(w["alive"] for w in workers):
            problems.append("no worker is running")
        status = "degraded" if problems else "ok"
        return _json(503 if problems else 200, {
            "status": status, "problems": problems, "version": __version__,
            "job_store": str(self.store.path), "jobs": counts, "workers": workers,
            "python": sys.version.split()[0],
            "heavy_modules_loaded": [m for m in HEAVY_MODULES if m in sys.modules],
        })

    def get_metrics(self, _request: Request) -> Response:
        text = render_metrics(self.store.counts(), self.store.finished_timings(),
                              self.workers())
        return Response(200, text, "text/plain; version=0.0.4")


def _int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def _histogram(name: str, help_text: str, values: dict[str, list[float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    for state, samples in sorted(values.items()):
        for bound in _BUCKETS_S:
            n = sum(1 for v in samples if v <= bound)
            lines.append(f'{name}_bucket{{state="{state}",le="{bound:g}"}} {n}')
        lines.append(f'{name}_bucket{{state="{state}",le="+Inf"}} {len(samples)}')
        lines.append(f'{name}_sum{{state="{state}"}} {sum(samples):.3f}')
        lines.append(f'{name}_count{{state="{state}"}} {len(samples)}')
    return lines


def render_metrics(counts: dict[str, int], timings: list[tuple[str, float, float]],
                   workers: list[dict[str, Any]]) -> str:
    """Prometheus text exposition (format 0.0.4). Timings come from the store's
    finished jobs (a re-run replaces its series' earlier timing)."""
    lines = ["# HELP ccta_ai_jobs Jobs in the job store, by state.",
             "# TYPE ccta_ai_jobs gauge"]
    lines += [f'ccta_ai_jobs{{state="{state}"}} {n}' for state, n in counts.items()]
    run: dict[str, list[float]] = {"done": [], "failed": []}
    latency: dict[str, list[float]] = {"done": [], "failed": []}
    for state, run_s, latency_s in timings:
        run.setdefault(state, []).append(run_s)
        latency.setdefault(state, []).append(latency_s)
    lines += _histogram("ccta_ai_job_run_seconds",
                        "Time from claim to finish of finished jobs.", run)
    lines += _histogram("ccta_ai_job_latency_seconds",
                        "Time from enqueue (series stable) to finish of finished jobs.",
                        latency)
    lines += ["# HELP ccta_ai_workers_alive Local worker processes running.",
              "# TYPE ccta_ai_workers_alive gauge",
              f"ccta_ai_workers_alive {sum(1 for w in workers if w['alive'])}",
              "# HELP ccta_ai_worker_restarts_total Local worker restarts since Orthanc started.",
              "# TYPE ccta_ai_worker_restarts_total counter",
              f"ccta_ai_worker_restarts_total {sum(int(w['restarts']) for w in workers)}"]
    return "\n".join(lines) + "\n"
