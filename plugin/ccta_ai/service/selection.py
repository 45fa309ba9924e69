"""Which series are coronary CT angiographies to analyse, and why (not).

The rules are data (:class:`~ccta_ai.service.settings.SelectionRules`, from the
``CctaAi.Selection`` configuration); each validator returns ``(ok, reason)`` and the
first one that fails decides. Facts come from Orthanc's JSON (one series and the tags
of one of its instances) and are gathered without reading pixel data.

Standard library only: this runs inside Orthanc's embedded interpreter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ccta_ai.service.settings import OwnOutputs, SelectionRules


@dataclass(frozen=True)
class SeriesFacts:
    """What selection looks at, read from one series and one of its instances."""

    orthanc_series_id: str
    orthanc_study_id: str
    series_uid: str
    study_uid: str
    modality: str = ""
    sop_class_uid: str = ""
    manufacturer: str = ""
    series_description: str = ""
    protocol_name: str = ""
    study_description: str = ""
    image_type: tuple[str, ...] = ()
    slice_thickness_mm: float | None = None
    n_instances: int = 0
    n_slices: int = 0
    contrast_agent: str = ""
    private_creators: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """Accept (analyse) or skip, with the reason recorded in the job."""

    accept: bool
    reason: str


_BACKSLASH = "\\"

Validator = Callable[[SeriesFacts, SelectionRules, OwnOutputs, int], tuple[bool, str]]


def _search(patterns: Sequence[str], *texts: str) -> str | None:
    """The first pattern found in any of ``texts`` (case-insensitive), or None."""
    for pattern in patterns:
        for text in texts:
            if text and re.search(pattern, text, re.IGNORECASE):
                return pattern
    return None


def not_own_output(
    facts: SeriesFacts, _rules: SelectionRules, own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    """Never analyse what we wrote ourselves (Manufacturer, description or private
    creator)."""
    if facts.manufacturer.strip() == own.manufacturer:
        return False, f"our own output (Manufacturer {facts.manufacturer!r})"
    prefix = own.series_description_prefix
    if prefix and facts.series_description.startswith(prefix):
        return False, f"our own output (SeriesDescription {facts.series_description!r})"
    if own.private_creator and own.private_creator in facts.private_creators:
        return False, f"our own output (private creator {own.private_creator!r})"
    return True, ""


def is_modality(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    if facts.modality not in rules.modalities:
        return False, f"modality {facts.modality!r} is not one of {list(rules.modalities)}"
    return True, ""


def is_image_storage(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    if rules.sop_class_uids and facts.sop_class_uid not in rules.sop_class_uids:
        return False, f"SOP class {facts.sop_class_uid!r} is not a CT image storage class"
    return True, ""


def not_rejected_image_type(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    values = {value.strip().upper() for value in facts.image_type}
    for rejected in rules.reject_image_type_values:
        if rejected.upper() in values:
            kind = "a localizer" if rejected.upper() == "LOCALIZER" else rejected.lower()
            return False, f"{kind} (ImageType {_BACKSLASH.join(facts.image_type)})"
    return True, ""


def not_rejected_description(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    hit = _search(rules.reject_description_patterns, facts.series_description,
                  facts.protocol_name)
    if hit is not None:
        return False, (f"description {facts.series_description or facts.protocol_name!r} "
                       f"matches rejected pattern '{hit}'")
    return True, ""


def thin_slices(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    if facts.slice_thickness_mm is None:
        return False, "slice thickness not recorded (SliceThickness missing)"
    # A hair of tolerance: scanners write 1.0 as 1.00000001 or 0.99999.
    if facts.slice_thickness_mm > rules.max_slice_thickness_mm + 1e-3:
        return False, (f"slices too thick ({facts.slice_thickness_mm:g} mm > "
                       f"{rules.max_slice_thickness_mm:g} mm)")
    return True, ""


def enough_slices(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    if facts.n_slices < rules.min_slices:
        return False, f"too few slices ({facts.n_slices} < {rules.min_slices})"
    return True, ""


def within_limits(
    facts: SeriesFacts, _rules: SelectionRules, _own: OwnOutputs, limit: int
) -> tuple[bool, str]:
    if facts.n_instances > limit:
        return False, (f"too many instances ({facts.n_instances} > "
                       f"Limits.MaxInstancesPerSeries {limit})")
    return True, ""


def has_contrast(
    facts: SeriesFacts, rules: SelectionRules, _own: OwnOutputs, _limit: int
) -> tuple[bool, str]:
    if not rules.require_contrast or facts.contrast_agent.strip():
        return True, ""
    hit = _search(rules.contrast_description_patterns, facts.series_description,
                  facts.protocol_name, facts.study_description)
    if hit is None:
        return False, ("no contrast: ContrastBolusAgent is empty and no description "
                       "names an angiography")
    return True, ""


#: The rules in the order they are applied; the first failure is the reason.
VALIDATORS: tuple[Validator, ...] = (
    not_own_output,
    is_modality,
    is_image_storage,
    not_rejected_image_type,
    not_rejected_description,
    thin_slices,
    enough_slices,
    has_contrast,
    within_limits,
)


def decide(
    facts: SeriesFacts,
    rules: SelectionRules,
    own: OwnOutputs,
    max_instances: int,
    *,
    force: bool = False,
) -> Decision:
    """Apply :data:`VALIDATORS` in order. ``force`` (a re-run asked for by a person)
    keeps only the rule that never lets us analyse our own outputs."""
    validators = VALIDATORS[:1] if force else VALIDATORS
    for validator in validators:
        ok, reason = validator(facts, rules, own, max_instances)
        if not ok:
            return Decision(False, reason)
    if force:
        return Decision(True, "forced re-run (selection rules bypassed)")
    contrast = (f"ContrastBolusAgent {facts.contrast_agent!r}" if facts.contrast_agent.strip()
                else "contrast named in the description")
    return Decision(True, (f"CCTA: {facts.modality}, {facts.n_slices} slices of "
                           f"{facts.slice_thickness_mm:g} mm, {contrast}"))


# --- facts from Orthanc's JSON ---------------------------------------------------------

_SOP_CLASS = "0008,0016"
_IMAGE_TYPE = "0008,0008"
_MODALITY = "0008,0060"
_MANUFACTURER = "0008,0070"
_STUDY_DESCRIPTION = "0008,1030"
_SERIES_DESCRIPTION = "0008,103e"
_CONTRAST_AGENT = "0018,0010"
_CONTRAST_AGENT_SEQUENCE = "0018,0012"
_SLICE_THICKNESS = "0018,0050"
_PROTOCOL_NAME = "0018,1030"
_NUMBER_OF_FRAMES = "0028,0008"
_PIXEL_MEASURES = "0028,9110"
_SHARED_GROUPS = "5200,9229"


def _tag(tags: dict[str, Any], key: str) -> Any:
    """A value from ``/instances/{id}/tags?short`` (keys are lower-case hex), or from
    the long form ``/instances/{id}/tags`` (``{"Name", "Type", "Value"}`` per tag)."""
    value = tags.get(key, tags.get(key.upper()))
    if isinstance(value, dict) and "Value" in value:
        return value["Value"]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.split("\\")[0])
        except ValueError:
            return None
    return None


def _first_item(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return {}


def _private_creators(tags: dict[str, Any]) -> tuple[str, ...]:
    """Values of private creator elements (odd group, element 0x0010-0x00FF)."""
    creators = []
    for key in tags:
        value = _tag(tags, key)
        try:
            group, element = (int(part, 16) for part in key.split(","))
        except ValueError:
            continue
        if group % 2 == 1 and 0x10 <= element <= 0xFF and isinstance(value, str):
            creators.append(value.strip())
    return tuple(creators)


def facts_from_orthanc(series: dict[str, Any], instance_tags: dict[str, Any]) -> SeriesFacts:
    """Facts from ``GET /series/{id}`` and ``GET /instances/{one of them}/tags?short``."""
    main = series.get("MainDicomTags", {})
    n_instances = len(series.get("Instances", []))
    frames = _number(_tag(instance_tags, _NUMBER_OF_FRAMES)) or 1.0
    thickness = _number(_tag(instance_tags, _SLICE_THICKNESS))
    if thickness is None:  # Enhanced CT: in the shared functional groups
        shared = _first_item(_tag(instance_tags, _SHARED_GROUPS))
        thickness = _number(_tag(_first_item(_tag(shared, _PIXEL_MEASURES)), _SLICE_THICKNESS))
    agent = _text(_tag(instance_tags, _CONTRAST_AGENT))
    if not agent.strip() and _first_item(_tag(instance_tags, _CONTRAST_AGENT_SEQUENCE)):
        agent = "(ContrastBolusAgentSequence)"
    image_type = _text(_tag(instance_tags, _IMAGE_TYPE)) or _text(main.get("ImageType"))
    return SeriesFacts(
        orthanc_series_id=str(series.get("ID", "")),
        orthanc_study_id=str(series.get("ParentStudy", "")),
        series_uid=_text(main.get("SeriesInstanceUID")),
        study_uid=_text(_tag(instance_tags, "0020,000d")),
        modality=_text(main.get("Modality")) or _text(_tag(instance_tags, _MODALITY)),
        sop_class_uid=_text(_tag(instance_tags, _SOP_CLASS)),
        manufacturer=_text(_tag(instance_tags, _MANUFACTURER)) or _text(main.get("Manufacturer")),
        series_description=(_text(main.get("SeriesDescription"))
                            or _text(_tag(instance_tags, _SERIES_DESCRIPTION))),
        protocol_name=_text(_tag(instance_tags, _PROTOCOL_NAME)),
        study_description=_text(_tag(instance_tags, _STUDY_DESCRIPTION)),
        image_type=tuple(part for part in image_type.split("\\") if part),
        slice_thickness_mm=thickness,
        n_instances=n_instances,
        n_slices=int(n_instances * frames),
        contrast_agent=agent,
        private_creators=_private_creators(instance_tags),
    )
