"""The whole job on one CCTA series: load → analyse → write every DICOM output.

This is the pipeline function the worker runs (``CctaAi.Workers.Pipeline`` =
``ccta_ai.pipeline:run``, signature of :mod:`ccta_ai.service.pipeline_port`) and what
``ccta-ai analyze`` runs offline. Stages and their modules:

- load: :func:`ccta_ai.imaging.loader.load_series` (+ the source headers, for the writers);
- analyse: :func:`ccta_ai.analysis.pipeline.analyze_full` (segment, trace, label, measure,
  plaque, grade);
- write: SEG (:mod:`~ccta_ai.dicom_out.seg`), TID 1500 SR (:mod:`~ccta_ai.dicom_out.sr`),
  Secondary Capture pictures (:mod:`~ccta_ai.dicom_out.sc`) and the Encapsulated PDF
  report (:mod:`~ccta_ai.dicom_out.pdf`), plus ``findings.json``.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from pydicom import dcmread
from pydicom.dataset import Dataset

from ccta_ai.errors import CctaAiError, InputError
from ccta_ai.imaging.volume import Volume

Progress = Callable[[str, int, int], None]

#: Output language of the report and the burned-in annotations when none is configured.
DEFAULT_LANGUAGE = "zh"


@dataclass
class PipelineResult:
    """What one run produced."""

    files: list[Path]
    findings_path: Path
    stage_times_s: dict[str, float] = field(default_factory=dict)


def source_headers(files: Sequence[Path], volume: Volume) -> list[Dataset]:
    """The source datasets of ``volume``'s slices (headers only), in slice order.

    Raises:
        InputError: a slice of the volume has no file among ``files``.
    """
    wanted = set(volume.sop_instance_uids)
    by_uid: dict[str, Dataset] = {}
    for path in files:
        try:
            ds = dcmread(path, stop_before_pixels=True)
        except Exception:  # files the loader rejected are not slices of the volume
            continue
        uid = str(ds.get("SOPInstanceUID", ""))
        if uid in wanted:
            by_uid.setdefault(uid, ds)
    missing = [uid for uid in volume.sop_instance_uids if uid not in by_uid]
    if missing:
        raise InputError(
            f"series {volume.series_instance_uid}: {len(missing)} slice(s) of the volume have "
            f"no source file (first: {missing[0]})"
        )
    ordered: list[Dataset] = []
    for uid in volume.sop_instance_uids:
        if not ordered or ordered[-1] is not by_uid[uid]:  # Enhanced CT: one file, many frames
            ordered.append(by_uid[uid])
    return ordered


def files_of(sources: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files


def analyse_series(
    sources: Sequence[Path],
    out_dir: Path,
    *,
    language: str = DEFAULT_LANGUAGE,
    series_instance_uid: str | None = None,
    progress: Progress | None = None,
    segmenter: Callable[[Volume], object] | None = None,
) -> PipelineResult:
    """Load one series from ``sources`` (files or folders), analyse it and write
    ``findings.json`` and every DICOM output into ``out_dir``. ``segmenter`` replaces
    the MONAI segmentation (tests and benchmarks inject a known one)."""
    from ccta_ai.analysis.pipeline import analyze_full
    from ccta_ai.imaging.loader import load_series

    times: dict[str, float] = {}
    files = files_of(sources)
    started = time.perf_counter()
    volume = load_series(files, series_instance_uid=series_instance_uid)
    datasets = source_headers(files, volume)
    times["load"] = time.perf_counter() - started

    started = time.perf_counter()
    analysis = analyze_full(volume, progress=progress, segmenter=segmenter)  # type: ignore[arg-type]
    times["analyse"] = time.perf_counter() - started

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    written = write_outputs(analysis, volume, datasets, out_dir, language=language, times=times)
    analysis.findings.timings_s.update({f"{k}_s": round(v, 3) for k, v in times.items()})
    findings_path = out_dir / "findings.json"
    findings_path.write_text(
        json.dumps(analysis.findings.to_dict(), indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    times["write"] = time.perf_counter() - started
    return PipelineResult(written, findings_path, times)


def write_outputs(
    analysis: object,
    volume: Volume,
    datasets: Sequence[Dataset],
    out_dir: Path,
    *,
    language: str = DEFAULT_LANGUAGE,
    times: dict[str, float] | None = None,
) -> list[Path]:
    """Write SEG, SR, SC pictures and the PDF report of ``analysis`` into ``out_dir``.

    SEG and SR (pure-Python DICOM encoding, about half of the work) are built in a forked
    process while this one renders the pictures and the PDF, so both cores work (see
    :class:`ForkedCall`).
    """
    from ccta_ai.analysis.pipeline import Analysis
    from ccta_ai.dicom_out.pdf import write_report
    from ccta_ai.dicom_out.sc import render_all, write_images

    assert isinstance(analysis, Analysis)
    times = times if times is not None else {}
    findings = analysis.findings

    def seg_and_sr() -> tuple[list[Path], float]:
        started = time.perf_counter()
        paths = write_seg_and_sr(analysis, volume, datasets, out_dir)
        return paths, time.perf_counter() - started

    seg_sr = ForkedCall(seg_and_sr, "SEG and SR")
    try:
        started = time.perf_counter()
        key_images = render_all(findings, volume, datasets[0], language)
        times["render"] = time.perf_counter() - started
        started = time.perf_counter()
        written = write_images(findings, volume, datasets, out_dir / "images",
                               language=language, key_images=key_images)
        written.append(write_report(findings, volume, datasets, out_dir, language=language,
                                    key_images=key_images))
        times["write_sc_pdf"] = time.perf_counter() - started
    except BaseException:
        seg_sr.cancel()
        raise
    seg_sr_paths, times["write_seg_sr"] = seg_sr.result()
    return seg_sr_paths + written


def write_seg_and_sr(
    analysis: object, volume: Volume, datasets: Sequence[Dataset], out_dir: Path
) -> list[Path]:
    """Write ``seg.dcm`` and ``sr.dcm`` (which references the SEG) into ``out_dir``."""
    from ccta_ai.analysis.pipeline import Analysis
    from ccta_ai.dicom_out.seg import build_seg
    from ccta_ai.dicom_out.sr import build_sr

    assert isinstance(analysis, Analysis)
    seg = build_seg(analysis.findings, volume, datasets, analysis.segment_labels,
                    analysis.plaque_labels)
    seg_path = out_dir / "seg.dcm"
    seg.save_as(seg_path)
    sr = build_sr(analysis.findings, datasets, seg=seg)
    sr_path = out_dir / "sr.dcm"
    sr.save_as(sr_path)
    return [seg_path, sr_path]


T = TypeVar("T")


class ForkedCall(Generic[T]):
    """``work()`` running in a forked child from construction on; :meth:`result` waits
    for it and returns its value, or raises the exception it raised (a
    :class:`~ccta_ai.errors.CctaAiError` with its message where that cannot be pickled,
    or where the child died).

    A fork shares the parent's arrays copy-on-write, so nothing big is pickled; only
    the (small) result comes back through a pipe. Give it work that starts no threads
    and no torch. Where fork is not available, ``work`` runs at construction.
    """

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self.name = name
        self._outcome: tuple[str, object] | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            self._outcome = ("ok", work())
            return
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)

        def child() -> None:
            try:
                sender.send(("ok", work()))
            except BaseException as error:
                try:
                    sender.send(("raise", error))
                except Exception:
                    sender.send(("error", f"{type(error).__name__}: {error}"))

        self._process = context.Process(target=child, name=name, daemon=True)
        self._process.start()
        sender.close()

    def result(self) -> T:
        if self._outcome is None:
            try:
                self._outcome = self._receiver.recv()
            except EOFError:  # the child died without a word (killed, out of memory)
                self._process.join()
                self._outcome = ("error", f"the process for {self.name} ended with code "
                                          f"{self._process.exitcode}")
            self._process.join()
            self._receiver.close()
        status, value = self._outcome
        if status == "raise" and isinstance(value, BaseException):
            raise value
        if status != "ok":
            raise CctaAiError(str(value))
        return value  # type: ignore[return-value]

    def cancel(self) -> None:
        """Stop the child (its work is no longer wanted)."""
        if self._outcome is None:
            self._process.kill()
            self._process.join()
            self._receiver.close()
            self._outcome = ("error", "cancelled")


def prepare() -> None:
    """Do before a job what every job needs: import the analysis and the writers (torch,
    MONAI, highdicom, fpdf: seconds) and load the model. The worker's spare pipeline
    process calls this while it waits for a job (:mod:`ccta_ai.service.pipeline_runner`).

    Raises:
        ModelError: the bundle is missing or its weights fail the checksum (the job
            that follows reports it).
    """
    import ccta_ai.analysis.pipeline
    import ccta_ai.dicom_out.pdf
    import ccta_ai.dicom_out.sc
    import ccta_ai.dicom_out.seg
    import ccta_ai.dicom_out.sr
    import ccta_ai.imaging.loader  # noqa: F401
    from ccta_ai.analysis.segment import cached_bundle, resolve_device

    cached_bundle(None, resolve_device("auto"))


def run(series_files: list[Path], out_dir: Path, config: object) -> list[Path]:
    """The worker's pipeline function (see :mod:`ccta_ai.service.pipeline_port`)."""
    from ccta_ai.service.pipeline_port import PipelineConfig

    assert isinstance(config, PipelineConfig)
    language = config.output_language or DEFAULT_LANGUAGE
    result = analyse_series(series_files, out_dir, language=language,
                            series_instance_uid=config.series_uid or None)
    config.stage_times_s.update(result.stage_times_s)
    return result.files
