"""Orthanc's ``PythonScript``: the only file of the project that imports ``orthanc``.

Runs in Orthanc's embedded interpreter (Debian's Python 3.11, not the venv's). It puts
the project's source root (``plugin/``, derived from this file's location) and the
venv's site-packages (``CctaAi.VenvSitePackages``, else derived from ``CctaAi.Venv``,
else ``<repository>/.venv``) first on ``sys.path``, then hands the ``orthanc`` module to
:func:`ccta_ai.service.plugin.install`. What runs in here is standard library only
(sqlite3, json, subprocess, threading): torch and numpy live in the worker processes.

An exception here never stops Orthanc: everything is caught and logged.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import orthanc

_SOURCE_ROOT = Path(__file__).resolve().parents[1]  # plugin/
_SCRIPT_DIR = Path(__file__).resolve().parent  # plugin/ccta_ai/


def _site_packages(config: dict[str, Any]) -> Path:
    ours = config.get("CctaAi") or {}
    base = Path(orthanc.GetConfigurationPath())
    base = base if base.is_dir() else base.parent
    if ours.get("VenvSitePackages"):
        return (base / Path(ours["VenvSitePackages"]).expanduser()).resolve()
    venv = (base / Path(ours.get("Venv") or _SOURCE_ROOT.parent / ".venv").expanduser())
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv.resolve() / "lib" / version / "site-packages"


def _prepare_path() -> None:
    # The plugin put this script's folder first; its modules (errors, cli...) are not
    # top-level modules: take it out so they cannot shadow anything.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _SCRIPT_DIR]
    config = json.loads(orthanc.GetConfiguration())
    site = _site_packages(config)
    if site.is_dir():
        sys.path.insert(0, str(site))
    else:
        orthanc.LogWarning(f"ccta-ai: venv site-packages {site} not found; "
                           "set CctaAi.VenvSitePackages")
    sys.path.insert(0, str(_SOURCE_ROOT))


try:
    _prepare_path()
    from ccta_ai.service.plugin import install

    PLUGIN = install(orthanc)
except Exception:  # never let Orthanc's start-up fail because of us
    PLUGIN = None
    orthanc.LogError(f"ccta-ai: plugin not loaded:\n{traceback.format_exc()}")
