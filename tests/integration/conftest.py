"""A real Orthanc (the Debian package) with our plugin, started by the tests.

``orthanc_server`` writes a configuration made from the embedded default with free
loopback ports, a temporary data folder, a 2 s StableAge, authentication on, and the
fake pipelines of ``tests/ccta_fake_pipelines.py``; starts ``/usr/sbin/Orthanc``,
waits for ``/system``, and yields an :class:`OrthancServer` (its ``client`` is a
``pyorthanc`` client with credentials). It stops Orthanc by PID (only the process it
started) and puts Orthanc's and the workers' logs into failure messages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ccta_orthanc_server import ORTHANC, PASSWORD, PYTHON_PLUGIN, USER, OrthancServer


@pytest.fixture(scope="module")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    if not (ORTHANC.exists() and PYTHON_PLUGIN.exists()):
        pytest.skip("Orthanc and its python plugin are not installed")
    root = tmp_path_factory.mktemp("orthanc")
    server = OrthancServer(root, {
        "Name": "ccta-ai-tests",
        "StableAge": 2,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(PYTHON_PLUGIN)],  # DICOMweb is not needed here: faster start
        "CctaAi": {
            "Workers": {"Count": 2, "Pipeline": "ccta_fake_pipelines:by_description",
                        "LeaseSeconds": 3, "HeartbeatSeconds": 0.5, "PollSeconds": 0.2,
                        "RestartBackoffSeconds": [0.2, 2]},
            "Limits": {"JobTimeoutSeconds": 60, "MaxAttempts": 3},
            "Selection": {"MinSlices": 8},
        },
    })
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def report_logs(orthanc_server: OrthancServer, request: pytest.FixtureRequest
                ) -> Iterator[None]:
    """Print Orthanc's and the workers' logs when the test fails."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(orthanc_server.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
