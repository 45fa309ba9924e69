"""DICOMweb mode end to end: ``ccta-ai worker --dicomweb URL`` against a real Orthanc
that has only its DICOMweb plugin (no plugin of ours): QIDO-RS finds the series,
selection skips the localizer, WADO-RS reads, the (fake) pipeline runs, STOW-RS stores
the result in the same study; our own output is recognised and never analysed; nothing
runs twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ccta_orthanc_server import DICOMWEB_PLUGIN, ORTHANC, PASSWORD, TESTS_DIR, USER, OrthancServer
from pydicom.uid import generate_uid

from ccta_ai.service.jobstore import Job, JobStore
from ccta_ai.service.settings import SOURCE_ROOT
from ccta_ai.service.worker import DICOMWEB_PASSWORD_ENV, DICOMWEB_USER_ENV
from service_samples import write_ct_series, write_localizer

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def dicomweb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    if not (ORTHANC.exists() and DICOMWEB_PLUGIN.exists()):
        pytest.skip("Orthanc and its DICOMweb plugin are not installed")
    server = OrthancServer(tmp_path_factory.mktemp("dicomweb"), {
        "Name": "plain-pacs", "Plugins": [str(DICOMWEB_PLUGIN)], "StableAge": 1})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for(store: JobStore, series_uid: str, states: tuple[str, ...], log: Path,
             worker: subprocess.Popen[bytes], timeout_s: float = 60) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        job = store.find(series_uid)
        if job is not None and job.state in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job of {series_uid}: {store.find(series_uid)}\n"
                         f"{log.read_text(errors='replace')[-4000:]}")


def test_the_dicomweb_worker_finds_analyses_and_stores(dicomweb_server: OrthancServer,
                                                       tmp_path: Path) -> None:
    study, ccta, scout = generate_uid(), generate_uid(), generate_uid()
    files = write_localizer(tmp_path / "scout", study_uid=study, series_uid=scout)
    files += write_ct_series(tmp_path / "ccta", study_uid=study, series_uid=ccta, n_slices=12)
    dicomweb_server.store_scu(files)

    config = tmp_path / "settings.json"
    config.write_text(json.dumps({"CctaAi": {"Selection": {"MinSlices": 8}}}))
    state = tmp_path / "state" / "jobs.sqlite"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS_DIR), str(SOURCE_ROOT)]))
    env[DICOMWEB_USER_ENV], env[DICOMWEB_PASSWORD_ENV] = USER, PASSWORD
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "ccta_ai.cli", "worker", "--dicomweb",
             f"{dicomweb_server.url}/dicom-web", "--config", str(config), "--state",
             str(state), "--poll-s", "0.3", "--stable-s", "0.5",
             "--pipeline", "ccta_fake_pipelines:by_description"],
            env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        store = JobStore(state)
        job = wait_for(store, ccta, ("done", "failed"), log, worker)
        assert job.state == "done", job
        assert (job.attempts, job.requested_by, job.instances) == (1, "dicomweb", 12)
        assert job.reason.startswith("CCTA: CT, 12 slices of 0.6 mm")
        assert {"fetch_s", "analyse_s", "store_s"} <= set(job.stages)
        skipped = wait_for(store, scout, ("skipped",), log, worker)
        assert skipped.reason.startswith("a localizer")

        # The result is in the same study on the server, and is recognised as ours.
        [output_uid] = job.outputs
        found = dicomweb_server.client.post(
            f"{dicomweb_server.url}/tools/lookup", content=output_uid).json()
        [instance] = [item for item in found if item["Type"] == "Instance"]
        tags = dicomweb_server.client.get_instances_id_simplified_tags(instance["ID"])
        assert isinstance(tags, dict)
        assert (tags["Manufacturer"], tags["StudyInstanceUID"]) == ("CCTA AI", study)
        own = wait_for(store, tags["SeriesInstanceUID"], ("skipped",), log, worker)
        assert own.reason == "our own output (Manufacturer 'CCTA AI')"

        time.sleep(2)  # several more polls: nothing is selected or run again
        again = store.find(ccta)
        assert again is not None
        assert (again.generation, again.attempts, again.state) == (job.generation, 1, "done")
        assert len(store.list_jobs()) == 3
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
    assert code == 0, log.read_text(errors="replace")[-4000:]
