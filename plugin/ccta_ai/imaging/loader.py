"""DICOM files or datasets → one CT :class:`~ccta_ai.imaging.volume.Volume`.

What is set aside (each with a logged note), before the volume is built:

* objects that are not CT images (SR, SEG, PDF, Secondary Capture, DICOMDIR, ...);
* in directories, files without the ``DICM`` marker (see :func:`read.iter_sources`);
* localizers: Image Type value 3 ``LOCALIZER``; series with fewer than
  ``min_slices`` images (scouts without the flag, single screenshots); and inside the
  chosen series a single image whose orientation differs from all the others.

Then one series is chosen (``series_instance_uid``, or the only one left), its slices
are checked and ordered by :mod:`ccta_ai.imaging.stack`, decoded to Hounsfield units
(Rescale Slope/Intercept per slice or per frame) and, where needed, resampled onto an
orthogonal regular grid (:mod:`ccta_ai.imaging.resample`). Axis order and affine are
the Volume's (see :mod:`ccta_ai.imaging.volume`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

import pydicom

from ccta_ai.errors import GeometryError, MixedSeriesError, SeriesError
from ccta_ai.imaging.read import (
    CT_IMAGE_SOP_CLASSES,
    SliceRecord,
    decode_hu,
    read_headers,
    records_from_header,
    sop_class_of,
)
from ccta_ai.imaging.resample import apply_plan
from ccta_ai.imaging.stack import (
    DEFAULT_MAX_GAP_FRACTION,
    MIN_SLICES,
    ORIENTATION_TOLERANCE,
    plan_stack,
)
from ccta_ai.imaging.volume import Volume

logger = logging.getLogger(__name__)

Source = Path | str | pydicom.Dataset


def load_series(
    sources: Iterable[Source],
    *,
    series_instance_uid: str | None = None,
    max_gap_fraction: float = DEFAULT_MAX_GAP_FRACTION,
    min_slices: int = MIN_SLICES,
) -> Volume:
    """Load one CT series from files, directories (walked recursively) or datasets.

    Args:
        sources: DICOM files, directories or datasets, in any order.
        series_instance_uid: the series to load when several are present.
        max_gap_fraction: how far a step between neighbouring slices may differ from
            the median step, as a fraction of it (0.5: a step over 1.5x is a gap).
        min_slices: fewest slices that make a volume.

    Raises:
        UnreadableFileError: a file is broken, truncated or cannot be decoded.
        MixedSeriesError: several CT series and no ``series_instance_uid``.
        GeometryError: the slices do not form a regular volume (the message names
            the problem and the offending value).
        SeriesError: no CT image at all, or ``series_instance_uid`` is not present.
    """
    if isinstance(sources, str | Path | pydicom.Dataset):
        sources = [sources]  # one directory, file or dataset
    by_series, problems, descriptions = _collect(read_headers(sources))
    series_uid = _choose(by_series, problems, descriptions, series_instance_uid, min_slices)
    if series_uid in problems:
        raise problems[series_uid]
    records = _drop_stray_orientations(by_series[series_uid], series_uid, min_slices)
    plan = plan_stack(records, series_uid, max_gap_fraction=max_gap_fraction, min_slices=min_slices)
    hu = apply_plan(decode_hu(plan.records, series_uid), plan)
    frames_of_reference = {str(r.header.get("FrameOfReferenceUID", "")) for r in plan.records}
    if len(frames_of_reference) > 1:
        raise GeometryError(
            f"slices belong to several frames of reference: {sorted(frames_of_reference)}",
            series_uid,
        )
    volume = Volume(
        hu=hu,
        affine=plan.affine,
        series_instance_uid=series_uid,
        frame_of_reference_uid=frames_of_reference.pop(),
        sop_instance_uids=tuple(r.sop_instance_uid for r in plan.records),
        frame_numbers=tuple(r.frame_number for r in plan.records),
    )
    logger.info("loaded series %s: %s voxels of %s mm", series_uid, volume.shape, volume.spacing_mm)
    return volume


def _collect(
    headers: list[tuple[str, Path | None, pydicom.Dataset]],
) -> tuple[dict[str, list[SliceRecord]], dict[str, SeriesError], dict[str, str]]:
    """CT slice records by series (localizers removed), per-series header problems,
    and series descriptions."""
    by_series: dict[str, list[SliceRecord]] = defaultdict(list)
    problems: dict[str, SeriesError] = {}
    descriptions: dict[str, str] = {}
    ignored: Counter[str] = Counter()
    for name, path, header in headers:
        sop_class = sop_class_of(name, header)
        if sop_class not in CT_IMAGE_SOP_CLASSES:
            kind = sop_class.name
            logger.info("ignoring %s: %s is not a CT image", name, kind)
            ignored[kind] += 1
            continue
        series_uid = str(header.get("SeriesInstanceUID", ""))
        descriptions.setdefault(series_uid, str(header.get("SeriesDescription", "")))
        try:
            records = records_from_header(name, path, header)
        except GeometryError as error:  # only fatal if this series is the one loaded
            problems.setdefault(series_uid, error)
            by_series.setdefault(series_uid, [])
            continue
        for record in records:
            if record.is_localizer:
                logger.info("dropping %s: a localizer (Image Type LOCALIZER)", record.source)
                continue
            by_series[series_uid].append(record)
    if not by_series:
        found = ", ".join(f"{count} {kind}" for kind, count in ignored.items()) or "nothing"
        raise SeriesError(f"no CT image series among the sources (found: {found})")
    return by_series, problems, descriptions


def _choose(
    by_series: dict[str, list[SliceRecord]],
    problems: dict[str, SeriesError],
    descriptions: dict[str, str],
    wanted: str | None,
    min_slices: int,
) -> str:
    if wanted is not None:
        if wanted not in by_series:
            raise SeriesError(
                f"series {wanted} is not among the sources; present: "
                + _list_series(by_series, descriptions)
            )
        return wanted
    volumes = {uid: r for uid, r in by_series.items() if len(r) >= min_slices or uid in problems}
    for uid in set(by_series) - set(volumes):
        if len(by_series) > 1:
            logger.info(
                "ignoring series %s (%r): %d image(s), too few for a volume (a localizer?)",
                uid,
                descriptions.get(uid, ""),
                len(by_series[uid]),
            )
    if len(volumes) == 1:
        return next(iter(volumes))
    if not volumes:
        uid, records = max(by_series.items(), key=lambda item: len(item[1]))
        raise GeometryError(
            f"only {len(records)} slice(s); a volume needs at least {min_slices}", uid
        )
    raise MixedSeriesError(
        f"{len(volumes)} CT series found and none chosen: "
        + _list_series(volumes, descriptions)
        + "; pass series_instance_uid to choose one"
    )


def _list_series(by_series: dict[str, list[SliceRecord]], descriptions: dict[str, str]) -> str:
    return "; ".join(
        f"{uid} {descriptions.get(uid, '')!r} ({len({r.sop_instance_uid for r in records})} "
        f"images, {len(records)} slices)"
        for uid, records in sorted(by_series.items())
    )


def _drop_stray_orientations(
    records: list[SliceRecord], series_uid: str, min_slices: int
) -> list[SliceRecord]:
    """Drop single images whose orientation differs from all the others (a scout
    stored in the series without the LOCALIZER flag); leave real mixes to the stack
    checks."""
    groups: list[list[SliceRecord]] = []
    for record in records:
        for group in groups:
            if abs(group[0].orientation - record.orientation).max() <= ORIENTATION_TOLERANCE:
                group.append(record)
                break
        else:
            groups.append([record])
    if len(groups) == 1:
        return records
    groups.sort(key=len, reverse=True)
    main, strays = groups[0], groups[1:]
    if len(main) < min_slices or any(len(group) > 1 for group in strays):
        return records
    for group in strays:
        logger.info(
            "series %s: dropping %s, a single image of another orientation (a localizer?)",
            series_uid,
            group[0].source,
        )
    return main


def benchmark_loader(path: Path | str, *, repeats: int = 1) -> dict[str, float | int | str]:
    """Load the series under ``path`` ``repeats`` times; report the best speed.

    Returns ``slices``, ``seconds`` (best), ``slices_per_s``, ``shape`` and the
    transfer syntax of the first file.
    """
    best_s = float("inf")
    volume = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        volume = load_series([path])
        best_s = min(best_s, time.perf_counter() - start)
    assert volume is not None
    root = Path(path)
    first = root if root.is_file() else next(p for p in sorted(root.rglob("*")) if p.is_file())
    syntax = pydicom.dcmread(first, stop_before_pixels=True).file_meta.TransferSyntaxUID
    return {
        "slices": volume.shape[0],
        "seconds": round(best_s, 3),
        "slices_per_s": round(volume.shape[0] / best_s, 1),
        "shape": "x".join(str(s) for s in volume.shape),
        "transfer_syntax": f"{syntax} ({syntax.name})",
    }
