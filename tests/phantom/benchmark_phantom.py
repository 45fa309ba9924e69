"""Benchmark of the phantom: time, CPU time, peak memory and size on disk of
``write_study`` for one seed and size. Prints measured numbers; asserts nothing.

    .venv/bin/python tests/phantom/benchmark_phantom.py --seed 1 --size full
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from ccta_ai.phantom.study import write_study


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", choices=("small", "full"), default="full")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "study"
        wall0, cpu0 = time.perf_counter(), time.process_time()
        truth = write_study(out, args.seed, args.size)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    image = truth["image"]
    print(
        f"seed {args.seed} {args.size}: {image['slices']}x{image['rows']}x{image['columns']} "
        f"voxels; wall {wall:.1f} s, cpu {cpu:.1f} s, peak RSS {peak_mb:.0f} MB, "
        f"on disk {size_mb:.1f} MB"
    )


if __name__ == "__main__":
    main()
