"""Time building and encoding the SEG and the SR of a full-size case (not a test).

The sample case (:mod:`findings_samples`) blown up to a 512 x 512 x 250 CT series:
label maps resampled (nearest) onto the big grid, centrelines densified four times.
The CT series is written and read back first (not timed). Run from the repository root:

    nice -n 10 .venv/bin/python tests/dicom_out/benchmark_seg_sr.py [OUT_DIR]
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ccta_ai.dicom_out.ct import sop_instance_uid_for, write_ct_series
from ccta_ai.dicom_out.seg import build_seg
from ccta_ai.dicom_out.sr import build_sr
from ccta_ai.imaging.volume import Volume
from ct_samples import sample_acquisition, sample_study
from findings_samples import SampleCase, sample_case

FULL_SHAPE = (250, 512, 512)


def _resample(labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    index = np.ix_(*[np.arange(n) * labels.shape[a] // n for a, n in enumerate(shape)])
    return np.ascontiguousarray(labels[index])


def full_size_case(out_dir: Path) -> SampleCase:
    small = sample_case(out_dir / "small")
    scale = np.array(small.volume.shape) / np.array(FULL_SHAPE)
    affine = small.volume.affine.copy()
    affine[:3, :3] = affine[:3, :3] * scale
    acquisition = sample_acquisition()
    series_uid = acquisition.series_instance_uid
    hu = np.full(FULL_SHAPE, -80.0, dtype=np.float32)
    volume = Volume(
        hu,
        affine,
        series_instance_uid=series_uid,
        frame_of_reference_uid=small.volume.frame_of_reference_uid,
        sop_instance_uids=tuple(sop_instance_uid_for(series_uid, k) for k in range(FULL_SHAPE[0])),
        frame_numbers=(1,) * FULL_SHAPE[0],
    )
    paths = write_ct_series(volume, sample_study(), acquisition, out_dir / "ct")
    datasets: list[Dataset] = [pydicom.dcmread(p) for p in paths]
    findings = small.findings
    for vessel in findings.vessels:
        points = np.asarray(vessel.centerline.points_lps_mm)
        t = np.linspace(0, len(points) - 1, 4 * len(points))
        dense = np.stack([np.interp(t, np.arange(len(points)), points[:, i]) for i in range(3)], 1)
        vessel.centerline = replace(
            vessel.centerline,
            points_lps_mm=dense.tolist(),
            segment=[vessel.centerline.segment[int(x + 0.5)] for x in t],
        )
        vessel.profile = None
    return SampleCase(
        volume,
        datasets,
        findings,
        _resample(small.segment_labels, FULL_SHAPE),
        _resample(small.plaque_labels, FULL_SHAPE),
        paths,
    )


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    case = full_size_case(out_dir)
    cpu_start = time.process_time()
    start = time.perf_counter()
    seg = build_seg(
        case.findings, case.volume, case.datasets, case.segment_labels, case.plaque_labels
    )
    built = time.perf_counter()
    seg_bytes = io.BytesIO()
    seg.save_as(seg_bytes)
    encoded = time.perf_counter()
    sr = build_sr(case.findings, case.datasets, seg)
    sr_built = time.perf_counter()
    sr_bytes = io.BytesIO()
    sr.save_as(sr_bytes)
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu_start
    print(f"source: {len(case.datasets)} x {FULL_SHAPE[1]} x {FULL_SHAPE[2]}")
    print(
        f"SEG: {len(seg.SegmentSequence)} segments, {seg.NumberOfFrames} frames, "
        f"{seg_bytes.tell() / 1e6:.1f} MB: build {built - start:.2f} s, "
        f"encode {encoded - built:.2f} s"
    )
    print(
        f"SR: {sr_bytes.tell() / 1e3:.0f} kB: build {sr_built - encoded:.2f} s, "
        f"encode {done - sr_built:.2f} s"
    )
    print(f"total {done - start:.2f} s wall, {cpu_s:.2f} s CPU (this process)")


if __name__ == "__main__":
    main()
