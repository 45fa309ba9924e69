"""The demo's folder handling and the e2e timing breakdown (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccta_ai.service.demo import MARKER, _prepare
from ccta_ai.service.e2e import breakdown, format_breakdown


def test_a_demo_folder_is_cleared_of_its_own_subfolders_only(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    _prepare(out)
    assert (out / MARKER).is_file()
    for name in ("orthanc", "study", "results", "notes"):
        (out / name).mkdir()
        (out / name / "f").write_text("x")
    _prepare(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "notes"]


def test_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not made by the demo"):
        _prepare(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


def test_the_breakdown_follows_the_job_from_the_last_instance() -> None:
    job = {"enqueued_at": 110.0, "started_at": 110.5, "finished_at": 130.0,
           "stages": {"fetch_s": 2.0, "analyse_s": 15.0, "pipeline.load_s": 3.0,
                      "pipeline.write_s": 1.5, "store_s": 1.0, "total_s": 19.5}}
    steps = breakdown(job, sent_at=100.0)
    assert steps == [
        ("wait for stability (StableAge) and selection", 10.0),
        ("queued until a worker took it", 0.5),
        ("read the series from Orthanc", 2.0),
        ("analyse (child process)", 15.0),
        ("    pipeline: load", 3.0),
        ("    pipeline: write", 1.5),
        ("store the results in Orthanc", 1.0),
        ("total: last instance received → results stored", 30.0),
    ]
    assert format_breakdown(steps[-1:], indent="") == [
        "total: last instance received → results stored    30.00 s"]


def test_ccta_ai_worker_hands_its_arguments_to_the_worker(
        capsys: pytest.CaptureFixture[str]) -> None:
    from ccta_ai.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["worker"])
    assert stopped.value.code == 2
    assert "give --config FILE (Orthanc mode) or --dicomweb URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["worker", "--help"])
    assert stopped.value.code == 0
    assert "--dicomweb URL" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["demo", "--out", "x", "--no-such-option"])
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err
