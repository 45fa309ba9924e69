"""The ``ccta-ai`` command line.

Each sub-command imports what it needs when it runs, so ``ccta-ai --help`` is quick
and a missing heavy dependency only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ccta_ai import __version__
from ccta_ai.errors import CctaAiError


def _cmd_phantom(args: argparse.Namespace) -> int:
    from ccta_ai.phantom.study import write_study

    started = time.perf_counter()
    truth = write_study(Path(args.out_dir), seed=args.seed, size=args.size, preview=args.preview)
    elapsed_s = time.perf_counter() - started
    print(f"wrote synthetic study seed {args.seed} ({args.size}) to {args.out_dir} "
          f"in {elapsed_s:.1f} s")
    _print_truth_summary(truth)
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    from ccta_ai.imaging.loader import load_series

    started = time.perf_counter()
    volume = load_series([Path(args.dicom_dir)], series_instance_uid=args.series)
    elapsed_s = time.perf_counter() - started
    summary = {
        "series_instance_uid": volume.series_instance_uid,
        "shape (slices, rows, columns)": list(volume.shape),
        "spacing_mm (slice, row, column)": [round(float(s), 4) for s in volume.spacing_mm],
        "hu_range": [float(volume.hu.min()), float(volume.hu.max())],
        "first voxel LPS mm": [round(float(v), 2) for v in volume.affine[:3, 3]],
        "load_s": round(elapsed_s, 2),
    }
    print(json.dumps(summary, indent=2))
    return 0


def _print_truth_summary(truth: dict) -> None:
    print(f"  dominance: {truth.get('dominance')}")
    print(f"  CAD-RADS 2.0 (truth): {truth.get('cad_rads', {}).get('category')}")
    for lesion in truth.get("lesions", []):
        print(
            f"  lesion {lesion['id']}: {lesion['vessel']} segment {lesion['segment']} "
            f"{lesion['pct_diameter_stenosis']:.0f}% {lesion['plaque_type']}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccta-ai", description="CCTA AI for Orthanc")
    parser.add_argument("--version", action="version", version=f"ccta-ai {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    phantom = commands.add_parser("phantom", help="write a synthetic CCTA study with truth")
    phantom.add_argument("out_dir")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--size", choices=("small", "full"), default="full")
    phantom.add_argument("--preview", action="store_true", help="also write PNG previews")
    phantom.set_defaults(handler=_cmd_phantom)

    load = commands.add_parser("load", help="load a DICOM CT series and print its geometry")
    load.add_argument("dicom_dir")
    load.add_argument("--series", default=None, help="SeriesInstanceUID to pick")
    load.set_defaults(handler=_cmd_load)

    from ccta_ai.viewer import command as viewer_command

    viewer = commands.add_parser("viewer", help="serve the OHIF Viewer beside Orthanc")
    viewer_command.add_arguments(viewer)
    viewer.set_defaults(handler=viewer_command.run)

    from ccta_ai.training import command as train_command

    train = commands.add_parser("train", help="train the coronary segmentation model (bundle)")
    train_command.add_arguments(train)
    train.set_defaults(handler=train_command.run)

    from ccta_ai.training import calcium_lumen as calcium_command

    calcium = commands.add_parser(
        "train-calcium-lumen", help="train the lumen-under-calcium model (bundle)"
    )
    calcium_command.add_arguments(calcium)
    calcium.set_defaults(handler=calcium_command.run)

    from ccta_ai.analysis import bench as bench_command
    from ccta_ai.analysis import command as analyze_command

    analyze = commands.add_parser("analyze", help="analyse a CCTA series, write findings.json")
    analyze_command.add_arguments(analyze)
    analyze.set_defaults(handler=analyze_command.run)

    bench = commands.add_parser("bench", help="benchmarks (commands, not tests)")
    benches = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    accuracy = benches.add_parser("accuracy", help="analysis accuracy on synthetic studies")
    bench_command.add_arguments(accuracy)
    accuracy.set_defaults(handler=bench_command.run)

    from ccta_ai.service import bench as e2e_command
    from ccta_ai.service import demo as demo_command

    e2e = benches.add_parser("e2e", help="last instance received → results stored, in Orthanc")
    e2e_command.add_arguments(e2e)
    e2e.set_defaults(handler=e2e_command.run)

    demo = commands.add_parser("demo", help="Orthanc + plugin + a synthetic study, end to end")
    demo_command.add_arguments(demo)
    demo.set_defaults(handler=demo_command.run)

    # Its options are parsed by ccta_ai.service.worker.main (``ccta-ai worker --help``).
    worker = commands.add_parser("worker", add_help=False,
                                 help="run jobs: --config FILE (Orthanc) or --dicomweb URL")
    worker.set_defaults(handler=_cmd_worker, passes_extra_args=True)
    return parser


def _cmd_worker(args: argparse.Namespace) -> int:
    from ccta_ai.service.worker import main as worker_main

    return worker_main(args.extra_args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "passes_extra_args", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra_args = extra
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except CctaAiError as error:
        print(f"ccta-ai {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
