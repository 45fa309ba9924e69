"""Forwarding: results sent on to other DICOM nodes after they are stored.

Destinations come from ``CctaAi.Forwarding``
(:class:`~ccta_ai.service.settings.Forwarding`):

* ``Modalities``: Orthanc sends by C-STORE (``POST /modalities/{name}/store``);
* ``Peers``: Orthanc sends to another Orthanc (``POST /peers/{name}/store``);
* ``DicomWebServers``: Orthanc's DICOMweb plugin sends by STOW-RS
  (``POST /dicom-web/servers/{name}/stow``);
* ``DicomWeb``: the worker itself sends the output files by STOW-RS
  (``dicomweb-client``); the only kind that works in DICOMweb mode.

Each destination is tried up to ``Attempts`` times, ``RetryDelaySeconds`` apart
(doubling). The outcome goes into the job (``forward_state``, ``forward_result``); a
destination that stays down never turns a done analysis into a failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ccta_ai.service.settings import DicomWebDestination, Forwarding

log = logging.getLogger(__name__)


class OrthancSender(Protocol):
    """What forwarding needs from the PACS port (Orthanc sends on our behalf)."""

    def store_to(self, kind: str, name: str, instance_ids: list[str]) -> None:
        """``kind``: ``"modality"``, ``"peer"`` or ``"dicomweb-server"``."""


@dataclass(frozen=True)
class Destination:
    """One place to send the results, and how."""

    label: str  # e.g. "modality 'PACS'", shown in the job
    send: Callable[[], None]


@dataclass(frozen=True)
class Outcome:
    """What the job records: ``state`` ``""`` (nothing to do), ``sent`` or ``failed``."""

    state: str
    result: str


def stow_files(destination: DicomWebDestination, files: Sequence[Path],
               timeout_s: float = 60.0) -> None:
    """Send ``files`` to a DICOMweb server with STOW-RS (one request)."""
    import pydicom
    import requests
    from dicomweb_client.api import DICOMwebClient

    from ccta_ai.service.orthanc_port import NO_HTTP_COMPRESSION

    session = requests.Session()
    session.headers.update(NO_HTTP_COMPRESSION)
    if destination.username:
        session.auth = (destination.username, destination.password)
    client = DICOMwebClient(destination.url, session=session)
    client.set_http_retry_params(retry=False)
    datasets = [pydicom.dcmread(path) for path in files]
    answer = client.store_instances(datasets)
    failed = answer.get("FailedSOPSequence") if answer is not None else None
    if failed:
        raise RuntimeError(f"STOW-RS refused {len(failed)} of {len(datasets)} instances")


def destinations(forwarding: Forwarding, sender: OrthancSender | None,
                 instance_ids: list[str], files: Sequence[Path]) -> list[Destination]:
    """The configured destinations as send functions. Without an Orthanc ``sender``
    (DICOMweb mode), Orthanc-side destinations fail with a clear message."""

    def via_orthanc(kind: str, name: str) -> Callable[[], None]:
        def send() -> None:
            if sender is None:
                raise RuntimeError(f"{kind} destinations need Orthanc (not available in "
                                   "DICOMweb mode; use Forwarding.DicomWeb)")
            sender.store_to(kind, name, instance_ids)
        return send

    found = [Destination(f"modality {name!r}", via_orthanc("modality", name))
             for name in forwarding.modalities]
    found += [Destination(f"peer {name!r}", via_orthanc("peer", name))
              for name in forwarding.peers]
    found += [Destination(f"DICOMweb server {name!r}", via_orthanc("dicomweb-server", name))
              for name in forwarding.dicomweb_servers]
    found += [Destination(f"DICOMweb {dest.url}",
                          lambda dest=dest: stow_files(dest, files))  # type: ignore[misc]
              for dest in forwarding.dicomweb]
    return found


def forward(targets: Sequence[Destination], *, attempts: int, retry_delay_s: float,
            sleep: Callable[[float], object] = time.sleep,
            before_attempt: Callable[[], None] = lambda: None) -> Outcome:
    """Send to every destination, retrying each; never raises for a send error.

    ``before_attempt`` runs before every try (the worker checks its lease there; an
    exception from it propagates).
    """
    if not targets:
        return Outcome("", "")
    sent, failed = [], []
    for target in targets:
        delay = retry_delay_s
        for attempt in range(1, attempts + 1):
            before_attempt()
            try:
                target.send()
            except Exception as error:
                log.warning("forwarding to %s, attempt %d of %d: %s", target.label, attempt,
                            attempts, error)
                if attempt == attempts:
                    failed.append(f"{target.label}: {_short(error)} "
                                  f"(after {attempts} attempt{'s' * (attempts > 1)})")
                else:
                    sleep(delay)
                    delay *= 2
                continue
            sent.append(target.label if attempt == 1 else f"{target.label} (attempt {attempt})")
            break
    parts = []
    if failed:
        parts.append("forward failed: " + "; ".join(failed))
    if sent:
        parts.append("sent to " + ", ".join(sent))
    return Outcome("failed" if failed else "sent", "; ".join(parts))


def _short(error: Exception, limit: int = 300) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
