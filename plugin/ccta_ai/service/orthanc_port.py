"""The worker's way into Orthanc: its REST API through ``pyorthanc``.

Reads a series' files, stores outputs, deletes earlier outputs of ours (and only ours:
every instance is checked against :class:`~ccta_ai.service.settings.OwnOutputs` before
it is deleted, and nothing of the input series is ever deleted), forwards results.
Runs in the worker process (the project's venv), never inside Orthanc.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pyorthanc

from ccta_ai.errors import CctaAiError
from ccta_ai.service.settings import OwnOutputs, Settings

log = logging.getLogger(__name__)

#: Ask Orthanc not to gzip its answers: httpx and requests accept gzip by default, and
#: Orthanc then compresses every DICOM file on the fly (measured: 30x slower downloads
#: of a series on loopback). Our transfers are local or on a LAN.
NO_HTTP_COMPRESSION = {"Accept-Encoding": "identity"}

#: Orthanc closes a keep-alive connection idle for 1 s (civetweb's timeout in 1.10; the
#: ``KeepAliveTimeout`` option, default 1, from 1.11.3). A request sent on a connection as
#: Orthanc closes it gets no answer (httpx: "Server disconnected without sending a
#: response"), so our clients drop connections idle for half that before reusing them.
KEEPALIVE_EXPIRY_S = 0.5

_MANUFACTURER = "0008,0070"
_SERIES_DESCRIPTION = "0008,103e"


class SeriesGoneError(CctaAiError):
    """The series of a job is no longer in Orthanc (deleted since it was queued)."""


def http_status(error: httpx.HTTPError) -> int | None:
    """The HTTP status of an error raised by ``pyorthanc`` (it only keeps it in the
    message, as ``"HTTP code: 404, with content: ..."``), None for transport errors."""
    match = re.match(r"HTTP code: (\d{3})", str(error))
    return int(match.group(1)) if match else None


def is_transient(error: Exception) -> bool:
    """Worth another attempt: Orthanc unreachable, timed out, or a 5xx answer."""
    if isinstance(error, httpx.TransportError):
        return True
    if isinstance(error, httpx.HTTPError):
        status = http_status(error)
        return status is None or status >= 500
    return False


def make_client(settings: Settings, token: str | None, timeout_s: float = 60.0
                ) -> pyorthanc.Orthanc:
    """A ``pyorthanc`` client with the plugin's token (``Authorization`` header) or the
    configured user name and password."""
    headers = dict(NO_HTTP_COMPRESSION)
    if token:
        headers["Authorization"] = token
    return pyorthanc.Orthanc(
        settings.orthanc_url,
        username=settings.orthanc_username or None,
        password=settings.orthanc_password or None,
        headers=headers,
        timeout=timeout_s,
        limits=client_limits(),
    )


def client_limits() -> httpx.Limits:
    """httpx's pool limits with idle connections dropped before Orthanc drops them."""
    return httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)


