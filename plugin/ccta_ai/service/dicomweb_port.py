"""The worker's way into any DICOMweb server (DICOMweb mode, no Orthanc plugin needed).

QIDO-RS finds the CT series and one instance of each, WADO-RS reads a series' instances
and one instance's metadata (for selection), STOW-RS stores our outputs; all through
``dicomweb-client``. The port has the same operations as
:class:`~ccta_ai.service.orthanc_port.OrthancPort`, so the same
:class:`~ccta_ai.service.worker.Worker` runs the jobs; the series identifier of this
port is ``"<StudyInstanceUID>/<SeriesInstanceUID>"`` and output identifiers are SOP
Instance UIDs.

Notes on servers (Orthanc's DICOMweb plugin 1.7 included): QIDO matching of values with
spaces is unreliable, so searches use only the modality and UIDs (plus any filters the
user adds; use wildcards there); whole instances are retrieved, never frames (frame
retrieval would need an explicit transfer syntax). DICOMweb has no delete: a re-run
stores objects with the same deterministic UIDs, which replace or equal the earlier
ones, and an earlier output the new run no longer makes stays.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from ccta_ai.errors import CctaAiError
from ccta_ai.service.orthanc_port import NO_HTTP_COMPRESSION, SeriesGoneError
from ccta_ai.service.selection import SeriesFacts, facts_from_orthanc

log = logging.getLogger(__name__)

_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_SOP_UID = "00080018"
_N_INSTANCES = "00201209"
_SERIES_FIELDS = ("SeriesDescription", "NumberOfSeriesRelatedInstances", "Modality",
                  "StudyInstanceUID", "SeriesInstanceUID")


def json_value(element: dict[str, Any] | None) -> Any:
    """One DICOM JSON element (PS3.18 F.2) as Orthanc's ``?short`` tags would give it:
    a string (multiple values joined by backslashes), a number, or a list of items."""
    if not element or "Value" not in element:
        return "" if element is not None and element.get("vr") != "SQ" else None
    values = element["Value"]
    if element.get("vr") == "SQ":
        return [short_tags(item) for item in values]
    if element.get("vr") == "PN":
        values = [v.get("Alphabetic", "") if isinstance(v, dict) else str(v) for v in values]
    if len(values) == 1 and isinstance(values[0], int | float):
        return values[0]
    return "\\".join(str(v) for v in values)


def short_tags(dataset: dict[str, Any]) -> dict[str, Any]:
    """A DICOM JSON dataset as Orthanc's ``/instances/{id}/tags?short`` dictionary."""
    return {f"{key[:4]},{key[4:]}".lower(): json_value(element)
            for key, element in dataset.items() if len(key) == 8}


def first_value(dataset: dict[str, Any], key: str) -> Any:
    values = (dataset.get(key) or {}).get("Value") or [None]
    return values[0]


def facts_from_dicom_json(series: dict[str, Any], instance: dict[str, Any]) -> SeriesFacts:
    """Selection facts from a QIDO-RS series answer and one instance's metadata."""
    tags = short_tags(instance)
    main = {"SeriesInstanceUID": str(first_value(series, _SERIES_UID) or ""),
            "Modality": str(first_value(series, "00080060") or ""),
            "SeriesDescription": str(first_value(series, "0008103E") or "")}
    facts = facts_from_orthanc({"MainDicomTags": main, "Instances": []}, tags)
    n_instances = int(first_value(series, _N_INSTANCES) or 0)
    frames = float(tags.get("0028,0008") or 1)
    return dataclasses.replace(facts, study_uid=str(first_value(series, _STUDY_UID) or ""),
                               n_instances=n_instances, n_slices=int(n_instances * frames))


def make_dicomweb_client(url: str, username: str = "", password: str = "") -> DICOMwebClient:
    session = requests.Session()
    session.headers.update(NO_HTTP_COMPRESSION)
    if username:
        session.auth = (username, password)
    client = DICOMwebClient(url.rstrip("/"), session=session)
    client.set_http_retry_params(retry=False)
    return client


