"""The plugin glue and REST API against a fake ``orthanc`` module (no server)."""

from __future__ import annotations

import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ccta_ai.service import plugin as plugin_module
from ccta_ai.service.plugin import Plugin, install
from fake_orthanc import ChangeType, FakeOrthanc

ENTRY = Path(__file__).resolve().parents[2] / "plugin" / "ccta_ai" / "orthanc_entry.py"
CT = "1.2.840.10008.5.1.4.1.1.2"


def series_resources(series_id: str, uid: str, description: str, image_type: str,
                     n: int = 100, thickness: str = "0.6", agent: str = "Iodine",
                     manufacturer: str = "ACME") -> dict[str, Any]:
    instances = [f"{series_id}-i{k}" for k in range(n)]
    return {
        f"/series/{series_id}": {
            "ID": series_id, "ParentStudy": "study-1", "Instances": instances,
            "MainDicomTags": {"Modality": "CT", "SeriesDescription": description,
                              "SeriesInstanceUID": uid}},
        f"/instances/{instances[0]}/tags?short": {
            "0008,0016": CT, "0008,0008": image_type, "0008,0070": manufacturer,
            "0018,0010": agent, "0018,0050": thickness, "0020,000d": "1.2.3"},
    }


def resources() -> dict[str, Any]:
    found: dict[str, Any] = {"/studies/study-1": {"Series": ["ccta", "scout", "ours"]}}
    found.update(series_resources("ccta", "1.2.3.1", "CCTA 0.6 75%", "ORIGINAL\\PRIMARY\\AXIAL"))
    found.update(series_resources("scout", "1.2.3.2", "Topogram", "ORIGINAL\\PRIMARY\\LOCALIZER",
                                  n=2, thickness="5", agent=""))
    found.update(series_resources("ours", "1.2.3.3", "CCTA AI SEG", "DERIVED\\PRIMARY",
                                  n=1, manufacturer="CCTA AI"))
    return found


def make_config(tmp_path: Path, **ours: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"Workers": {"Start": False}}
    section.update(ours)
    return {"HttpPort": 18042, "StorageDirectory": str(tmp_path / "db"), "CctaAi": section}


@pytest.fixture
def fake(tmp_path: Path) -> FakeOrthanc:
    return FakeOrthanc(make_config(tmp_path), tmp_path / "orthanc.json", resources())


@pytest.fixture
def plugin(fake: FakeOrthanc) -> Any:
    installed = install(fake)
    assert installed is not None, fake.logs
    fake.change(ChangeType.ORTHANC_STARTED)
    yield installed
    fake.change(ChangeType.ORTHANC_STOPPED)


def stable(fake: FakeOrthanc, plugin: Plugin, *series_ids: str) -> None:
    for series_id in series_ids:
        fake.change(ChangeType.STABLE_SERIES, series_id)
    plugin.queue.join()


def test_install_registers_one_change_callback_and_the_rest_route(
        fake: FakeOrthanc, plugin: Plugin) -> None:
    assert fake.change_callback is not None
    assert list(fake.rest_callbacks) == ["/ccta-ai(/.*)?"]
    assert plugin.store.path == fake.config_path.parent / "db" / "ccta-ai" / "jobs.sqlite"
    assert set(plugin.handlers()) == {ChangeType.STABLE_SERIES, ChangeType.ORTHANC_STARTED,
                                      ChangeType.ORTHANC_STOPPED}


def test_stable_series_only_enqueues_then_selection_records_the_outcome(
        fake: FakeOrthanc, plugin: Plugin) -> None:
    plugin.stop_dispatcher()  # hold the dispatcher: the callback must only enqueue
    started = time.perf_counter()
    fake.change(ChangeType.STABLE_SERIES, "ccta")
    assert time.perf_counter() - started < 0.05
    assert plugin.store.list_jobs() == [] and plugin.queue.qsize() == 1
    plugin.start_dispatcher()
    stable(fake, plugin, "scout", "ours")
    by_series = {job.orthanc_series_id: job for job in plugin.store.list_jobs()}
    assert by_series["ccta"].state == "queued"
    assert by_series["ccta"].reason.startswith("CCTA: CT, 100 slices of 0.6 mm")
    assert by_series["scout"].state == "skipped"
    assert by_series["scout"].reason == "a localizer (ImageType ORIGINAL\\PRIMARY\\LOCALIZER)"
    assert by_series["ours"].state == "skipped"
    assert by_series["ours"].reason.startswith("our own output")


