"""Benchmark: SCCT naming accuracy and dominance on phantom studies.

Not collected by pytest (a small study takes about 30-60 s to generate and trace, a
full one several minutes). Run:

    .venv/bin/python tests/analysis/benchmark_naming.py small 1 2 3 [--cache DIR]
    .venv/bin/python tests/analysis/benchmark_naming.py truth 0 1 2 ...

``small``/``full``: each study is generated, traced from its lumen labels
(``analyse_coronaries(ccta, lumen_labels > 0, ostia, anatomy_labels == 1)``), named,
and scored with :func:`ccta_ai.analysis.evaluate.naming_accuracy`. ``truth``: the
phantom's own centrelines are named (no imaging; isolates naming from tracing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from naming_cases import traced_study, truth_of_phantom_tree, vessels_from_truth

from ccta_ai.analysis.evaluate import naming_accuracy
from ccta_ai.analysis.naming import label_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", choices=["small", "full", "truth"])
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--cache", type=Path, help="keep traced studies here (pickles)")
    args = parser.parse_args()
    scores, agree = [], []
    for seed in args.seeds:
        if args.size == "truth":
            truth = truth_of_phantom_tree(seed)
            vessels = vessels_from_truth(truth)
            ostia = None
        else:
            if args.cache is not None:
                args.cache.mkdir(parents=True, exist_ok=True)
            vessels, truth = traced_study(seed, args.size, args.cache)
            ostia = np.array([truth["ostia_lps_mm"][s] for s in ("left", "right")])
        result = label_tree(vessels, ostia_lps_mm=ostia)
        score = naming_accuracy(vessels, truth)
        scores.append(score)
        agree.append(result.dominance == truth["dominance"])
        print(
            f"seed {seed}: naming {score:.3f}  dominance {result.dominance or '?'} "
            f"(truth {truth['dominance']})",
            flush=True,
        )
    print(
        f"{args.size}: {len(scores)} cases, naming mean {np.mean(scores):.3f} "
        f"min {np.min(scores):.3f}, dominance right {np.mean(agree):.0%}"
    )


if __name__ == "__main__":
    main()
