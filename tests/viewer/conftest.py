"""A real Orthanc with DICOMweb and the viewer server in front of it, for the viewer tests.

``dicomweb_orthanc`` is the integration tests' server (``ccta_ai.service.launcher``:
free loopback ports, a temporary data folder, stopped by PID) with only the DICOMweb
plugin loaded: these tests need no analysis, so the python plugin and its workers stay
out. ``viewer`` serves OHIF's ``dist/`` and proxies ``/dicom-web/`` to it with the
credentials, from a thread of the test process. Neither skips: CI installs Orthanc,
Chromium and the node modules (scripts/setup.sh), and a missing one is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ccta_ai.service.launcher import DICOMWEB_PLUGIN, ORTHANC, OrthancServer
from ccta_ai.viewer.serve import ViewerServer, ViewerSite

USER, PASSWORD = "viewer-tester", "viewer-secret"


@pytest.fixture(scope="module")
def dicomweb_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    assert ORTHANC.exists() and DICOMWEB_PLUGIN.exists(), (
        "Orthanc and its DICOMweb plugin are missing: run scripts/setup.sh")
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"), {
        "Name": "ccta-ai-viewer-tests",
        "Plugins": [str(DICOMWEB_PLUGIN)],
    }, user=USER, password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def viewer(dicomweb_orthanc: OrthancServer) -> Iterator[ViewerServer]:
    server = ViewerServer(ViewerSite(dicomweb_orthanc.url, username=USER, password=PASSWORD))
    server.start_background()
    try:
        yield server
    finally:
        server.stop()
