"""``ccta-ai analyze DICOM_DIR --out OUT_DIR``: one CCTA series → ``findings.json``.

Prints each stage as it starts, then the time of every stage, a per-vessel summary and
the grade. The DICOM outputs (SEG, SR, SC, PDF) are written by :func:`write_outputs`
(the place where their writers are called from).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from ccta_ai.analysis.pipeline import Analysis, Segmenter, analyze_full, summary_lines
from ccta_ai.imaging.volume import Volume


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dicom_dir", help="folder of the CT series (searched recursively)")
    parser.add_argument("--out", required=True, dest="out_dir", help="output folder")
    parser.add_argument("--series", default=None, help="SeriesInstanceUID to pick")
    parser.add_argument("--language", choices=("zh", "en"), default="zh",
                        help="language of the report and the burned-in annotations")
    parser.add_argument("--findings-only", action="store_true",
                        help="write findings.json only, no DICOM objects")
    parser.add_argument(
        "--oracle-from",
        default=None,
        metavar="STUDY_DIR",
        help="benchmarking: take the segmentation from a synthetic study's truth "
        "(lumen_labels.nii.gz, anatomy_labels.nii.gz, truth.json) instead of the model",
    )


def run(args: argparse.Namespace) -> int:
    from ccta_ai.imaging.loader import load_series

    started = time.perf_counter()
    print(f"loading {args.dicom_dir} ...", flush=True)
    volume = load_series([Path(args.dicom_dir)], series_instance_uid=args.series)
    load_s = time.perf_counter() - started
    print(f"  {volume.shape} voxels, spacing {[round(float(s), 3) for s in volume.spacing_mm]} mm "
          f"({load_s:.1f} s)", flush=True)  # fmt: skip

    def progress(stage: str, index: int, total: int) -> None:
        print(f"[{index}/{total}] {stage} ...", flush=True)

    segmenter = _oracle(Path(args.oracle_from), volume) if args.oracle_from else None
    analysis = analyze_full(volume, progress=progress, segmenter=segmenter)
    analysis.findings.timings_s["load_s"] = round(load_s, 3)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [] if args.findings_only else write_outputs(
        analysis, volume, Path(args.dicom_dir), out_dir, args.language
    )
    path = out_dir / "findings.json"
    path.write_text(json.dumps(analysis.findings.to_dict(), indent=1) + "\n", encoding="utf-8")
    print_report(analysis, peak_memory_mb())
    print(f"wrote {path}")
    for item in written:
        print(f"wrote {item}")
    return 0


def _oracle(study_dir: Path, volume: Volume) -> Segmenter:
    """The true masks of a synthetic study (``ccta-ai phantom``) as the segmenter."""
    import nibabel as nib

    from ccta_ai.analysis.bench import oracle_segmenter
    from ccta_ai.errors import InputError

    try:
        lumen = np.asarray(cast(Any, nib.load(study_dir / "lumen_labels.nii.gz")).dataobj)
        anatomy = np.asarray(cast(Any, nib.load(study_dir / "anatomy_labels.nii.gz")).dataobj)
        truth = json.loads((study_dir / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"--oracle-from {study_dir}: not a synthetic study ({error})") from error
    if lumen.shape != volume.shape:
        raise InputError(
            f"--oracle-from {study_dir}: labels {lumen.shape} != volume {volume.shape}"
        )
    return oracle_segmenter(lumen, anatomy, truth)


def write_outputs(
    analysis: Analysis, volume: Volume, dicom_dir: Path, out_dir: Path, language: str
) -> list[Path]:
    """DICOM outputs of an analysis (SEG, SR, SC pictures, PDF report), written by
    :func:`ccta_ai.pipeline.write_outputs`; returns the paths written."""
    from ccta_ai.pipeline import files_of, source_headers
    from ccta_ai.pipeline import write_outputs as write_all

    started = time.perf_counter()
    datasets = source_headers(files_of([dicom_dir]), volume)
    times: dict[str, float] = {}
    written = write_all(analysis, volume, datasets, out_dir, language=language, times=times)
    times["outputs_total"] = time.perf_counter() - started
    analysis.findings.timings_s.update({f"{k}_s": round(v, 3) for k, v in times.items()})
    return written


def print_report(analysis: Analysis, peak_mb: float | None = None) -> None:
    """Per-stage times, the per-vessel summary and the grade."""
    timings = analysis.findings.timings_s
    print("stage times:")
    for key, value in timings.items():
        print(f"  {key:<24} {value:8.2f} s")
    if peak_mb is not None:
        print(f"  peak memory              {peak_mb:8.0f} MB")
    print("findings:")
    for line in summary_lines(analysis.findings):
        print(line)
    for warning in analysis.findings.warnings:
        print(f"  warning: {warning}")


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