def test_a_series_stable_twice_keeps_one_job(fake: FakeOrthanc, plugin: Plugin) -> None:
    stable(fake, plugin, "ccta", "ccta")
    jobs = plugin.store.list_jobs()
    assert len(jobs) == 1 and jobs[0].generation == 1


def test_errors_in_handlers_are_logged_never_raised(fake: FakeOrthanc, plugin: Plugin) -> None:
    stable(fake, plugin, "deleted-meanwhile")
    assert any("GET /series/deleted-meanwhile failed" in m for _, m in fake.logs)

    def broken(_resource_id: str) -> None:
        raise RuntimeError("boom")

    callback = plugin_module.change_callback({ChangeType.STABLE_SERIES: [broken]},
                                             fake.LogError)
    callback(ChangeType.STABLE_SERIES, 2, "x")  # does not raise
    assert any("handler broken failed" in m and "boom" in m for _, m in fake.logs)


def test_a_bad_configuration_never_stops_orthanc(tmp_path: Path) -> None:
    config = make_config(tmp_path, Workers={"LeaseSeconds": 10, "HeartbeatSeconds": 9})
    fake = FakeOrthanc(config, tmp_path / "orthanc.json")
    assert install(fake) is None
    assert any("HeartbeatSeconds (9.0) must be at most half" in m for _, m in fake.logs)
    answer = fake.get("/ccta-ai/health")
    assert answer.status == 503 and answer.json()["status"] == "broken"
    assert fake.change_callback is None


def test_disabled(tmp_path: Path) -> None:
    fake = FakeOrthanc(make_config(tmp_path, Enabled=False), tmp_path / "orthanc.json")
    assert install(fake) is None and fake.rest_callbacks == {}


def test_rest_jobs_job_and_errors(fake: FakeOrthanc, plugin: Plugin) -> None:
    stable(fake, plugin, "ccta", "scout")
    listing = fake.get("/ccta-ai/jobs", query={"state": "skipped"})
    assert listing.status == 200 and listing.content_type == "application/json"
    assert [j["orthanc_series_id"] for j in listing.json()["jobs"]] == ["scout"]
    job_id = plugin.store.find("ccta").job_id  # type: ignore[union-attr]
    assert fake.get(f"/ccta-ai/jobs/{job_id}").json()["series_uid"] == "1.2.3.1"
    assert fake.get("/ccta-ai/jobs/1.2.3.1").json()["job_id"] == job_id
    assert fake.get("/ccta-ai/series/ccta").json()["job_id"] == job_id
    missing = fake.get("/ccta-ai/jobs/999")
    assert missing.status == 404 and "no job" in missing.json()["error"]
    bad = fake.get("/ccta-ai/jobs", query={"state": "bogus"})
    assert bad.status == 400 and "state must be one of" in bad.json()["error"]
    wrong = fake.get("/ccta-ai/jobs", method="DELETE")
    assert wrong.status == 405 and wrong.allowed == "GET"
    assert fake.get("/ccta-ai/nothing").status == 404


def test_rest_rerun_series_and_study(fake: FakeOrthanc, plugin: Plugin) -> None:
    stable(fake, plugin, "ccta", "scout")
    claim = plugin.store.claim("w", 10)
    assert claim is not None
    plugin.store.finish(claim, "done")
    rerun = fake.get("/ccta-ai/series/ccta/rerun", method="POST")
    assert rerun.status == 200 and rerun.json()["state"] == "queued"
    assert rerun.json()["generation"] == 2 and rerun.json()["requested_by"] == "rerun"
    forced = fake.get("/ccta-ai/series/scout/rerun", method="POST", body=b'{"force": true}')
    assert forced.json()["state"] == "queued"
    assert forced.json()["reason"] == "forced re-run (selection rules bypassed)"
    bad = fake.get("/ccta-ai/series/scout/rerun", method="POST", body=b'{"force": 1}')
    assert bad.status == 400
    gone = fake.get("/ccta-ai/series/unknown/rerun", method="POST")
    assert gone.status == 404
    study = fake.get("/ccta-ai/studies/study-1/rerun", method="POST")
    states = {j["orthanc_series_id"]: j["state"] for j in study.json()["jobs"]}
    assert states == {"ccta": "queued", "scout": "skipped", "ours": "skipped"}
    assert len(plugin.store.list_jobs()) == 3  # replaced, not duplicated


