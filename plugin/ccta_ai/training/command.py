"""The ``ccta-ai train`` command: gather cases, train, report."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccta_ai.errors import ConfigError

if TYPE_CHECKING:  # torch is imported only when the command runs
    from ccta_ai.training.data import Case

SCENE_FIRST_SEED = 1000
BENCHMARK_FIRST_SEED = 100_000  # the same as ccta_ai.training.data's


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="bundle folder to write (models/coronary_seg)")
    parser.add_argument("--cases", type=int, default=24, help="phantom studies to generate")
    parser.add_argument("--first-seed", type=int, default=1000, help="first phantom seed")
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--scenes", type=int, default=60, help="quick synthetic scenes to add")
    parser.add_argument("--imagecas", default=None, help="ImageCAS-layout folder to add")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    parser.add_argument("--max-minutes", type=float, default=18.0)
    parser.add_argument("--resume", action="store_true", help="start from the bundle's weights")
    parser.add_argument("--lumen-weight", type=float, default=3.0, help="lumen class weight")
    parser.add_argument("--patch", type=int, default=48, help="training patch side (voxels)")
    parser.add_argument("--cache", default=None, help="folder keeping prepared phantom cases")


def run(args: argparse.Namespace) -> int:
    from ccta_ai.training.train import TrainOptions, prepare_bundle, train

    if args.cases and args.first_seed + args.cases > BENCHMARK_FIRST_SEED:
        raise ConfigError(
            f"training seeds {args.first_seed}..{args.first_seed + args.cases - 1} reach the "
            f"benchmark seeds (>= {BENCHMARK_FIRST_SEED}); pick seeds in 1000-1999"
        )
    out_dir = Path(args.out)
    inference = prepare_bundle(out_dir)
    started = time.perf_counter()
    cases = list(_gather(args, dict(inference)))
    print(f"prepared {len(cases)} cases in {time.perf_counter() - started:.0f} s", flush=True)
    options = TrainOptions(epochs=args.epochs, steps_per_epoch=args.steps, patch=args.patch,
                           lumen_class_weight=args.lumen_weight,
                           max_minutes=args.max_minutes, resume=args.resume)
    report = train(out_dir, cases, options)
    print(f"trained {report.minutes:.1f} min; final loss {report.losses[-1]:.4f}; "
          f"weights sha256 {report.weights_sha256}")
    return 0


def _gather(args: argparse.Namespace, inference: dict[str, Any]) -> Iterator[Case]:
    from ccta_ai.training.data import (
        imagecas_cases,
        phantom_available,
        phantom_cases,
        scene_cases,
    )

    sources: list[Iterator[Case]] = []
    if args.cases:
        if phantom_available():
            cache = Path(args.cache) if args.cache else None
            sources.append(
                phantom_cases(args.first_seed, args.cases, inference, args.size, cache)
            )
        else:
            print("the phantom (ccta_ai.phantom.study) is not available: scenes only")
    if args.imagecas:
        sources.append(imagecas_cases(Path(args.imagecas), inference))
    if args.scenes:
        spacing_mm = float(inference["preprocessing"]["spacing_mm"])
        sources.append(scene_cases(SCENE_FIRST_SEED, args.scenes, spacing_mm))
    for case in itertools.chain(*sources):
        print(f"  case {case.name}: grid {tuple(case.labels.shape)}", flush=True)
        yield case
