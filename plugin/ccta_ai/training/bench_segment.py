"""Benchmark of the segment stage on held-out phantom studies (seeds >= 100000).

    python -m ccta_ai.training.bench_segment --cases 3 --first-seed 100000 --size small

Each study is generated here, then segmented in a fresh child process so that its
peak memory (``ru_maxrss``: the volume, torch and the stage, nothing else) and time
are the stage's own. Prints one line per study and the mean lumen Dice.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total


def _one(path: Path, bundle_dir: str | None) -> dict[str, object]:
    """Segment one saved study (in this process) and score it."""
    from ccta_ai.analysis.segment import segment_coronaries
    from ccta_ai.imaging.volume import Volume

    saved = np.load(path)
    volume = Volume(saved["hu"], saved["affine"])
    if "lumen" in saved:
        lumen, aorta = saved["lumen"], saved["aorta"]
    else:  # a case kept by ``ccta-ai bench accuracy --cache``
        lumen, aorta = saved["lumen_labels"] > 0, saved["anatomy_labels"] == 1
    started = time.perf_counter()
    result = segment_coronaries(volume, bundle_dir=Path(bundle_dir) if bundle_dir else None)
    wall_s = time.perf_counter() - started
    return {
        "shape": list(volume.shape),
        "spacing_mm": [round(float(s), 3) for s in volume.spacing_mm],
        "lumen_dice": round(dice(result.lumen, lumen), 4),
        "aorta_dice": round(dice(result.aorta, aorta), 4),
        "aorta_precision": round(float((result.aorta & aorta).sum())
                                 / max(1, int(result.aorta.sum())), 4),
        "ostia": 0 if result.ostia_lps_mm is None else len(result.ostia_lps_mm),
        "wall_s": round(wall_s, 2),
        "timings_s": result.timings_s,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "model_sha256": result.model_sha256[:12],
    }


def _child(path: Path, bundle: str | None, title: str) -> float:
    """Segment a saved study in a fresh process; print its row; return its lumen Dice."""
    command = [sys.executable, "-m", "ccta_ai.training.bench_segment", "--one", str(path)]
    if bundle:
        command += ["--bundle", bundle]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    row = json.loads(output.strip().splitlines()[-1])
    print(f"{title}: " + json.dumps(row), flush=True)
    return float(row["lumen_dice"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=100_000)
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the committed)")
    parser.add_argument("--saved", nargs="*", default=None,
                        help="score studies saved as .npz instead (hu, affine, lumen, aorta; "
                        "or the cases kept by `ccta-ai bench accuracy --cache`)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_one(Path(args.one), args.bundle)))
        return 0
    if args.saved:
        scores = [_child(Path(path), args.bundle, Path(path).stem) for path in args.saved]
        print(f"mean lumen Dice over {len(scores)} saved studies: {np.mean(scores):.3f}")
        return 0
    if args.first_seed < 100_000:
        print("benchmark seeds must be >= 100000 (never trained on)", file=sys.stderr)
        return 2
    from ccta_ai.phantom.labels import Anatomy
    from ccta_ai.phantom.study import generate_study

    scores = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.first_seed, args.first_seed + args.cases):
            study = generate_study(seed, args.size)
            path = Path(folder) / f"{seed}.npz"
            np.savez(path, hu=study.ccta.hu, affine=study.ccta.affine,
                     lumen=study.lumen_labels > 0,
                     aorta=study.anatomy_labels == int(Anatomy.AORTA))
            del study
            scores.append(_child(path, args.bundle, f"seed {seed} {args.size}"))
    print(f"mean lumen Dice over {len(scores)} {args.size} studies: {np.mean(scores):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
