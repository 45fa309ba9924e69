"""Forwarding end to end: the results of a job are sent on by C-STORE (Orthanc's
``/modalities/{name}/store``), by STOW-RS through Orthanc's DICOMweb plugin
(``DicomWebServers``) and by STOW-RS from the worker (``DicomWeb``), each to its own
destination Orthanc; with the destinations down, forwarding is retried and recorded as
failed while the analysis stays done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ccta_orthanc_server import (
    DICOMWEB_PLUGIN,
    ORTHANC,
    PASSWORD,
    PYTHON_PLUGIN,
    USER,
    OrthancServer,
)
from pydicom.uid import generate_uid

from service_samples import write_ct_series

pytestmark = [pytest.mark.slow]


def finished(job: dict[str, Any]) -> bool:
    return job["state"] in ("done", "failed", "skipped")


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, OrthancServer]]:
    if not (ORTHANC.exists() and PYTHON_PLUGIN.exists() and DICOMWEB_PLUGIN.exists()):
        pytest.skip("Orthanc with its python and DICOMweb plugins is not installed")
    root = tmp_path_factory.mktemp("forwarding")
    dimse = OrthancServer(root / "dimse", {"Name": "dimse-destination", "Plugins": []})
    web = OrthancServer(root / "web", {"Name": "web-destination",
                                       "Plugins": [str(DICOMWEB_PLUGIN)]})
    proxied = OrthancServer(root / "proxied", {"Name": "proxied-destination",
                                               "Plugins": [str(DICOMWEB_PLUGIN)]})
    source = OrthancServer(root / "source", {
        "Name": "forwarding-source", "StableAge": 1,
        "DicomModalities": {"DEST": [dimse.aet, "127.0.0.1", dimse.dicom_port]},
        "DicomWeb": {"Servers": {"proxied": [f"{proxied.url}/dicom-web/", USER, PASSWORD]}},
        "CctaAi": {
            "Workers": {"Count": 1, "Pipeline": "ccta_fake_pipelines:by_description",
                        "LeaseSeconds": 10, "HeartbeatSeconds": 1, "PollSeconds": 0.2},
            "Selection": {"MinSlices": 8},
            "Forwarding": {
                "Modalities": ["DEST"], "DicomWebServers": ["proxied"],
                "DicomWeb": [{"Url": f"{web.url}/dicom-web", "Username": USER,
                              "Password": PASSWORD}],
                "Attempts": 2, "RetryDelaySeconds": 0.2},
        },
    })
    started = []
    try:
        for server in (dimse, web, proxied, source):
            server.start()
            started.append(server)
        yield {"source": source, "dimse": dimse, "web": web, "proxied": proxied}
    finally:
        for server in started:
            server.stop()


def find_instance(server: OrthancServer, sop_uid: str) -> list[str]:
    found = server.client.post(f"{server.url}/tools/lookup", content=sop_uid).json()
    return [item["ID"] for item in found if item["Type"] == "Instance"]


def send_series(source: OrthancServer, folder: Path) -> dict[str, Any]:
    uid = generate_uid()
    source.store_scu(write_ct_series(folder, study_uid=generate_uid(), series_uid=uid,
                                     n_slices=10))
    return source.wait_job(uid, finished)


def test_results_reach_every_destination(servers: dict[str, OrthancServer],
                                         tmp_path: Path) -> None:
    source = servers["source"]
    job = send_series(source, tmp_path)
    assert job["state"] == "done", job
    assert job["forward_state"] == "sent", source.logs()
    assert job["forward_result"] == ("sent to modality 'DEST', DICOMweb server 'proxied', "
                                     f"DICOMweb {servers['web'].url}/dicom-web")
    results = source.api("GET", f"/ccta-ai/studies/{job['orthanc_study_id']}/results").json()
    assert [(s["forward_state"], s["forward_result"]) for s in results["series"]] == [
        ("sent", job["forward_result"])]
    [output_id] = job["outputs"]
    tags = source.client.get_instances_id_simplified_tags(output_id)
    assert isinstance(tags, dict)
    sent = source.client.get_instances_id_file(output_id)
    for name in ("dimse", "web", "proxied"):
        [copy_id] = find_instance(servers[name], tags["SOPInstanceUID"])
        assert servers[name].client.get_instances_id_file(copy_id) == sent or name == "dimse"
        copy = servers[name].client.get_instances_id_simplified_tags(copy_id)
        assert isinstance(copy, dict)
        assert (copy["Manufacturer"], copy["SeriesDescription"]) == (
            "CCTA AI", "CCTA AI fake result")


def test_destinations_down_fail_forwarding_after_retries_but_not_the_job(
        servers: dict[str, OrthancServer], tmp_path: Path) -> None:
    for name in ("dimse", "web", "proxied"):
        servers[name].stop()
    job = send_series(servers["source"], tmp_path)
    assert (job["state"], job["error"], len(job["outputs"])) == ("done", "", 1), job
    assert job["forward_state"] == "failed"
    result = job["forward_result"]
    assert result.startswith("forward failed: modality 'DEST': "), result
    for label in ("modality 'DEST'", "DICOMweb server 'proxied'",
                  f"DICOMweb {servers['web'].url}/dicom-web"):
        assert f"{label}: " in result and result.count("(after 2 attempts)") == 3
    assert "sent to" not in result
    # The result itself is stored in the source, untouched by the forwarding failure.
    assert servers["source"].client.get_instances_id(job["outputs"][0])["ParentSeries"]
