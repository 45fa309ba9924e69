"""Glue between Orthanc's plugin API and the service.

The ``orthanc`` module is passed in (only :mod:`ccta_ai.orthanc_entry` imports it), so
a fake of the plugin API tests this without a server. Change handlers are plain
functions of a resource identifier, wired in one table (:meth:`Plugin.handlers`);
Orthanc's single change callback (:func:`change_callback`) looks them up.

Callbacks only enqueue: STABLE_SERIES puts the series on an in-memory queue; a
dispatcher thread gathers its facts through ``orthanc.RestApiGet`` (in-process, no
HTTP), applies selection and writes the job (queued or skipped, with the reason).
ORTHANC_STARTED starts the dispatcher and the worker supervisor, ORTHANC_STOPPED stops
both. Nothing here lets an exception reach Orthanc: errors are logged.

Standard library only: this runs inside Orthanc's embedded interpreter.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccta_ai.service.jobstore import Job, JobStore, SeriesRef
from ccta_ai.service.rest_api import NotFoundError, Request, Response, RestApi
from ccta_ai.service.selection import Decision, SeriesFacts, decide, facts_from_orthanc
from ccta_ai.service.settings import (
    SOURCE_ROOT,
    TOKEN_ENV,
    Settings,
    save_settings,
    settings_from_orthanc,
)
from ccta_ai.service.supervisor import Supervisor

REST_ROUTE = "/ccta-ai(/.*)?"
Handler = Callable[[str], None]


class Plugin:
    """The plugin's state: settings, job store, dispatcher, supervisor, REST API."""

    def __init__(self, orthanc: Any, settings: Settings, store: JobStore) -> None:
        self.orthanc = orthanc
        self.settings = settings
        self.store = store
        self.queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self.supervisor: Supervisor | None = None
        self._dispatcher: threading.Thread | None = None
        self.api = RestApi(store, rerun_series=self.rerun_series, rerun_study=self.rerun_study,
                           workers=self.workers, expect_workers=settings.start_workers
                           and settings.workers > 0)

    # --- the handler table -------------------------------------------------------------

    def handlers(self) -> dict[Any, list[Handler]]:
        change = self.orthanc.ChangeType
        return {
            change.STABLE_SERIES: [self.on_stable_series],
            change.ORTHANC_STARTED: [self.on_started],
            change.ORTHANC_STOPPED: [self.on_stopped],
        }

    def on_stable_series(self, series_id: str) -> None:
        """Only enqueue (never block Orthanc's change thread)."""
        self.queue.put(("stable", series_id))

    def on_started(self, _resource_id: str = "") -> None:
        self.start_dispatcher()
        if self.settings.start_workers and self.settings.workers > 0:
            self.start_workers()

    def on_stopped(self, _resource_id: str = "") -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
        self.stop_dispatcher()

    # --- dispatcher: selection off Orthanc's change thread -----------------------------

    def start_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch, daemon=True,
                                                name="ccta-ai-dispatcher")
            self._dispatcher.start()

    def stop_dispatcher(self, timeout_s: float = 5.0) -> None:
        if self._dispatcher is not None:
            self.queue.put(None)
            self._dispatcher.join(timeout_s)
            self._dispatcher = None

    def _dispatch(self) -> None:
        while True:
            item = self.queue.get()
            try:
                if item is None:
                    return
                requested_by, series_id = item
                job = self.select_series(series_id, requested_by)
                self.log_info(f"ccta-ai: series {series_id} → {job.state}: {job.reason}")
            except NotFoundError as error:
                self.log_warning(f"ccta-ai: {error}")
            except Exception:
                self.log_error(f"ccta-ai: selection failed:\n{traceback.format_exc()}")
            finally:
                self.queue.task_done()

    def _get_json(self, uri: str) -> Any:
        try:
            answer = self.orthanc.RestApiGet(uri)
        except Exception as error:
            raise NotFoundError(f"GET {uri} failed: {error}") from error
        return json.loads(answer)

    def series_facts(self, series_id: str) -> SeriesFacts:
        """Facts of one series from Orthanc's REST API (no pixel data read)."""
        series = self._get_json(f"/series/{series_id}")
        instances = series.get("Instances") or []
        if not instances:
            raise NotFoundError(f"series {series_id} has no instances")
        tags = self._get_json(f"/instances/{instances[0]}/tags?short")
        return facts_from_orthanc(series, tags)

    def select_series(self, series_id: str, requested_by: str, force: bool = False) -> Job:
        """Apply selection to a series and record the job (queued or skipped)."""
        facts = self.series_facts(series_id)
        decision: Decision = decide(facts, self.settings.selection, self.settings.own_outputs,
                                    self.settings.max_instances_per_series, force=force)
        ref = SeriesRef(series_uid=facts.series_uid, study_uid=facts.study_uid,
                        orthanc_series_id=facts.orthanc_series_id,
                        orthanc_study_id=facts.orthanc_study_id,
                        description=facts.series_description, instances=facts.n_instances)
        if decision.accept:
            return self.store.enqueue(ref, reason=decision.reason, requested_by=requested_by,
                                      max_attempts=self.settings.max_attempts)
        return self.store.skip(ref, decision.reason, requested_by=requested_by)

    def rerun_series(self, series_id: str, force: bool) -> Job:
        return self.select_series(series_id, "rerun", force)

    def rerun_study(self, study_id: str, force: bool) -> list[Job]:
        study = self._get_json(f"/studies/{study_id}")
        return [self.select_series(series_id, "rerun", force)
                for series_id in study.get("Series", [])]

    # --- workers -----------------------------------------------------------------------

    def worker_command(self, slot: int, settings_path: Path) -> list[str]:
        return [str(self.settings.worker_python), "-m", "ccta_ai.service.worker",
                "--config", str(settings_path), "--worker-id", f"local-{slot}",
                "--parent-pid", str(os.getpid())]

    def start_workers(self) -> None:
        settings_path = self.settings.state_dir / "worker-settings.json"
        save_settings(self.settings, settings_path)
        env = dict(os.environ)
        env[TOKEN_ENV] = self.orthanc.GenerateRestApiAuthorizationToken()
        env["PYTHONPATH"] = os.pathsep.join(
            [str(SOURCE_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["PYTHONUNBUFFERED"] = "1"
        self.supervisor = Supervisor(
            lambda slot: self.worker_command(slot, settings_path),
            count=self.settings.workers, env=env,
            backoff_s=self.settings.restart_backoff_s, log=self.log_warning,
            log_dir=self.settings.state_dir / "logs")
        self.supervisor.start()

    def workers(self) -> list[dict[str, Any]]:
        return self.supervisor.status() if self.supervisor is not None else []

    # --- REST --------------------------------------------------------------------------

    def rest_callback(self, output: Any, uri: str, **request: Any) -> None:
        """Orthanc's REST callback for ``/ccta-ai/...``."""
        try:
            body = request.get("body") or b""
            response = self.api.handle(Request(
                method=str(request.get("method", "GET")), path=uri,
                query={str(k): str(v) for k, v in (request.get("get") or {}).items()},
                body=body.encode() if isinstance(body, str) else bytes(body)))
        except Exception:
            self.log_error(f"ccta-ai: REST {uri} failed:\n{traceback.format_exc()}")
            response = Response(500, json.dumps({"error": "internal error, see Orthanc's log"}))
        answer(output, response)

    # --- logging -----------------------------------------------------------------------

    def log_info(self, message: str) -> None:
        self.orthanc.LogInfo(message)

    def log_warning(self, message: str) -> None:
        self.orthanc.LogWarning(message)

    def log_error(self, message: str) -> None:
        self.orthanc.LogError(message)


def answer(output: Any, response: Response) -> None:
    """Send ``response`` through an ``orthanc.RestOutput`` (plugin 4.0 and later)."""
    if response.status == 200:
        output.AnswerBuffer(response.body.encode("utf-8"), response.content_type)
    elif response.status == 405:
        output.SendMethodNotAllowed(response.allow)
    else:
        output.SetHttpHeader("Content-Type", response.content_type)
        try:  # plugin 4.0: (status, body, size); fixed to (status, body) in 4.1
            output.SendHttpStatus(response.status, response.body,
                                  len(response.body.encode("utf-8")))
        except TypeError:
            output.SendHttpStatus(response.status, response.body.encode("utf-8"))


def change_callback(table: dict[Any, list[Handler]], log_error: Callable[[str], None]
                    ) -> Callable[[Any, Any, str], None]:
    """Orthanc's one change callback: run the handlers of the change type; a handler's
    exception is logged and never reaches Orthanc."""

    def on_change(change_type: Any, _level: Any, resource_id: str) -> None:
        for handler in table.get(change_type, ()):
            try:
                handler(resource_id)
            except Exception:
                log_error(f"ccta-ai: handler {getattr(handler, '__name__', handler)} "
                          f"failed:\n{traceback.format_exc()}")

    return on_change


def _config_dir(orthanc: Any) -> Path:
    path = Path(orthanc.GetConfigurationPath())
    return path if path.is_dir() else path.parent


def install(orthanc: Any) -> Plugin | None:
    """Read the configuration, open the job store, register the callbacks.

    Never raises: on any error it logs, registers a REST answer that reports the
    problem (``/ccta-ai/health`` → 503) and returns None, and Orthanc runs on.
    """
    try:
        config = json.loads(orthanc.GetConfiguration())
        settings = settings_from_orthanc(config, _config_dir(orthanc))
        if not settings.enabled:
            orthanc.LogWarning("ccta-ai: disabled (CctaAi.Enabled is false)")
            return None
        store = JobStore(settings.job_store_path)
        plugin = Plugin(orthanc, settings, store)
        orthanc.RegisterOnChangeCallback(change_callback(plugin.handlers(), plugin.log_error))
        orthanc.RegisterRestCallback(REST_ROUTE, plugin.rest_callback)
        orthanc.LogWarning(f"ccta-ai: ready (job store {settings.job_store_path}, "
                           f"{settings.workers} local worker(s))")
        return plugin
    except Exception as error:
        orthanc.LogError(f"ccta-ai: not started: {error}\n{traceback.format_exc()}")
        _register_broken(orthanc, f"ccta-ai not started: {error}")
        return None


def _register_broken(orthanc: Any, problem: str) -> None:
    body = json.dumps({"status": "broken", "problems": [problem]})

    def broken(output: Any, _uri: str, **_request: Any) -> None:
        answer(output, Response(503, body))

    try:
        orthanc.RegisterRestCallback(REST_ROUTE, broken)
    except Exception as error:
        orthanc.LogError(f"ccta-ai: could not even register the REST route: {error}")
