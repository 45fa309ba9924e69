"""Settings: the embedded default agrees with the code, paths resolve like Orthanc's,
wrong values are named."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from ccta_ai.errors import ConfigError
from ccta_ai.service.orthanc_config import DEFAULT_CONFIG, merge, render_config
from ccta_ai.service.settings import (
    REPO_ROOT,
    Settings,
    load_settings,
    save_settings,
    settings_from_orthanc,
)


def test_the_embedded_default_states_the_code_defaults() -> None:
    config = json.loads(DEFAULT_CONFIG.read_text("utf-8"))
    from_file = settings_from_orthanc(config, DEFAULT_CONFIG.parent)
    from_code = settings_from_orthanc({}, DEFAULT_CONFIG.parent)
    for name in ("selection", "own_outputs", "forwarding", "workers", "lease_s",
                 "heartbeat_s", "job_timeout_s", "max_attempts", "max_instances_per_series",
                 "pipeline", "output_language", "restart_backoff_s", "worker_python"):
        assert getattr(from_file, name) == getattr(from_code, name), name
    assert config["StableAge"] <= 10 and config["RemoteAccessAllowed"] is False
    assert config["PythonScript"] == "plugin/ccta_ai/orthanc_entry.py"
    assert (REPO_ROOT / config["PythonScript"]).is_file()


def test_paths_resolve_next_to_orthanc_storage(tmp_path: Path) -> None:
    settings = settings_from_orthanc({"StorageDirectory": "db", "HttpPort": 8123}, tmp_path)
    assert settings.job_store_path == tmp_path / "db" / "ccta-ai" / "jobs.sqlite"
    assert settings.state_dir == tmp_path / "db" / "ccta-ai"
    assert settings.orthanc_url == "http://127.0.0.1:8123"
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert settings.venv_site_packages == REPO_ROOT / ".venv" / "lib" / version / "site-packages"
    assert settings.worker_python == REPO_ROOT / ".venv" / "bin" / "python"
    indexed = settings_from_orthanc({"StorageDirectory": "/s", "IndexDirectory": "/i",
                                     "CctaAi": {"JobStore": {"Path": "jobs.db"}}}, tmp_path)
    assert indexed.state_dir == Path("/i/ccta-ai")
    assert indexed.job_store_path == tmp_path / "jobs.db"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"Workers": {"Count": "2"}}, "CctaAi.Workers.Count must be an integer, got '2'"),
        ({"Workers": {"Count": -1}}, "CctaAi.Workers.Count must be ≥ 0, got -1"),
        ({"Workers": {"Start": 1}}, "CctaAi.Workers.Start must be true or false"),
        ({"Workers": {"LeaseSeconds": 10, "HeartbeatSeconds": 6}}, "at most half"),
        ({"Workers": {"RestartBackoffSeconds": [5, 1]}}, "0 < first ≤ max"),
        ({"Workers": {"Pipeline": "module.function"}}, "must be 'module:function'"),
        ({"OutputLanguage": "fr"}, "OutputLanguage must be one of ('en', 'zh')"),
        ({"Selection": {"MinSlices": 0}}, "CctaAi.Selection.MinSlices must be ≥ 1"),
        ({"Selection": {"Modalities": "CT"}}, "must be a list of strings, got 'CT'"),
        ({"OwnOutputs": {"Manufacturer": " "}}, "Manufacturer must not be empty"),
        ({"Limits": []}, "CctaAi.Limits must be a JSON object"),
    ],
)
def test_wrong_values_are_named(section: dict[str, object], message: str, tmp_path: Path
                                ) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from_orthanc({"CctaAi": section}, tmp_path)
    assert message in str(error.value)


def test_worker_settings_round_trip(tmp_path: Path) -> None:
    settings = settings_from_orthanc(
        {"StorageDirectory": str(tmp_path), "CctaAi": {"Forwarding": {"Peers": ["pacs"]}}},
        tmp_path)
    save_settings(settings, tmp_path / "w.json")
    assert load_settings(tmp_path / "w.json") == settings
    assert isinstance(load_settings(tmp_path / "w.json"), Settings)


def test_a_worker_reads_an_orthanc_configuration_too(tmp_path: Path) -> None:
    config = render_config(http_port=9000, dicom_port=9001, data_dir=tmp_path)
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    settings = load_settings(tmp_path / "orthanc.json")
    assert settings.orthanc_url == "http://127.0.0.1:9000"
    assert settings.job_store_path == tmp_path / "orthanc" / "ccta-ai" / "jobs.sqlite"
    assert Path(config["PythonScript"]).is_absolute()
    with pytest.raises(ConfigError, match="cannot read settings"):
        load_settings(tmp_path / "missing.json")


def test_merge_is_recursive_and_copies() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": [1]}, "d": 2}
    merged = merge(base, {"a": {"b": 5}, "e": 3})
    assert merged == {"a": {"b": 5, "c": [1]}, "d": 2, "e": 3}
    merged["a"]["c"].append(2)
    assert base["a"]["c"] == [1]
