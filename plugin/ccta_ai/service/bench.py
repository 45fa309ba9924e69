"""``ccta-ai bench e2e``: the time from a study's last instance received to all its
results stored, in a private Orthanc with our plugin, with a breakdown.

Orthanc runs from a temporary folder on free loopback ports (:mod:`.launcher`), with
the embedded default configuration (its ``StableAge`` included, unless ``--stable-age``
says otherwise). The study is the synthetic one of :mod:`ccta_ai.phantom` (made before
the clock starts) or any folder given with ``--study``; it is sent with ``storescu``.
Only numbers are printed: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ccta_ai.service.e2e import (
    E2eResult,
    breakdown,
    format_breakdown,
    make_study,
    read_study,
    send_and_wait,
)
from ccta_ai.service.launcher import OrthancServer
from ccta_ai.service.settings import DEFAULT_PIPELINE

GOAL_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--study", type=Path, default=None,
                        help="send this folder (one study) instead of a synthetic study")
    parser.add_argument("--pipeline", default=None,
                        help="pipeline function module:function (default: the configured "
                             "CctaAi.Workers.Pipeline)")
    parser.add_argument("--stable-age", type=int, default=None,
                        help="Orthanc's StableAge in seconds (default: the embedded "
                             "configuration's)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="run in this folder and keep it (default: a temporary one)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    workers: dict[str, Any] = {"Count": args.workers}
    if args.pipeline:
        workers["Pipeline"] = args.pipeline
    overrides: dict[str, Any] = {"Name": "ccta-ai-bench", "CctaAi": {"Workers": workers}}
    if args.stable_age is not None:
        overrides["StableAge"] = args.stable_age
    return overrides


def run(args: argparse.Namespace) -> int:
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        return _run_in(args.keep, args)
    with tempfile.TemporaryDirectory(prefix="ccta-ai-bench-") as folder:
        return _run_in(Path(folder), args)


def _run_in(root: Path, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.study is not None:
        study = read_study(args.study)
        what = f"study {args.study}"
    else:
        study = make_study(root / "study", seed=args.seed, size=args.size)
        what = f"synthetic {args.size}-size study, seed {args.seed}"
    print(f"{what}: {len(study.series)} series, {len(study.files)} instances "
          f"(prepared in {time.perf_counter() - started:.1f} s, not timed)")
    server = OrthancServer(root / "orthanc", _overrides(args))
    pipeline = server.config["CctaAi"]["Workers"].get("Pipeline") or DEFAULT_PIPELINE
    print(f"Orthanc {server.url}: StableAge {server.config['StableAge']} s, "
          f"{args.workers} worker(s), pipeline {pipeline}, "
          f"{os.cpu_count()} CPU cores")
    with server:
        result = send_and_wait(server, study, timeout_s=args.timeout_s)
    return report(result)


def report(result: E2eResult) -> int:
    print(f"sent by storescu in {result.send_s:.1f} s")
    for job in result.jobs:
        detail = job["error"] or job["reason"] if job["state"] != "done" else job["reason"]
        print(f"  {job['description'] or job['series_uid']}: {job['state']}: {detail}")
    for job in result.analysed:
        print(f"breakdown of {job['description'] or job['series_uid']} ({job['state']}):")
        print("\n".join(format_breakdown(breakdown(job, result.sent_at))))
    last = result.last_stored_at
    if last is None:
        print("no series was analysed: nothing to time")
        return 1
    total_s = last - result.sent_at
    print(f"last instance received → all results stored: {total_s:.1f} s "
          f"(goal ≤ {GOAL_S:g} s)")
    failed = [job for job in result.analysed if job["state"] != "done"]
    if failed:
        print(f"note: {len(failed)} analysed series failed; the time is until the failure "
              "was recorded")
        return 1
    return 0
