"""Slice records of one series → an ordered, checked stack on an orthogonal grid.

Rules (each breach is a :class:`~ccta_ai.errors.GeometryError` naming the series and
the offending value):

* every slice has the same Rows/Columns, Image Orientation (cosines within
  :data:`ORIENTATION_TOLERANCE`) and Pixel Spacing (within :data:`SPACING_TOLERANCE`
  relative);
* exact duplicates (same SOP Instance UID and frame) are kept once; two different
  instances closer than :data:`COINCIDENT_MM` along the normal are an error;
* at least ``min_slices`` slices;
* the steps between neighbouring slices along the normal (row cosine x column cosine)
  may differ from their median by at most ``max_gap_fraction`` of it. With the default
  0.5, a step over 1.5x the median (one missing slice makes 2x) is a gap, and one
  under 0.5x an overlap. Within that tolerance the slices are used as they are when
  each lies within :data:`INTERPOLATE_FRACTION` of a spacing of the regular grid
  from the first to the last slice, and are interpolated linearly onto that grid
  otherwise;
* positions that drift in-plane from slice to slice (gantry/detector tilt) are
  resampled onto the orthogonal grid of the first slice.

Axis 0 follows acquisition order: increasing Instance Number (frame number for
multi-frame instances) along the normal, so the affine's slice step points either way.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ccta_ai.errors import GeometryError
from ccta_ai.imaging.geometry import PlaneGeometry, affine_from_plane
from ccta_ai.imaging.read import SliceRecord

logger = logging.getLogger(__name__)

DEFAULT_MAX_GAP_FRACTION = 0.5
MIN_SLICES = 3
ORIENTATION_TOLERANCE = 1e-3  # absolute, on direction cosines (about 0.06 degrees)
SPACING_TOLERANCE = 1e-3  # relative, on Pixel Spacing
COINCIDENT_MM = 0.01
INTERPOLATE_FRACTION = 0.05  # of the slice spacing
TILT_NEGLIGIBLE_PX = 0.05  # total in-plane drift below this is not resampled


@dataclass(frozen=True, eq=False)
class StackPlan:
    """How to turn the decoded slices of ``records`` (in order) into the volume."""

    records: list[SliceRecord]  # axis-0 order, duplicates removed
    affine: np.ndarray  # orthogonal voxel → LPS of the output grid
    offsets_mm: np.ndarray  # each slice's position along axis 0 from the first slice
    shifts_px: np.ndarray | None  # (n, 2) in-plane (row, column) shift per slice; None: none
    interpolate: bool  # resample axis 0 onto the regular grid of ``affine``
    tilt_deg: float


def plan_stack(
    records: list[SliceRecord],
    series_uid: str,
    *,
    max_gap_fraction: float = DEFAULT_MAX_GAP_FRACTION,
    min_slices: int = MIN_SLICES,
) -> StackPlan:
    """Check ``records`` form one volume and say how to assemble it (see module doc)."""
    records = _without_duplicates(records)
    if len(records) < min_slices:
        raise GeometryError(
            f"only {len(records)} slice(s); a volume needs at least {min_slices}", series_uid
        )
    _check_uniform(records, series_uid)
    plane = _plane(records[0], series_uid)
    if len(records) == 1:  # only with min_slices=1: the slice's own thickness
        step_mm = _single_slice_thickness_mm(records[0])
        affine = affine_from_plane(plane, records[0].position_mm, step_mm * plane.normal)
        return StackPlan(records, affine, np.zeros(1), None, False, 0.0)
    normal = plane.normal
    distances = np.array([r.position_mm @ normal for r in records])
    order = np.argsort(distances, kind="stable")
    records = [records[i] for i in order]
    distances = distances[order]
    _check_coincident(records, distances, series_uid)
    if records[0].order_key > records[-1].order_key:
        records.reverse()
        distances = distances[::-1]
    offsets = distances - distances[0]  # signed, monotonic along axis 0
    steps = np.abs(np.diff(offsets))
    _check_gaps(records, distances, steps, series_uid, max_gap_fraction)

    n = len(records)
    step_mm = offsets[-1] / (n - 1)
    grid = np.arange(n) * step_mm
    worst_mm = float(np.max(np.abs(offsets - grid)))
    interpolate = worst_mm > INTERPOLATE_FRACTION * abs(step_mm)
    if interpolate:
        logger.warning(
            "series %s: uneven slice spacing (a slice lies %.3f mm off the regular "
            "%.4f mm grid); interpolating onto the grid",
            series_uid,
            worst_mm,
            abs(step_mm),
        )
    shifts, tilt_deg = _in_plane_shifts(records, plane, offsets, series_uid)
    affine = affine_from_plane(plane, records[0].position_mm, step_mm * normal)
    return StackPlan(records, affine, offsets, shifts, interpolate, tilt_deg)


def _single_slice_thickness_mm(record: SliceRecord) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = record.header.get(keyword)
        if value not in (None, "") and float(value) > 0:
            return float(value)
    return 1.0


def _without_duplicates(records: list[SliceRecord]) -> list[SliceRecord]:
    seen: dict[tuple[str, int], SliceRecord] = {}
    for record in records:
        if record.identity in seen:
            logger.info(
                "dropping %s: duplicate of %s (same SOP Instance UID %s)",
                record.source,
                seen[record.identity].source,
                record.sop_instance_uid,
            )
            continue
        seen[record.identity] = record
    return list(seen.values())


def _describe_counts(values: list[str]) -> str:
    return ", ".join(f"{value} ({count} slices)" for value, count in Counter(values).most_common())


def _check_uniform(records: list[SliceRecord], series_uid: str) -> None:
    sizes = [f"{r.rows}x{r.columns}" for r in records]
    if len(set(sizes)) > 1:
        raise GeometryError(
            f"slices differ in Rows x Columns: {_describe_counts(sizes)}", series_uid
        )
    first = records[0]
    for record in records[1:]:
        if np.max(np.abs(record.orientation - first.orientation)) > ORIENTATION_TOLERANCE:
            raise GeometryError(
                f"slices differ in Image Orientation (Patient): {record.source} has "
                f"{_fmt(record.orientation)}, {first.source} has {_fmt(first.orientation)}",
                series_uid,
            )
        relative = np.abs(record.pixel_spacing_mm / first.pixel_spacing_mm - 1.0)
        if np.max(relative) > SPACING_TOLERANCE:
            raise GeometryError(
                f"slices differ in Pixel Spacing: {record.source} has "
                f"{_fmt(record.pixel_spacing_mm)} mm, {first.source} has "
                f"{_fmt(first.pixel_spacing_mm)} mm",
                series_uid,
            )


def _plane(record: SliceRecord, series_uid: str) -> PlaneGeometry:
    row, column = record.orientation[:3], record.orientation[3:]
    row_norm, column_norm = np.linalg.norm(row), np.linalg.norm(column)
    if min(row_norm, column_norm) < 0.5:
        raise GeometryError(
            f"{record.source}: Image Orientation (Patient) {_fmt(record.orientation)} has a "
            "zero direction",
            series_uid,
        )
    row, column = row / row_norm, column / column_norm
    if abs(float(row @ column)) > ORIENTATION_TOLERANCE:
        raise GeometryError(
            f"{record.source}: Image Orientation (Patient) {_fmt(record.orientation)} is not "
            f"orthogonal (cosine {float(row @ column):.4f})",
            series_uid,
        )
    column = column - (row @ column) * row
    column /= np.linalg.norm(column)
    spacing = record.pixel_spacing_mm
    if np.any(spacing <= 0):
        raise GeometryError(f"{record.source}: Pixel Spacing {_fmt(spacing)} mm", series_uid)
    return PlaneGeometry(row, column, float(spacing[0]), float(spacing[1]))


def _check_coincident(records: list[SliceRecord], distances: np.ndarray, series_uid: str) -> None:
    for i in np.flatnonzero(np.diff(distances) < COINCIDENT_MM):
        a, b = records[i], records[i + 1]
        hint = _phase_hint(a, b)
        raise GeometryError(
            f"two different instances at the same position ({distances[i]:.3f} mm along the "
            f"slice normal, LPS {_fmt(a.position_mm)}): {a.source} (SOP {a.sop_instance_uid}) "
            f"and {b.source} (SOP {b.sop_instance_uid}){hint}",
            series_uid,
        )


def _phase_hint(a: SliceRecord, b: SliceRecord) -> str:
    """Why two slices may share a position: several phases or acquisitions."""
    for keyword in (
        "NominalPercentageOfCardiacPhase",
        "TemporalPositionIdentifier",
        "AcquisitionNumber",
    ):
        value_a, value_b = a.header.get(keyword), b.header.get(keyword)
        if value_a is not None and value_b is not None and value_a != value_b:
            return (
                f"; they differ in {keyword} ({value_a} vs {value_b}): the series holds "
                "several phases or acquisitions, load one of them"
            )
    return ""


def _check_gaps(
    records: list[SliceRecord],
    distances: np.ndarray,
    steps: np.ndarray,
    series_uid: str,
    max_gap_fraction: float,
) -> None:
    median = float(np.median(steps))
    deviation = steps / median - 1.0
    worst = int(np.argmax(np.abs(deviation)))
    if abs(deviation[worst]) <= max_gap_fraction:
        return
    a, b = records[worst], records[worst + 1]
    where = (
        f"between {a.source} at {distances[worst]:.3f} mm and {b.source} at "
        f"{distances[worst + 1]:.3f} mm along the slice normal (LPS {_fmt(a.position_mm)} → "
        f"{_fmt(b.position_mm)})"
    )
    if deviation[worst] > 0:
        missing = max(1, round(steps[worst] / median) - 1)
        raise GeometryError(
            f"gap of {steps[worst]:.3f} mm {where}; the median spacing is {median:.3f} mm, so "
            f"about {missing} slice(s) are missing (tolerance: steps up to "
            f"{1 + max_gap_fraction:.2f}x the median); send the complete series",
            series_uid,
        )
    raise GeometryError(
        f"uneven spacing: a step of {steps[worst]:.3f} mm {where} against a median of "
        f"{median:.3f} mm (tolerance: at least {1 - max_gap_fraction:.2f}x the median)",
        series_uid,
    )


def _in_plane_shifts(
    records: list[SliceRecord], plane: PlaneGeometry, offsets: np.ndarray, series_uid: str
) -> tuple[np.ndarray | None, float]:
    """Per-slice (row, column) pixel shifts that undo in-plane drift, and the tilt."""
    positions = np.array([r.position_mm for r in records])
    drift = positions - positions[0] - np.outer(offsets, plane.normal)
    along_rows_mm = drift @ plane.column_cosine  # moves the image down its rows
    along_columns_mm = drift @ plane.row_cosine
    shifts = np.column_stack(
        [along_rows_mm / plane.row_spacing_mm, along_columns_mm / plane.column_spacing_mm]
    )
    if np.max(np.abs(shifts)) < TILT_NEGLIGIBLE_PX:
        return None, 0.0
    span = offsets[-1] - offsets[0]
    tilt_deg = float(
        np.degrees(np.arctan(np.hypot(along_rows_mm[-1], along_columns_mm[-1]) / abs(span)))
    )
    declared = records[0].header.get("GantryDetectorTilt")
    logger.warning(
        "series %s: slice positions drift in-plane by up to %.2f mm (gantry/detector tilt "
        "%.2f degrees from positions, %s declared); resampling onto an orthogonal grid",
        series_uid,
        float(np.max(np.hypot(along_rows_mm, along_columns_mm))),
        tilt_deg,
        declared,
    )
    return shifts, tilt_deg


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in values) + "]"
