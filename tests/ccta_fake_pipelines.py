"""Fake pipeline functions for the worker and integration tests.

The worker runs them in a child process (``CctaAi.Workers.Pipeline =
"ccta_fake_pipelines:by_description"``; ``tests/`` must be on ``PYTHONPATH``). What
``by_description`` does depends on the input's SeriesDescription:

* ``... CRASH ...``: raises RuntimeError (a pipeline bug);
* ``... BADINPUT ...``: raises SeriesError (an input the analysis refuses);
* ``... DIE ...``: the process kills itself with SIGKILL (like the OOM killer);
* ``... SLOW <seconds> ...``: sleeps that long, then succeeds;
* anything else: writes one output object derived from the first input file.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from ccta_ai.errors import SeriesError
from ccta_ai.service.pipeline_port import PipelineConfig

OUTPUT_DESCRIPTION = "CCTA AI fake result"


def write_output(series_files: list[Path], out_dir: Path) -> Path:
    """One DERIVED CT object carrying our identity, UIDs derived from the input."""
    source = pydicom.dcmread(sorted(series_files)[0])
    ds = source.copy()
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[source.SeriesInstanceUID, "fake-out"])
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[source.SOPInstanceUID, "fake-out"])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Manufacturer = "CCTA AI"
    ds.SeriesDescription = OUTPUT_DESCRIPTION
    ds.SeriesNumber = 9901
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    path = out_dir / "result.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def by_description(series_files: list[Path], out_dir: Path, config: PipelineConfig
                   ) -> list[Path]:
    description = str(pydicom.dcmread(series_files[0], stop_before_pixels=True)
                      .get("SeriesDescription", ""))
    started = time.perf_counter()
    if "CRASH" in description:
        raise RuntimeError(f"deliberate failure for {config.series_uid}")
    if "BADINPUT" in description:
        raise SeriesError("slices do not form a volume (deliberate)", config.series_uid)
    if "DIE" in description:
        os.kill(os.getpid(), signal.SIGKILL)
    slow = re.search(r"SLOW (\d+(?:\.\d+)?)", description)
    if slow:
        time.sleep(float(slow.group(1)))
    config.stage_times_s["fake"] = time.perf_counter() - started
    return [write_output(series_files, out_dir)]
