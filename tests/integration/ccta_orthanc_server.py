"""A real Orthanc (the Debian package) with our plugin, for the integration tests:
:class:`ccta_ai.service.launcher.OrthancServer` (free loopback ports, a temporary data
folder, started and stopped by PID, logs kept) with the tests' user and ``tests/`` on
the workers' ``PYTHONPATH`` (for the fake pipelines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ccta_ai.service.launcher import (
    DICOMWEB_PLUGIN,
    ORTHANC,
    PYTHON_PLUGIN,
    free_port,
)
from ccta_ai.service.launcher import (
    OrthancServer as _Server,
)

TESTS_DIR = Path(__file__).resolve().parents[1]
USER, PASSWORD = "tester", "secret"

__all__ = ["DICOMWEB_PLUGIN", "ORTHANC", "PASSWORD", "PYTHON_PLUGIN", "USER", "OrthancServer",
           "free_port"]


class OrthancServer(_Server):
    """The launcher's server with the tests' credentials and fake pipelines."""

    def __init__(self, root: Path, overrides: dict[str, Any]) -> None:
        super().__init__(root, overrides, user=USER, password=PASSWORD,
                         pythonpath=[TESTS_DIR])
