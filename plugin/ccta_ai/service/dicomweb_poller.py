"""DICOMweb mode: find new CCTA series on a DICOMweb server and analyse them.

``ccta-ai worker --dicomweb URL`` runs, in one process, a poller thread and the usual
:class:`~ccta_ai.service.worker.Worker` over a
:class:`~ccta_ai.service.dicomweb_port.DicomWebPort`, with a job store of its own (the
same SQLite :class:`~ccta_ai.service.jobstore.JobStore`, in a file).

A DICOMweb server announces nothing, so the poller makes its own "stable series": every
``poll_s`` it lists the CT series (QIDO-RS) with their instance counts; a series whose
count has not changed for ``stable_s`` is selected with the same rules as in Orthanc
(one instance's metadata, no pixels) and queued or skipped with its reason. A job
remembers the count it was selected with, so a series is selected again only when it
changed (idempotent across polls and restarts); our own outputs are recognised by the
selection rules (Manufacturer ``CCTA AI``...) and recorded as skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccta_ai.service.dicomweb_port import DicomWebPort, first_value
from ccta_ai.service.jobstore import Job, JobStore, SeriesRef
from ccta_ai.service.selection import decide
from ccta_ai.service.settings import Settings

log = logging.getLogger("ccta_ai.dicomweb")


@dataclass
class _Seen:
    instances: int
    since: float


class DicomWebPoller:
    """Turns QIDO-RS listings into jobs (see the module docstring)."""

    def __init__(self, port: DicomWebPort, store: JobStore, settings: Settings, *,
                 stable_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.port = port
        self.store = store
        self.settings = settings
        self.stable_s = stable_s
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def poll(self) -> list[Job]:
        """One pass; returns the jobs it queued or skipped."""
        now = self.clock()
        changed = []
        listed = set()
        for series in self.port.find_series():
            series_uid = str(first_value(series, "0020000E") or "")
            count = int(first_value(series, "00201209") or 0)
            if not series_uid or count == 0:
                continue
            listed.add(series_uid)
            job = self.store.find(series_uid)
            if job is not None and job.instances == count:
                self._seen.pop(series_uid, None)  # already selected as it is now
                continue
            seen = self._seen.get(series_uid)
            if seen is None or seen.instances != count:
                self._seen[series_uid] = _Seen(count, now)
                continue
            if now - seen.since < self.stable_s:
                continue
            del self._seen[series_uid]
            try:
                changed.append(self.select(series))
            except Exception:  # one bad series never stops the others
                log.exception("selection of series %s failed", series_uid)
        for gone in set(self._seen) - listed:
            del self._seen[gone]
        return changed

    def select(self, series: dict[str, Any]) -> Job:
        facts = self.port.series_facts(series)
        settings = self.settings
        decision = decide(facts, settings.selection, settings.own_outputs,
                          settings.max_instances_per_series)
        ref = SeriesRef(series_uid=facts.series_uid, study_uid=facts.study_uid,
                        description=facts.series_description, instances=facts.n_instances)
        if decision.accept:
            job = self.store.enqueue(ref, reason=decision.reason, requested_by="dicomweb",
                                     max_attempts=settings.max_attempts)
        else:
            job = self.store.skip(ref, decision.reason, requested_by="dicomweb")
        log.info("series %s → %s: %s", facts.series_uid, job.state, job.reason)
        return job

    def run(self, stop: threading.Event, poll_s: float) -> None:
        """Poll until ``stop`` is set; errors are logged and the next poll tries again."""
        while not stop.is_set():
            try:
                self.poll()
            except Exception as error:
                log.warning("QIDO-RS poll failed: %s", error)
            stop.wait(poll_s)
