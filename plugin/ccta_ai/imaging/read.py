"""Reading DICOM sources into per-slice records, and decoding their pixels to HU.

Headers are read first (without pixel data) so that other series, localizers and
non-image objects cost almost nothing; the pixels of the chosen slices are decoded
afterwards by :func:`decode_hu`. A multi-frame (Enhanced or Legacy Converted Enhanced
CT) instance becomes one record per frame, its geometry and rescale taken from the
per-frame functional groups, else the shared ones.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder, pixel_array
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian

from ccta_ai.errors import GeometryError, UnreadableFileError

logger = logging.getLogger(__name__)

#: SOP classes whose pixels are CT slices with patient geometry (PS3.4 B.5).
CT_IMAGE_SOP_CLASSES = {
    UID("1.2.840.10008.5.1.4.1.1.2"): False,  # CT Image Storage: single frame
    UID("1.2.840.10008.5.1.4.1.1.2.1"): True,  # Enhanced CT Image Storage
    UID("1.2.840.10008.5.1.4.1.1.2.2"): True,  # Legacy Converted Enhanced CT Image Storage
}
#: The functional groups whose content becomes a record (PS3.3 C.7.6.16.2).
_FRAME_GROUPS = (
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "PixelValueTransformationSequence",
)
_DICM_OFFSET = 128
_PLUGIN_PREFERENCE = ("pyjpegls", "pylibjpeg")  # where installed, else pydicom's choice
_THREADS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True, eq=False)
class SliceRecord:
    """One CT slice (a single-frame instance, or one frame of a multi-frame one).

    ``orientation`` is Image Orientation (Patient) (row cosine, then column cosine);
    ``pixel_spacing_mm`` is Pixel Spacing (between rows, between columns).
    """

    source: str  # file path, or "dataset #<i>" for in-memory datasets
    header: Dataset  # without pixel data when read from a file
    path: Path | None
    frame_index: int | None  # 0-based frame of a multi-frame instance; None: single
    series_instance_uid: str
    sop_instance_uid: str
    order_key: int  # Instance Number (single frame) or frame number: acquisition order
    position_mm: np.ndarray
    orientation: np.ndarray
    pixel_spacing_mm: np.ndarray
    rows: int
    columns: int
    rescale_slope: float
    rescale_intercept: float
    is_localizer: bool

    @property
    def frame_number(self) -> int:
        return 1 if self.frame_index is None else self.frame_index + 1

    @property
    def identity(self) -> tuple[str, int]:
        """(SOP Instance UID, frame number): equal for exact duplicate copies."""
        return (self.sop_instance_uid, self.frame_number)


def iter_sources(sources: Iterable[Path | str | Dataset]) -> Iterator[tuple[str, Path | Dataset]]:
    """Yield ``(name, path or dataset)``; directories are walked recursively (sorted).

    Files found inside a directory that lack the ``DICM`` marker (README, thumbnails,
    hidden files) are skipped with a note; files given by name are always read.
    """
    for index, source in enumerate(sources):
        if isinstance(source, Dataset):
            yield f"dataset #{index}", source
            continue
        path = Path(source)
        if not path.is_dir():
            yield str(path), path
            continue
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            if _has_dicm_marker(child):
                yield str(child), child
            else:
                logger.info("skipping %s: not a DICOM file (no DICM marker)", child)


def _has_dicm_marker(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(_DICM_OFFSET)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_header(name: str, source: Path | Dataset) -> Dataset:
    """The dataset of a source, without pixel data when it is a file.

    Raises:
        UnreadableFileError: the file cannot be opened or parsed (not DICOM, truncated).
    """
    if isinstance(source, Dataset):
        return source
    try:
        return pydicom.dcmread(source, stop_before_pixels=True)
    except Exception as error:  # pydicom raises many types for broken files
        raise UnreadableFileError(f"{name}: cannot be read as DICOM ({error})") from error


def read_headers(sources: Iterable[Path | str | Dataset]) -> list[tuple[str, Path | None, Dataset]]:
    """``(name, path, header)`` of every source, read in parallel where that helps."""
    items = list(iter_sources(sources))
    with ThreadPoolExecutor(_THREADS) as pool:
        headers = list(pool.map(lambda item: read_header(*item), items))
    return [
        (name, source if isinstance(source, Path) else None, header)
        for (name, source), header in zip(items, headers, strict=True)
    ]


def sop_class_of(name: str, header: Dataset) -> UID:
    """The SOP Class of a header, from the dataset or else its File Meta Information.

    Raises:
        UnreadableFileError: neither says (an empty or truncated file).
    """
    uid = header.get("SOPClassUID") or getattr(header, "file_meta", Dataset()).get(
        "MediaStorageSOPClassUID", ""
    )
    if not uid:
        raise UnreadableFileError(
            f"{name}: no SOP Class UID (an empty or truncated DICOM file, "
            f"{len(header)} attributes read)"
        )
    return UID(str(uid))


def records_from_header(name: str, path: Path | None, header: Dataset) -> list[SliceRecord]:
    """The slice records of one CT image instance (one per frame).

    Raises:
        UnreadableFileError: a Type 1 attribute is missing (a truncated file).
        GeometryError: a geometry attribute is malformed.
    """
    series_uid = str(_required(header, "SeriesInstanceUID", name, ""))
    image_type = [str(v).upper() for v in header.get("ImageType", [])]
    rows = int(str(_required(header, "Rows", name, series_uid)))
    columns = int(str(_required(header, "Columns", name, series_uid)))

    def record(
        frame_index: int | None, order_key: int, where: str, groups: dict[str, Dataset]
    ) -> SliceRecord:
        slope, intercept = _rescale(groups["PixelValueTransformationSequence"], header)
        return SliceRecord(
            source=name,
            header=header,
            path=path,
            frame_index=frame_index,
            series_instance_uid=series_uid,
            sop_instance_uid=str(header.get("SOPInstanceUID", name)),
            order_key=order_key,
            position_mm=_vector(
                groups["PlanePositionSequence"], "ImagePositionPatient", 3, where, series_uid
            ),
            orientation=_vector(
                groups["PlaneOrientationSequence"], "ImageOrientationPatient", 6, where, series_uid
            ),
            pixel_spacing_mm=_vector(
                groups["PixelMeasuresSequence"], "PixelSpacing", 2, where, series_uid
            ),
            rows=rows,
            columns=columns,
            rescale_slope=slope,
            rescale_intercept=intercept,
            is_localizer="LOCALIZER" in image_type[2:],
        )

    if not CT_IMAGE_SOP_CLASSES[sop_class_of(name, header)]:
        instance_number = int(str(header.get("InstanceNumber") or 0))
        return [record(None, instance_number, name, dict.fromkeys(_FRAME_GROUPS, header))]
    shared = _first_item(header, "SharedFunctionalGroupsSequence") or Dataset()
    per_frame = header.get("PerFrameFunctionalGroupsSequence", [])
    n_frames = int(header.get("NumberOfFrames", 1))
    if len(per_frame) != n_frames:
        raise GeometryError(
            f"{name}: {len(per_frame)} per-frame functional group items for {n_frames} frames",
            series_uid,
        )
    return [
        record(
            index,
            index + 1,
            f"{name} frame {index + 1}",
            {
                keyword: _first_item(frame, keyword) or _first_item(shared, keyword) or Dataset()
                for keyword in _FRAME_GROUPS
            },
        )
        for index, frame in enumerate(per_frame)
    ]


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    sequence = ds.get(keyword)
    return sequence[0] if sequence else None


def _required(ds: Dataset, keyword: str, name: str, series_uid: str) -> object:
    """A Type 1 attribute of a CT image; its absence means the object is incomplete
    (pydicom stops silently at the end of a truncated file)."""
    value = ds.get(keyword)
    if value is None or value == "":
        raise UnreadableFileError(
            f"{name}: {keyword} is missing: the file is truncated or not a complete CT image",
            series_uid,
        )
    return value


def _vector(ds: Dataset, keyword: str, length: int, name: str, series_uid: str) -> np.ndarray:
    raw = _required(ds, keyword, name, series_uid)
    try:
        values = np.array([float(v) for v in raw], dtype=np.float64)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as error:
        raise GeometryError(f"{name}: {keyword} {raw!r} is not numeric", series_uid) from error
    if values.shape != (length,) or not np.all(np.isfinite(values)):
        raise GeometryError(
            f"{name}: {keyword} must be {length} finite numbers, got {raw!r}", series_uid
        )
    return values


def _rescale(ds: Dataset, fallback: Dataset) -> tuple[float, float]:
    """(Rescale Slope, Rescale Intercept) from ``ds``, else ``fallback``; absent: 1 and
    0 (PS3.3 C.11.1.1.2)."""
    source = ds if "RescaleSlope" in ds else fallback
    slope = source.get("RescaleSlope")
    intercept = source.get("RescaleIntercept")
    return (1.0 if slope in (None, "") else float(slope)), (
        0.0 if intercept in (None, "") else float(intercept)
    )


def decode_hu(records: list[SliceRecord], series_uid: str) -> np.ndarray:
    """``(n, rows, columns)`` float32 Hounsfield units of ``records``, in their order.

    Raises:
        UnreadableFileError: pixel data missing, truncated or not decodable (names the
            file and the installed decoders' complaint).
    """
    rows, columns = records[0].rows, records[0].columns
    out = np.empty((len(records), rows, columns), dtype=np.float32)
    frames_of: dict[str, np.ndarray] = {}

    def stored(record: SliceRecord) -> np.ndarray:
        if record.frame_index is None:
            return _decode(record, None, series_uid)
        if record.source not in frames_of:  # decode a multi-frame instance once
            frames_of[record.source] = _decode(record, None, series_uid).reshape(-1, rows, columns)
        return frames_of[record.source][record.frame_index]

    def fill(index: int) -> None:
        record = records[index]
        pixels = stored(record)
        if pixels.shape != (rows, columns):
            raise UnreadableFileError(
                f"{record.source}: pixel data has shape {pixels.shape}, the header says "
                f"{rows}x{columns}",
                series_uid,
            )
        np.multiply(pixels, record.rescale_slope, out=out[index], casting="unsafe")
        out[index] += np.float32(record.rescale_intercept)

    single_frame = all(r.frame_index is None for r in records)
    if single_frame and len(records) > 1:
        with ThreadPoolExecutor(_THREADS) as pool:
            list(pool.map(fill, range(len(records))))
    else:
        for index in range(len(records)):
            fill(index)
    return out


def _decode(record: SliceRecord, index: int | None, series_uid: str) -> np.ndarray:
    try:
        if record.path is None:
            source: Path | Dataset = record.header
            syntax = getattr(record.header, "file_meta", Dataset()).get("TransferSyntaxUID")
        else:
            source = record.path
            syntax = record.header.file_meta.get("TransferSyntaxUID")
            if syntax == DeflatedExplicitVRLittleEndian:  # pixel_array(path) cannot inflate
                source = pydicom.dcmread(record.path)
        plugin = _preferred_plugin(UID(str(syntax))) if syntax else ""
        return np.asarray(pixel_array(source, index=index, decoding_plugin=plugin))
    except Exception as error:  # decoders raise many types for corrupt data
        raise UnreadableFileError(
            f"{record.source}: pixel data cannot be decoded ({type(error).__name__}: {error})",
            series_uid,
        ) from error


@functools.cache
def _preferred_plugin(syntax: UID) -> str:
    """The fastest installed decoder for ``syntax`` (measured on 512x512 CT slices:
    CharLS 9 ms vs libjpeg 29 ms for JPEG-LS; pylibjpeg-rle 2 ms vs pydicom 10 ms for
    RLE); "" lets pydicom choose."""
    if not syntax.is_compressed:
        return ""
    try:
        available = get_decoder(syntax).available_plugins
    except (NotImplementedError, ValueError):
        return ""
    for plugin in _PLUGIN_PREFERENCE:
        if plugin in available:
            return plugin
    return ""
