"""A short text summary of a structured report, for the demo and the command line.

Reads any SR content tree generically (no knowledge of our template beyond standard
concept names): measurement groups with a finding site become one line each (finding,
site, numeric values with units, coded values), and every coded item whose concept name
mentions CAD-RADS (or is CID 3020's "Coronary Artery Disease Assessment") is the grade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

#: Concept names (or values) that make an item part of the grade: CID 3020-3022 use
#: "Coronary Artery Disease Assessment" and its modifiers; private ones say CAD-RADS.
_GRADE_WORDS = ("CAD-RADS", "CORONARY ARTERY DISEASE")
_SKIPPED_CONCEPTS = {"Finding", "Finding Site", "Tracking Identifier",
                     "Tracking Unique Identifier", "Algorithm Name", "Algorithm Version",
                     "Algorithm Parameters", "Measurement Method", "Derivation"}


@dataclass
class GroupSummary:
    """One measurement group: what and where, and its values."""

    finding: str = ""
    site: str = ""
    values: list[str] = field(default_factory=list)

    def line(self) -> str:
        head = " ".join(part for part in (self.site, f"({self.finding})" if self.finding
                                          else "") if part) or "group"
        return f"{head}: {', '.join(self.values)}" if self.values else head


@dataclass
class SrSummary:
    title: str = ""
    grade: list[str] = field(default_factory=list)
    groups: list[GroupSummary] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def _meaning(item: Dataset, attribute: str = "ConceptNameCodeSequence") -> str:
    sequence = item.get(attribute)
    return str(sequence[0].CodeMeaning) if sequence else ""


def _value(item: Dataset) -> str | None:
    """The value of a content item as text, None for containers and references."""
    kind = str(item.get("ValueType", ""))
    if kind == "NUM":
        measured = item.get("MeasuredValueSequence")
        if not measured:
            return None
        value = measured[0]
        number = float(value.NumericValue)
        unit = _meaning(value, "MeasurementUnitsCodeSequence")
        unit_code = str(value.MeasurementUnitsCodeSequence[0].CodeValue) \
            if value.get("MeasurementUnitsCodeSequence") else ""
        shown = unit_code if unit_code in ("mm", "mm2", "mm3", "%") else unit
        return f"{number:g} {shown}".rstrip() if shown not in ("", "no units", "1") \
            else f"{number:g}"
    if kind == "CODE":
        return _meaning(item, "ConceptCodeSequence")
    if kind in ("TEXT", "UIDREF", "DATETIME", "DATE", "TIME", "PNAME"):
        for keyword in ("TextValue", "UID", "DateTime", "Date", "Time", "PersonName"):
            if keyword in item:
                return str(item.get(keyword))
    return None


def _walk(items: Any, summary: SrSummary, group: GroupSummary | None) -> None:
    for item in items or ():
        name = _meaning(item)
        kind = str(item.get("ValueType", ""))
        if kind == "CONTAINER":
            children = item.get("ContentSequence") or []
            sites = [c for c in children if _meaning(c) == "Finding Site"]
            if sites:
                inner = GroupSummary(
                    finding=next((_value(c) or "" for c in children
                                  if _meaning(c) == "Finding"), ""),
                    site=_value(sites[0]) or "")
                summary.groups.append(inner)
                _walk(children, summary, inner)
            else:
                _walk(children, summary, group)
            continue
        value = _value(item)
        if value is None or name in _SKIPPED_CONCEPTS:
            continue  # (algorithm parameters name the grading system: not a grade)
        if any(word in name.upper() or word in value.upper() for word in _GRADE_WORDS):
            if f"{name}: {value}" not in summary.grade:
                summary.grade.append(f"{name}: {value}")
        elif group is not None and name not in _SKIPPED_CONCEPTS and kind in ("NUM", "CODE"):
            group.values.append(f"{name} {value}")
        elif group is None and kind == "TEXT":
            summary.texts.append(f"{name}: {value}")
        if item.get("ContentSequence"):
            _walk(item.ContentSequence, summary, group)


def summarise_sr(dataset: Dataset) -> SrSummary:
    """The grade, one line per measurement group, and free texts of an SR."""
    summary = SrSummary(title=_meaning(dataset))
    _walk(dataset.get("ContentSequence"), summary, None)
    return summary


def format_summary(summary: SrSummary, indent: str = "  ") -> list[str]:
    lines = [f"{indent}{line}" for line in summary.grade]
    lines += [f"{indent}{group.line()}" for group in summary.groups]
    lines += [f"{indent}{text}" for text in summary.texts]
    return lines