def test_rest_results_health_metrics(fake: FakeOrthanc, plugin: Plugin) -> None:
    stable(fake, plugin, "ccta", "scout")
    claim = plugin.store.claim("w", 10)
    assert claim is not None
    plugin.store.add_outputs(claim.job.job_id, ["out-1"])
    plugin.store.finish(claim, "done")
    results = fake.get("/ccta-ai/studies/study-1/results").json()
    assert [(s["orthanc_series_id"], s["state"], s["outputs"]) for s in results["series"]] == [
        ("ccta", "done", ["out-1"])]
    assert results["skipped"][0]["reason"].startswith("a localizer")
    assert fake.get("/ccta-ai/studies/unknown/results").status == 404
    health = fake.get("/ccta-ai/health")
    assert health.status == 200 and health.json()["status"] == "ok"
    assert health.json()["jobs"]["done"] == 1
    metrics = fake.get("/ccta-ai/metrics")
    assert metrics.content_type.startswith("text/plain")
    text = metrics.body.decode()
    assert 'ccta_ai_jobs{state="done"} 1' in text and 'ccta_ai_jobs{state="skipped"} 1' in text
    assert 'ccta_ai_job_run_seconds_count{state="done"} 1' in text
    assert 'ccta_ai_job_latency_seconds_bucket{state="done",le="+Inf"} 1' in text
    assert "ccta_ai_workers_alive 0" in text


def test_workers_start_with_orthanc_and_stop_with_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, Workers={"Start": True, "Count": 2})
    fake = FakeOrthanc(config, tmp_path / "orthanc.json", resources())
    monkeypatch.setattr(Plugin, "worker_command", lambda self, slot, path: [
        sys.executable, "-c", "import os, time; print(os.environ['CCTA_AI_ORTHANC_TOKEN']);"
        "time.sleep(60)"])
    plugin = install(fake)
    assert plugin is not None
    fake.change(ChangeType.ORTHANC_STARTED)
    workers = plugin.workers()
    assert [w["alive"] for w in workers] == [True, True]
    assert fake.get("/ccta-ai/health").json()["status"] == "ok"
    settings_file = plugin.settings.state_dir / "worker-settings.json"
    assert json.loads(settings_file.read_text())["job_store_path"] == str(plugin.store.path)
    assert oct(settings_file.stat().st_mode & 0o777) == "0o600"
    log = plugin.settings.state_dir / "logs" / "worker-0.log"
    deadline = time.monotonic() + 10
    while "Bearer fake-token" not in log.read_text():  # the token, by the environment
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    fake.change(ChangeType.ORTHANC_STOPPED)
    for worker in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(worker["pid"], 0)


def test_health_is_degraded_when_workers_are_expected_but_none_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOrthanc(make_config(tmp_path, Workers={"Start": True}), tmp_path / "o.json")
    monkeypatch.setattr(Plugin, "start_workers", lambda self: None)
    assert install(fake) is not None
    fake.change(ChangeType.ORTHANC_STARTED)
    health = fake.get("/ccta-ai/health")
    assert health.status == 503 and health.json()["problems"] == ["no worker is running"]
    fake.change(ChangeType.ORTHANC_STOPPED)


def test_the_entry_script_prepares_sys_path_and_installs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    fake = FakeOrthanc(make_config(tmp_path, VenvSitePackages=str(site)), tmp_path / "o.json")
    monkeypatch.setitem(sys.modules, "orthanc", fake)
    monkeypatch.setattr(sys, "path", [str(ENTRY.parent), *sys.path])
    namespace = runpy.run_path(str(ENTRY))
    assert namespace["PLUGIN"] is not None
    assert sys.path[:2] == [str(ENTRY.parents[1]), str(site)]
    assert str(ENTRY.parent) not in sys.path
    namespace["PLUGIN"].on_stopped()


def test_the_entry_script_survives_anything(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOrthanc({}, tmp_path / "o.json")
    fake.GetConfiguration = lambda: "{not json"  # type: ignore[method-assign]
    monkeypatch.setitem(sys.modules, "orthanc", fake)
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace = runpy.run_path(str(ENTRY))
    assert namespace["PLUGIN"] is None
    assert any("plugin not loaded" in m for level, m in fake.logs if level == "error")
