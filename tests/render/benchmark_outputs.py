"""Benchmark: every picture, the SC series and the PDF report of a full-size study.

Not collected by pytest. Run:

    .venv/bin/python tests/render/benchmark_outputs.py [zh|en] [OUT_DIR]

It scales the sample case's trees (``findings_samples``) by 4 (LAD about 120 mm, RCA
about 150 mm, 3 lesions) onto a 280 x 512 x 512 CT grid (0.5 x 0.39 x 0.39 mm), then
times rendering (CPRs, cross-sections, profiles, overview, film page), writing the
Secondary Capture images and writing the Encapsulated PDF, in wall and CPU seconds.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ccta_ai.analysis.findings import Findings
from ccta_ai.dicom_out.pdf import write_report
from ccta_ai.dicom_out.sc import render_all, write_images
from ccta_ai.imaging.volume import Volume
from findings_samples import sample_case

SHAPE = (280, 512, 512)
SPACING = (0.5, 0.39, 0.39)
SCALE = 4.0


def _scaled(findings: Findings) -> Findings:
    """Every length times :data:`SCALE` (positions about the origin)."""
    out = copy.deepcopy(findings)
    for vessel in out.vessels:
        line = vessel.centerline
        line.points_lps_mm = [[SCALE * x for x in p] for p in line.points_lps_mm]
        if vessel.profile is not None:
            vessel.profile.s_mm = [SCALE * s for s in vessel.profile.s_mm]
    for lesion in out.lesions:
        lesion.start_s_mm *= SCALE
        lesion.end_s_mm *= SCALE
        lesion.mld_s_mm *= SCALE
        lesion.length_mm *= SCALE
        lesion.mld_position_lps_mm = [SCALE * x for x in lesion.mld_position_lps_mm]
    return out


def _volume(findings: Findings) -> Volume:
    """Noise around the scaled tree (radii unscaled), drawn as boxes point by point."""
    affine = np.eye(4)
    affine[:3, 0] = (0.0, 0.0, -SPACING[0])
    affine[:3, 1] = (0.0, SPACING[1], 0.0)
    affine[:3, 2] = (SPACING[2], 0.0, 0.0)
    affine[:3, 3] = (-100.0, -100.0, 10.0)
    rng = np.random.default_rng(0)
    hu = rng.normal(-60.0, 15.0, SHAPE).astype(np.float32)
    inverse = np.linalg.inv(affine[:3, :3])
    for vessel in findings.vessels:
        points = np.asarray(vessel.centerline.points_lps_mm)
        for point, radius in zip(points, vessel.centerline.radius_mm, strict=True):
            k, r, c = np.rint(inverse @ (point - affine[:3, 3])).astype(int)
            reach = int(np.ceil(radius / min(SPACING)))
            hu[max(k - reach, 0): k + reach, max(r - reach, 0): r + reach,
               max(c - reach, 0): c + reach] = 420.0
    return Volume(hu, affine, series_instance_uid=findings.series_instance_uid)


def main() -> None:
    language = sys.argv[1] if len(sys.argv) > 1 else "zh"
    with tempfile.TemporaryDirectory() as scratch:
        case = sample_case(Path(scratch))
        findings = _scaled(case.findings)
        volume = _volume(findings)
        out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(scratch) / "out"
        lengths = {v.name: np.linalg.norm(np.diff(v.centerline.points_lps_mm, axis=0),
                                          axis=1).sum() for v in findings.vessels}
        print("grid", volume.shape, "vessel lengths mm",
              {k: round(float(v)) for k, v in lengths.items()})
        wall, cpu = time.perf_counter(), time.process_time()
        images = render_all(findings, volume, case.datasets[0], language)
        marks = [("render", time.perf_counter() - wall, time.process_time() - cpu)]
        paths = write_images(findings, volume, case.datasets, out, language=language,
                             key_images=images)
        marks.append(("write SC", time.perf_counter() - wall, time.process_time() - cpu))
        report = write_report(findings, volume, case.datasets, out, language=language,
                              key_images=images)
        marks.append(("write PDF", time.perf_counter() - wall, time.process_time() - cpu))
        previous = (0.0, 0.0)
        for name, at_wall, at_cpu in marks:
            print(f"{name:10s} wall {at_wall - previous[0]:5.2f} s  "
                  f"cpu {at_cpu - previous[1]:5.2f} s")
            previous = (at_wall, at_cpu)
        print(f"total      wall {marks[-1][1]:5.2f} s  cpu {marks[-1][2]:5.2f} s; "
              f"{len(paths)} SC files, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB; "
              f"report {report.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
