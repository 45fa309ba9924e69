"""Orthanc configurations made from the embedded default (``orthanc_config/orthanc.json``).

The default's relative paths follow Orthanc's own rules: ``StorageDirectory`` and
``IndexDirectory`` (and our ``CctaAi`` paths) are relative to the configuration file's
folder, but the python plugin's ``PythonScript`` is relative to the *working directory*
(Orthanc must then be started from the repository root). :func:`render_config` makes
every path absolute, so the result works from anywhere; tests use it with free ports
and temporary folders.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ccta_ai.service.settings import REPO_ROOT

DEFAULT_CONFIG = REPO_ROOT / "orthanc_config" / "orthanc.json"


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes``, recursively for JSON objects (a new dict)."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def render_config(
    *,
    http_port: int,
    dicom_port: int,
    data_dir: Path,
    overrides: dict[str, Any] | None = None,
    template: Path = DEFAULT_CONFIG,
) -> dict[str, Any]:
    """The default configuration with these ports, Orthanc's storage (and so our job
    store) under ``data_dir``, absolute paths, then ``overrides`` merged in."""
    config = json.loads(Path(template).read_text("utf-8"))
    base = Path(template).resolve().parent
    script = Path(config["PythonScript"])
    config["PythonScript"] = str(script if script.is_absolute() else REPO_ROOT / script)
    ours = config.setdefault("CctaAi", {})
    if ours.get("Venv"):
        ours["Venv"] = str((base / ours["Venv"]).resolve())
    storage = Path(data_dir).resolve() / "orthanc"
    config.update(HttpPort=http_port, DicomPort=dicom_port,
                  StorageDirectory=str(storage), IndexDirectory=str(storage))
    return merge(config, overrides or {})


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as JSON (Orthanc reads UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False), "utf-8")
    return path
