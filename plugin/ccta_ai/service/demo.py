"""``ccta-ai demo --out DIR`` (``make demo``): a study analysed on arrival, start to end.

Starts Orthanc with the plugin on loopback (free ports, data in ``DIR/orthanc``), makes a
full-size synthetic study (``DIR/study``), sends it as a CT scanner does (``storescu``),
waits for its jobs, saves the results (``DIR/results``), and prints the per-vessel
findings and the CAD-RADS grade read back from the stored SR, the time from the last
instance received to the last result stored, and where to look. Then it stops Orthanc,
unless ``--keep-running``. A failed job makes it exit 1 with the job's error.
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
from pathlib import Path
from typing import Any

import pydicom

from ccta_ai.service.e2e import (
    E2eResult,
    breakdown,
    format_breakdown,
    make_study,
    read_study,
    send_and_wait,
)
from ccta_ai.service.launcher import OrthancServer
from ccta_ai.service.sr_summary import format_summary, summarise_sr

#: Marks a folder made by the demo, so that a later run may clear its sub-folders.
MARKER = ".ccta-ai-demo"
USER, PASSWORD = "demo", "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="folder for everything")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--study", type=Path, default=None,
                        help="send this folder (one study) instead of a synthetic study")
    parser.add_argument("--pipeline", default=None,
                        help="pipeline function module:function (default: configured)")
    parser.add_argument("--stable-age", type=int, default=None,
                        help="Orthanc's StableAge in seconds (default: the configuration's)")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--keep-running", action="store_true",
                        help="leave Orthanc running (stop it with Ctrl-C)")


def _prepare(out: Path) -> None:
    """Clear what an earlier demo left in ``out`` (only in a folder it marked)."""
    out.mkdir(parents=True, exist_ok=True)
    if (out / MARKER).exists():
        for name in ("orthanc", "study", "results"):
            shutil.rmtree(out / name, ignore_errors=True)
    elif any(out.iterdir()):
        raise SystemExit(f"ccta-ai demo: {out} is not empty and was not made by the demo; "
                         "choose another --out")
    (out / MARKER).write_text("made by ccta-ai demo\n")


def run(args: argparse.Namespace) -> int:
    out = args.out.resolve()
    _prepare(out)
    started = time.perf_counter()
    if args.study is not None:
        study = read_study(args.study)
    else:
        print(f"making a {args.size}-size synthetic CCTA study (seed {args.seed})...",
              flush=True)
        study = make_study(out / "study", seed=args.seed, size=args.size)
    print(f"study: {len(study.series)} series, {len(study.files)} instances "
          f"({time.perf_counter() - started:.1f} s)")
    overrides: dict[str, Any] = {"Name": "ccta-ai-demo"}
    if args.pipeline:
        overrides["CctaAi"] = {"Workers": {"Pipeline": args.pipeline}}
    if args.stable_age is not None:
        overrides["StableAge"] = args.stable_age
    server = OrthancServer(out / "orthanc", overrides, user=USER, password=PASSWORD)
    server.start()
    print(f"Orthanc with the CCTA AI plugin: {server.url} (user {USER!r}, password "
          f"{PASSWORD!r}), DICOM port {server.dicom_port}, AET {server.aet}", flush=True)
    try:
        result = send_and_wait(server, study, timeout_s=args.timeout_s, progress=True)
        code = report(server, result, out, keep_running=args.keep_running)
        if args.keep_running:
            print(f"\nOrthanc keeps running at {server.url}; press Ctrl-C to stop it.")
            try:
                while server.process is not None and server.process.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return code
    finally:
        server.stop()


def _save_outputs(server: OrthancServer, job: dict[str, Any], folder: Path
                  ) -> list[tuple[Path, pydicom.Dataset]]:
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[Path, pydicom.Dataset]] = []
    for instance_id in job["outputs"]:
        content = server.client.get_instances_id_file(instance_id)
        assert isinstance(content, bytes)
        ds = pydicom.dcmread(io.BytesIO(content))
        path = folder / f"{ds.Modality}-{ds.get('SeriesNumber', 0)}-{instance_id[:8]}.dcm"
        path.write_bytes(content)
        saved.append((path, ds))
    return saved


def report(server: OrthancServer, result: E2eResult, out: Path, *,
           keep_running: bool = False) -> int:
    print("\nseries:")
    for job in result.jobs:
        detail = job["reason"] if job["state"] in ("done", "skipped") else job["error"]
        print(f"  {job['description'] or job['series_uid']}: {job['state']}: {detail}")
    analysed = result.analysed
    if not analysed:
        print("\nccta-ai demo: no series of the study was selected for analysis")
        return 1
    failed = [job for job in analysed if job["state"] != "done"]
    for job in analysed:
        if job["state"] != "done":
            continue
        saved = _save_outputs(server, job, out / "results")
        for _path, ds in saved:
            if ds.Modality == "SR":
                summary = summarise_sr(ds)
                print(f"\nfindings ({ds.get('SeriesDescription', 'SR')}):")
                print("\n".join(format_summary(summary)) or "  (no measurement groups)")
                if not summary.grade:
                    print("  CAD-RADS: not found in the SR")
        print("\noutputs:")
        for path, ds in saved:
            print(f"  {ds.Modality:<3} {ds.get('SeriesDescription', '')}: {path}")
    truth = result.study.truth.get("cad_rads", {})
    if truth:
        print(f"\nphantom truth: CAD-RADS {truth.get('category')}; lesions: " + ", ".join(
            f"{lesion['vessel']} {lesion['pct_diameter_stenosis']:.0f}%"
            for lesion in result.study.truth.get("lesions", [])))
    for job in analysed:
        print(f"\ntiming of {job['description'] or job['series_uid']}:")
        print("\n".join(format_breakdown(breakdown(job, result.sent_at))))
    last = result.last_stored_at
    if last is not None:
        print(f"last instance received → last result stored: {last - result.sent_at:.1f} s")
    study_id = analysed[0]["orthanc_study_id"]
    print("\nwhere to look:")
    print(f"  Orthanc explorer: {server.url}/app/explorer.html#study?uuid={study_id}")
    print(f"  jobs and results: {server.url}/ccta-ai/studies/{study_id}/results")
    print(f"  study id: {study_id} (StudyInstanceUID {result.study.study_uid})")
    print(f"  input study: {result.study.folder}; results: {out / 'results'}")
    print(f"  logs: {server.log_path}, {server.state_dir / 'logs'}")
    if not keep_running:
        print("  (Orthanc stops when the demo ends; --keep-running leaves it up)")
    if failed:
        for job in failed:
            print(f"\nccta-ai demo: the analysis of {job['description'] or job['series_uid']} "
                  f"failed: {job['error']}")
        return 1
    return 0
