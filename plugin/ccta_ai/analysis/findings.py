"""``Findings``: the one hand-off between analysis and outputs (DESIGN.md §3).

A plain tree of dataclasses holding only JSON types (str, int, float, bool, None, lists
and str-keyed dicts of them), so that ``json.dumps(findings.to_dict())`` works and
:meth:`Findings.from_dict` rebuilds an equal object. Positions are patient LPS mm,
arc lengths are measured from a vessel's first point.

Per-point data are stored column-wise (one list per quantity, all the length of the
vessel's centreline) to keep the JSON compact.

Parts filled by later stages (plaque, grade, image quality, timings) have defaults, so
each stage adds its part without touching the others. Add fields with defaults; never
rename or repurpose one (bump ``SCHEMA_VERSION`` when a change cannot be read the old way).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ccta_ai.errors import InputError

SCHEMA_VERSION = "1"

T = TypeVar("T")


@dataclass
class AlgorithmIdentity:
    """Who made the results (audit trail; TID 4019 Algorithm Identification in the SR)."""

    name: str = "ccta-ai"
    version: str = ""
    model_name: str = ""
    model_sha256: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class Centerline:
    """Points along a vessel, ``step`` apart, ordered proximal → distal.

    Attributes:
        points_lps_mm: ``[x, y, z]`` per point.
        radius_mm: lumen radius per point from the segmentation (its distance to the
            mask's wall; beyond the segmentation, the half-maximum width of the
            image's section); the measured lumen is in :class:`LumenProfile`.
        segment: SCCT segment number (1–18, CID 3014 ordering) per point, ``None``
            where not labelled.
        bridged: True where the point lies on a gap of the segmentation that was
            bridged (vessel integrity repair): those parts were not segmented.
        beyond_segmentation: True where the vessel was followed past the distal end
            of its segmentation through the image (:mod:`.extend`): no stenosis is
            graded there. Empty in findings written before it existed.
    """

    points_lps_mm: list[list[float]] = field(default_factory=list)
    radius_mm: list[float] = field(default_factory=list)
    segment: list[int | None] = field(default_factory=list)
    bridged: list[bool] = field(default_factory=list)
    beyond_segmentation: list[bool] = field(default_factory=list)

    def segmented(self) -> list[bool]:
        """Per point, True where it lies on the segmentation, False where the vessel was
        followed beyond it (all True without ``beyond_segmentation``)."""
        beyond = self.beyond_segmentation
        return [not (i < len(beyond) and beyond[i]) for i in range(len(self.points_lps_mm))]


@dataclass
class LumenProfile:
    """Cross-section measurements per centreline point (``None`` where unmeasurable).

    ``equivalent_diameter_mm`` is ``2 sqrt(area / pi)``; ``reference_diameter_mm`` is
    the estimated disease-free diameter at that point.
    """

    s_mm: list[float] = field(default_factory=list)
    area_mm2: list[float | None] = field(default_factory=list)
    min_diameter_mm: list[float | None] = field(default_factory=list)
    max_diameter_mm: list[float | None] = field(default_factory=list)
    equivalent_diameter_mm: list[float | None] = field(default_factory=list)
    reference_diameter_mm: list[float | None] = field(default_factory=list)
    calcium_area_mm2: list[float | None] = field(default_factory=list)
    # True where the section holds calcium and its lumen is the calcium model's reading
    lumen_from_model: list[bool] = field(default_factory=list)


@dataclass
class Vessel:
    """One traced vessel.

    Attributes:
        vessel_id: index in :attr:`Findings.vessels`.
        name: anatomical name once labelled ("LAD", "D1", ...); empty before.
        parent_id: the vessel this one branches off, ``None`` at an ostium.
        parent_point: index of the parent's centreline point where it branches off.
        tree: which coronary tree (one per ostium, or per unattached piece).
        origin: how its tree's root was found: "ostium", "aorta", "thickest-end".
    """

    vessel_id: int
    centerline: Centerline
    profile: LumenProfile | None = None
    name: str = ""
    parent_id: int | None = None
    parent_point: int | None = None
    tree: int = 0
    origin: str = ""


@dataclass
class Plaque:
    """Plaque at a lesion (filled by the plaque stage)."""

    composition: str = ""  # "calcified", "non-calcified", "mixed"
    volume_mm3: float | None = None
    calcified_volume_mm3: float | None = None
    non_calcified_volume_mm3: float | None = None
    low_attenuation_volume_mm3: float | None = None
    high_risk_features: list[str] = field(default_factory=list)
    remodelling_index: float | None = None
    spotty_calcification: bool = False


@dataclass
class Lesion:
    """A stenosis (or total occlusion) on one vessel.

    Attributes:
        vessel_id: the vessel it lies on.
        start_s_mm / end_s_mm / mld_s_mm: its extent and its site (the point narrowest
            relative to the local reference diameter), as arc length along the vessel.
        mld_position_lps_mm: centreline point at the site.
        pct_diameter_stenosis: ``100 (1 - MLD / reference diameter)``, 100 when occluded.
        pct_area_stenosis: ``100 (1 - MLA / reference area)``, 100 when occluded.
        mld_mm / mla_mm2: lumen (area-equivalent) diameter and lumen area at the site.
        reference_diameter_mm: reference diameter at the site.
        occlusion: no lumen over at least a millimetre.
        bridged: the lesion contains a bridged gap of the segmentation.
        segment: SCCT segment at the site, once labelled.
        method: how the percentages were measured.
    """

    vessel_id: int
    start_s_mm: float
    end_s_mm: float
    mld_s_mm: float
    mld_position_lps_mm: list[float]
    pct_diameter_stenosis: float
    pct_area_stenosis: float
    mld_mm: float
    mla_mm2: float
    reference_diameter_mm: float
    length_mm: float
    occlusion: bool = False
    bridged: bool = False
    segment: int | None = None
    method: str = "area-equivalent diameter vs tapered reference (CT cross-sections)"
    plaque: Plaque | None = None
    grade: str = ""  # per-lesion stenosis grade (e.g. CAD-RADS 2.0 severity), once graded
    reader_grade: str = ""  # the grade a physician chose, when adjusted


@dataclass
class ImageQuality:
    """Image quality assessment (filled by the quality stage)."""

    score: str = ""  # "diagnostic", "limited", "non-diagnostic"
    notes: list[str] = field(default_factory=list)
    #: SCCT segment number (as a string, JSON keys) -> "diagnostic" / "non-diagnostic".
    per_segment: dict[str, str] = field(default_factory=dict)


@dataclass
class Grade:
    """Study-level grade (filled by the grading stage)."""

    cad_rads: str = ""
    modifiers: list[str] = field(default_factory=list)
    plaque_burden: str = ""
    reader_adjusted: bool = False
    segment_involvement_score: int | None = None
    #: Why this grade: one sentence per rule that decided it.
    reasons: list[str] = field(default_factory=list)
    #: The CAD-RADS 2.0 management suggestion of the category (English).
    management: str = ""


@dataclass
class Findings:
    """Everything the analysis found in one CCTA series."""

    series_instance_uid: str = ""
    frame_of_reference_uid: str = ""
    algorithm: AlgorithmIdentity = field(default_factory=AlgorithmIdentity)
    vessels: list[Vessel] = field(default_factory=list)
    lesions: list[Lesion] = field(default_factory=list)
    grade: Grade | None = None
    dominance: str = ""  # "right", "left", "co", "" when undecided
    image_quality: ImageQuality | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready ``dict`` (nested dataclasses become dicts)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Findings:
        """Rebuild from :meth:`to_dict`'s output (e.g. after a JSON round trip).

        Raises:
            InputError: a missing field, an unknown field or a wrong type,
                with its path in the document.
        """
        version = data.get("schema_version", SCHEMA_VERSION) if isinstance(data, dict) else None
        if version != SCHEMA_VERSION:
            raise InputError(f"findings schema_version {version!r} is not {SCHEMA_VERSION!r}")
        return _build(cls, data, "findings")


def _build(hint: Any, value: Any, path: str) -> Any:
    """Convert a JSON value to the type ``hint`` (dataclass, list, dict, optional, scalar)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        others = [o for o in options if o is not type(None)]
        if len(others) == 1:
            return _build(others[0], value, path)
        raise InputError(f"{path}: unsupported union {hint}")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected an object, got {value!r:.80}")
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = set(value) - names
        if unknown:
            raise InputError(f"{path}: unknown fields {sorted(unknown)}")
        kwargs = {k: _build(hints[k], v, f"{path}.{k}") for k, v in value.items()}
        try:
            return hint(**kwargs)
        except TypeError as error:
            raise InputError(f"{path}: {error}") from error
    if origin is list:
        if not isinstance(value, list):
            raise InputError(f"{path}: expected a list, got {value!r:.80}")
        (item,) = typing.get_args(hint)
        return [_build(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise InputError(f"{path}: expected an object, got {value!r:.80}")
        _, item = typing.get_args(hint)
        return {str(k): _build(item, v, f"{path}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{path}: expected a number, got {value!r:.80}")
        return float(value)
    if hint in (int, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise InputError(f"{path}: expected {hint.__name__}, got {value!r:.80}")
        return value
    raise InputError(f"{path}: unsupported type {hint}")
