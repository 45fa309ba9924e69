"""``ccta-ai demo`` and ``ccta-ai bench e2e`` end to end on a small study (written by
``service_samples``) with fake pipelines: what they print, what they save, their exit
codes. The default pipeline (no analysis installed yet) must make the demo fail
clearly, with the job's error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ccta_orthanc_server import ORTHANC, PYTHON_PLUGIN, TESTS_DIR
from pydicom.uid import generate_uid

from ccta_ai.cli import main
from service_samples import write_ct_series, write_localizer

pytestmark = [pytest.mark.slow]


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not (ORTHANC.exists() and PYTHON_PLUGIN.exists()):
        pytest.skip("Orthanc and its python plugin are not installed")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p))
    folder, uid = tmp_path / "study", generate_uid()
    write_localizer(folder / "scout", study_uid=uid, series_uid=generate_uid())
    write_ct_series(folder / "ccta", study_uid=uid, series_uid=generate_uid(), n_slices=64,
                    description="CorCTA 0.6 75%")
    return folder


def test_the_demo_prints_findings_grade_timing_and_where_to_look(
        study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--study", str(study), "--stable-age", "1",
                 "--pipeline", "ccta_fake_pipelines:with_report", "--timeout-s", "120"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "Topogram 0.6 T20f: skipped: a localizer" in printed
    assert "CorCTA 0.6 75%: done: CCTA: CT, 64 slices of 0.6 mm" in printed
    assert "  CAD-RADS category: CAD-RADS 3\n" in printed
    assert ("  Left anterior descending coronary artery (Stenosis): Diameter stenosis 55 %\n"
            in printed)
    assert "last instance received → last result stored: " in printed
    for label in ("wait for stability", "read the series from Orthanc", "pipeline: write",
                  "store the results in Orthanc"):
        assert label in printed
    saved = sorted(p.name.split("-")[0] for p in (out / "results").iterdir())
    assert saved == ["CT", "SR"]
    assert f"results: {out / 'results'}" in printed and "/ccta-ai/studies/" in printed


def test_the_demo_fails_clearly_when_the_job_fails(
        study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo", "--out", str(tmp_path / "demo"), "--study", str(study),
                 "--stable-age", "1", "--timeout-s", "120",
                 "--pipeline", "ccta_ai.service.pipeline_port:run"])
    printed = capsys.readouterr().out
    assert code == 1, printed
    assert "CorCTA 0.6 75%: failed: analysis not yet available" in printed
    assert printed.rstrip().splitlines()[-1].startswith(
        "ccta-ai demo: the analysis of CorCTA 0.6 75% failed: analysis not yet available")


def test_the_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty and was not made by the demo"):
        main(["demo", "--out", str(tmp_path), "--study", str(tmp_path)])
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_bench_e2e_prints_the_breakdown(study: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "e2e", "--study", str(study), "--stable-age", "1",
                 "--pipeline", "ccta_fake_pipelines:by_description", "--timeout-s", "120"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    lines = printed.splitlines()
    assert lines[0].startswith(f"study {study}: 2 series, 66 instances")
    assert "StableAge 1 s, 1 worker(s), pipeline ccta_fake_pipelines:by_description" in printed
    total = [line for line in lines if line.startswith("last instance received → all results")]
    assert len(total) == 1 and total[0].endswith("s (goal ≤ 60 s)")
    for label in ("wait for stability (StableAge) and selection", "queued until a worker",
                  "read the series from Orthanc", "analyse (child process)",
                  "pipeline: fake", "store the results in Orthanc",
                  "total: last instance received → results stored"):
        assert sum(label in line for line in lines) == 1, label