class DicomWebPort:
    """The operations the worker and the poller need, over DICOMweb."""

    def __init__(self, client: DICOMwebClient, *,
                 search_filters: dict[str, str] | None = None) -> None:
        self.client = client
        self.search_filters = dict(search_filters or {})

    # --- finding series (the poller) ---------------------------------------------------

    def find_series(self) -> list[dict[str, Any]]:
        """Every CT series the server lists (QIDO-RS), with its instance count."""
        filters = {"Modality": "CT", **self.search_filters}
        return list(self.client.search_for_series(
            search_filters=filters, fields=list(_SERIES_FIELDS), get_remaining=True))

    def series_facts(self, series: dict[str, Any]) -> SeriesFacts:
        """Selection facts of a series found by :meth:`find_series` (the metadata of
        one of its instances, no pixel data)."""
        study_uid = str(first_value(series, _STUDY_UID))
        series_uid = str(first_value(series, _SERIES_UID))
        found = self.client.search_for_instances(study_uid, series_uid, limit=1)
        if not found:
            raise SeriesGoneError(f"series {series_uid} has no instances")
        sop_uid = str(first_value(found[0], _SOP_UID))
        instance = self.client.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
        return facts_from_dicom_json(series, instance)

    # --- the worker's operations -------------------------------------------------------

    def wait_ready(self, should_stop: Callable[[], bool], max_wait_s: float = 5.0) -> bool:
        delay = 0.2
        while not should_stop():
            try:
                self.client.search_for_studies(limit=1)
                return True
            except (requests.RequestException, OSError) as error:
                log.info("DICOMweb server not ready (%s); retrying in %.1f s", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, max_wait_s)
        return False

    def resolve_series(self, _orthanc_series_id: str, series_uid: str) -> str:
        found = self.client.search_for_series(
            search_filters={"SeriesInstanceUID": series_uid}, fields=[_STUDY_UID])
        if not found:
            raise SeriesGoneError(f"series {series_uid} is not on the DICOMweb server")
        return f"{first_value(found[0], _STUDY_UID)}/{series_uid}"

    def download_series(self, series_id: str, dest: Path, max_instances: int) -> list[Path]:
        study_uid, series_uid = series_id.split("/")
        dest.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, dataset in enumerate(self.client.iter_series(study_uid, series_uid)):
            if index >= max_instances:
                raise CctaAiError(f"series {series_uid} has more than "
                                  f"Limits.MaxInstancesPerSeries ({max_instances}) instances")
            path = dest / f"{index:05d}.dcm"
            dataset.save_as(path, enforce_file_format=True)
            paths.append(path)
        if not paths:
            raise SeriesGoneError(f"series {series_uid} has no instances on the server")
        return paths

    def upload(self, files: Iterable[Path]) -> list[str]:
        """Store with STOW-RS; returns the SOP Instance UIDs the server accepted."""
        datasets = [pydicom.dcmread(path) for path in files]
        if not datasets:
            return []
        answer = self.client.store_instances(datasets)
        failed = getattr(answer, "FailedSOPSequence", None) if answer is not None else None
        if failed:
            raise CctaAiError(f"STOW-RS refused {len(failed)} of {len(datasets)} outputs")
        return [str(ds.SOPInstanceUID) for ds in datasets]

    def delete_own_outputs(self, instance_ids: list[str], input_series_id: str) -> list[str]:
        """DICOMweb cannot delete: the new outputs (same UIDs) replace the old ones."""
        return []

    def store_to(self, kind: str, name: str, instance_ids: list[str]) -> None:
        raise CctaAiError(f"forwarding to a {kind} ({name!r}) needs Orthanc; in DICOMweb "
                          "mode use CctaAi.Forwarding.DicomWeb")
