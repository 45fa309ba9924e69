"""The one narrow door between the worker and the analysis.

The worker calls a *pipeline function* named in the configuration
(``CctaAi.Workers.Pipeline``, ``"module:function"``, default :func:`run` here) in a
child process, with this signature::

    run(series_files: list[Path], out_dir: Path, config: PipelineConfig) -> list[Path]

``series_files`` are the DICOM files of one series as Orthanc holds them; the function
writes the DICOM objects to store (SEG, SR, SC, PDF...) into ``out_dir`` and returns
their paths. It may record how long its stages took in ``config.stage_times_s`` (they
end up in the job). It raises a :class:`~ccta_ai.errors.CctaAiError` to fail the job
with that message (never retried: the same input gives the same error); any other
exception fails it as a pipeline error.

The configured default is :func:`ccta_ai.pipeline.run` (the whole analysis).
:func:`run` here is a stand-in for tests and for checking an installation without the
analysis: it loads the series (so input problems are reported for real) and then raises
:class:`AnalysisUnavailableError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccta_ai.errors import CctaAiError


class AnalysisUnavailableError(CctaAiError):
    """The analysis pipeline is not installed in this build."""


@dataclass
class PipelineConfig:
    """What a pipeline function gets besides its files."""

    series_uid: str
    study_uid: str
    output_language: str = "en"
    #: The ``CctaAi`` settings as JSON (selection, own outputs, limits...).
    settings: dict[str, Any] = field(default_factory=dict)
    #: Filled by the pipeline: seconds per stage, e.g. ``{"segment": 12.5}``.
    stage_times_s: dict[str, float] = field(default_factory=dict)


def run(series_files: list[Path], out_dir: Path, config: PipelineConfig) -> list[Path]:
    """Default pipeline: load the series, then say the analysis is not available yet.

    Raises:
        SeriesError: the series cannot become a volume (from the loader).
        AnalysisUnavailableError: always, once the series loaded.
    """
    import time

    from ccta_ai.imaging.loader import load_series  # heavy (numpy): only in the child

    started = time.perf_counter()
    volume = load_series(series_files)
    config.stage_times_s["load"] = time.perf_counter() - started
    raise AnalysisUnavailableError(
        f"analysis not yet available: series {config.series_uid} loaded as a "
        f"{'x'.join(str(n) for n in volume.hu.shape)} volume, but no analysis pipeline "
        "is installed in this build (CctaAi.Workers.Pipeline)"
    )