class OrthancPort:
    """The Orthanc operations the worker needs."""

    def __init__(self, client: pyorthanc.Orthanc, own: OwnOutputs, *, threads: int = 4) -> None:
        self.client = client
        self.own = own
        self.threads = threads

    def wait_ready(self, should_stop: Callable[[], bool], max_wait_s: float = 5.0) -> bool:
        """Wait until Orthanc answers ``/system`` (False when asked to stop first)."""
        delay = 0.2
        while not should_stop():
            try:
                self.client.get_system()
                return True
            except httpx.HTTPError as error:
                log.info("Orthanc not ready (%s); retrying in %.1f s", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, max_wait_s)
        return False

    def resolve_series(self, orthanc_series_id: str, series_uid: str) -> str:
        """Orthanc's identifier of a series (looked up by UID when not known)."""
        if orthanc_series_id:
            return orthanc_series_id
        # pyorthanc's post_tools_lookup sends a form; Orthanc wants the bare UID.
        response = self.client.post(f"{self.client.url}/tools/lookup", content=series_uid)
        response.raise_for_status()
        found = response.json()
        for item in found if isinstance(found, list) else []:
            if item.get("Type") == "Series":
                return str(item["ID"])
        raise SeriesGoneError(f"series {series_uid} is not in Orthanc")

    def series_instances(self, series_id: str) -> list[str]:
        try:
            series = self.client.get_series_id(series_id)
        except httpx.HTTPError as error:
            if http_status(error) == 404:
                raise SeriesGoneError(f"series {series_id} is no longer in Orthanc") from error
            raise
        assert isinstance(series, dict)
        return [str(i) for i in series.get("Instances", [])]

    def download_series(self, series_id: str, dest: Path, max_instances: int) -> list[Path]:
        """Write every instance of the series into ``dest``; returns the file paths."""
        instances = self.series_instances(series_id)
        if len(instances) > max_instances:
            raise CctaAiError(f"series {series_id} has {len(instances)} instances, more "
                              f"than Limits.MaxInstancesPerSeries ({max_instances})")
        dest.mkdir(parents=True, exist_ok=True)

        def fetch(instance_id: str) -> Path:
            content = self.client.get_instances_id_file(instance_id)
            assert isinstance(content, bytes)
            path = dest / f"{instance_id}.dcm"
            path.write_bytes(content)
            return path

        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(fetch, instances))

    def upload(self, files: Iterable[Path]) -> list[str]:
        """Store files in Orthanc (``POST /instances``); returns their instance IDs."""
        ids = []
        for path in files:
            answer = self.client.post_instances(Path(path).read_bytes())
            assert isinstance(answer, dict)
            ids.append(str(answer["ID"]))
        return ids

    def is_own_output(self, instance_id: str) -> bool:
        """True when the instance carries our identity (Manufacturer, and our
        SeriesDescription prefix or private creator)."""
        tags = self.client.get_instances_id_tags(instance_id, params={"short": ""})
        assert isinstance(tags, dict)
        if str(tags.get(_MANUFACTURER, "")).strip() != self.own.manufacturer:
            return False
        description = str(tags.get(_SERIES_DESCRIPTION, ""))
        creators = {str(v).strip() for k, v in tags.items()
                    if _is_private_creator(k) and isinstance(v, str)}
        return description.startswith(self.own.series_description_prefix) or (
            self.own.private_creator in creators)

    def delete_own_outputs(self, instance_ids: list[str], input_series_id: str) -> list[str]:
        """Delete those of ``instance_ids`` that are ours and not part of the input;
        returns the IDs that are gone (deleted now, or already)."""
        gone = []
        for instance_id in instance_ids:
            try:
                instance = self.client.get_instances_id(instance_id)
                assert isinstance(instance, dict)
                if instance.get("ParentSeries") == input_series_id:
                    log.error("refusing to delete %s: it belongs to the input series",
                              instance_id)
                    continue
                if not self.is_own_output(instance_id):
                    log.error("refusing to delete %s: it does not carry our identity "
                              "(Manufacturer %r)", instance_id, self.own.manufacturer)
                    continue
                self.client.delete_instances_id(instance_id)
            except httpx.HTTPError as error:
                if http_status(error) != 404:
                    raise
            gone.append(instance_id)
        return gone

    def store_to(self, kind: str, name: str, instance_ids: list[str]) -> None:
        """Have Orthanc send instances to a modality (C-STORE), a peer, or a DICOMweb
        server of its DICOMweb plugin (STOW-RS); waits for the transfer."""
        paths = {"modality": "modalities/{}/store", "peer": "peers/{}/store",
                 "dicomweb-server": "dicom-web/servers/{}/stow"}
        if kind not in paths:
            raise ValueError(f"kind must be one of {sorted(paths)}, got {kind!r}")
        response = self.client.post(
            f"{self.client.url}/{paths[kind].format(name)}",
            json={"Resources": instance_ids, "Synchronous": True})
        if response.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"HTTP code: {response.status_code}, with content: {response.text[:300]}",
                request=response.request, response=response)


def _is_private_creator(key: str) -> bool:
    try:
        group, element = (int(part, 16) for part in key.split(","))
    except ValueError:
        return False
    return group % 2 == 1 and 0x10 <= element <= 0xFF
