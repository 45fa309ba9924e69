"""Coronary lesions: where they are, how severe, what the plaque is made of.

A lesion narrows the lumen of one vessel over its length with a smooth profile (a
flat core of half the length, cosine shoulders). Its stated % diameter stenosis is
measured against the tapering reference lumen at the same place, so
``1 - mld / reference`` equals the stated fraction exactly. The plaque fills the space
between the lumen and the outer vessel boundary, which may be remodelled outwards
(remodelling index = outer vessel diameter at the lesion / at the reference) and may sit
off-centre (eccentric plaque: the lumen hugs one side of the vessel).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccta_ai.phantom.coronary import STEP_MM, Vessel
from ccta_ai.phantom.geometry import cumulative_length, tangents, transport_normals, unit

WALL_MM = 0.3  # normal vessel wall thickness
_VESSEL_WEIGHTS = {
    "LAD": 0.28,
    "RCA": 0.2,
    "LCx": 0.14,
    "LM": 0.07,
    "D1": 0.08,
    "OM1": 0.07,
    "R-PDA": 0.04,
    "L-PDA": 0.04,
    "D2": 0.03,
    "OM2": 0.03,
    "RI": 0.03,
    "R-PLB": 0.02,
    "L-PLB": 0.02,
}
_SEVERITY = [
    ((5.0, 24.0), 0.24),
    ((25.0, 49.0), 0.3),
    ((50.0, 69.0), 0.2),
    ((70.0, 95.0), 0.18),
    ((100.0, 100.0), 0.08),
]


@dataclass
class Lesion:
    id: str
    vessel: str
    segment: int
    center_index: int  # centreline point of the vessel at the lesion centre
    length_mm: float
    stenosis: float  # fraction of the reference diameter lost (1.0: occlusion)
    plaque_type: str  # "calcified", "non-calcified", "mixed"
    eccentric: bool
    remodelling_index: float
    low_attenuation: bool
    napkin_ring: bool
    spotty_calcification: bool
    hu_noncalcified: float
    hu_low_attenuation: float
    hu_calcium: float
    direction: np.ndarray = field(default_factory=lambda: np.zeros(3))  # plaque side
    reference_radius: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window: np.ndarray = field(default_factory=lambda: np.zeros(0))  # 0..1 per point
    spots: list[tuple[int, float]] = field(default_factory=list)  # point, size factor

    @property
    def occlusion(self) -> bool:
        return self.stenosis >= 1.0


def draw_lesions(vessels: list[Vessel], rng: np.random.Generator) -> list[Lesion]:
    """Draw 0 to 4 lesions and narrow the lumen of their vessels in place."""
    count = int(rng.choice([0, 1, 2, 3, 4], p=[0.2, 0.3, 0.26, 0.14, 0.1]))
    by_name = {v.name: v for v in vessels}
    names = [n for n in _VESSEL_WEIGHTS if n in by_name]
    weights = np.array([_VESSEL_WEIGHTS[n] for n in names])
    lesions: list[Lesion] = []
    taken: dict[str, list[tuple[float, float]]] = {}
    for branch in vessels:  # keep lesions clear of branch origins
        if branch.parent in by_name:
            parent = by_name[branch.parent]
            j = int(np.argmin(np.linalg.norm(parent.points - branch.points[0], axis=1)))
            s_b = float(cumulative_length(parent.points)[j])
            taken.setdefault(parent.name, []).append((s_b - 3.0, s_b + 3.0))
    for _ in range(count * 4):
        if len(lesions) == count:
            break
        name = str(rng.choice(names, p=weights / weights.sum()))
        lesion = _draw_one(by_name[name], rng, f"L{len(lesions) + 1}", taken.get(name, []))
        if lesion is not None:
            lesions.append(lesion)
            s = cumulative_length(by_name[name].points)[lesion.center_index]
            taken.setdefault(name, []).append(
                (s - 0.6 * lesion.length_mm, s + 0.6 * lesion.length_mm)
            )
    for lesion in lesions:
        _narrow(by_name[lesion.vessel], lesion)
    return lesions


def _draw_one(
    vessel: Vessel, rng: np.random.Generator, lesion_id: str, taken: list[tuple[float, float]]
) -> Lesion | None:
    s = cumulative_length(vessel.points)
    (lo, hi), _ = _SEVERITY[int(rng.choice(len(_SEVERITY), p=[w for _, w in _SEVERITY]))]
    pct = float(rng.uniform(lo, hi)) if hi > lo else 100.0
    if vessel.name == "LM":
        pct = min(pct, 75.0)
        length = float(rng.uniform(3.0, max(s[-1] - 3.0, 3.5)))
    else:
        length = float(rng.uniform(6.0, 22.0) if pct < 100 else rng.uniform(8.0, 18.0))
    usable = np.flatnonzero(
        (s > 0.5 * length + (0.5 if vessel.name == "LM" else 4.0))
        & (s < s[-1] - 0.5 * length - 3.0)
        & (vessel.radius_mm >= 0.7)
    )
    half = 0.5 * length
    usable = np.array(
        [i for i in usable if all(s[i] + half < a or s[i] - half > b for a, b in taken)], int
    )
    if len(usable) == 0:
        return None
    prefer = np.exp(-s[usable] / 50.0)  # lesions are commoner proximally
    center = int(rng.choice(usable, p=prefer / prefer.sum()))
    kind = str(rng.choice(["calcified", "non-calcified", "mixed"], p=[0.35, 0.3, 0.35]))
    positive = kind != "calcified" and rng.random() < 0.4
    low = kind != "calcified" and rng.random() < 0.35
    napkin = low and rng.random() < 0.4
    spotty = kind == "mixed" and rng.random() < 0.5
    tan = tangents(vessel.points)[center]
    direction = unit(np.cross(tan, rng.normal(size=3)))
    return Lesion(
        id=lesion_id,
        vessel=vessel.name,
        segment=int(vessel.segment[center]),
        center_index=center,
        length_mm=round(length, 1),
        stenosis=pct / 100.0,
        plaque_type=kind,
        eccentric=bool(rng.random() < 0.6),
        remodelling_index=float(rng.uniform(1.12, 1.4) if positive else rng.uniform(0.95, 1.07)),
        low_attenuation=low,
        napkin_ring=napkin,
        spotty_calcification=spotty,
        hu_noncalcified=float(rng.uniform(75.0, 105.0) if napkin else rng.uniform(40.0, 90.0)),
        hu_low_attenuation=float(rng.uniform(-20.0, 25.0)),
        hu_calcium=float(rng.uniform(650.0, 1300.0)),
        direction=direction,
    )


def _narrow(vessel: Vessel, lesion: Lesion) -> None:
    s = cumulative_length(vessel.points)
    sc = s[lesion.center_index]
    half = 0.5 * lesion.length_mm
    d = np.abs(s - sc)
    core = 0.5 * half
    window = np.where(d <= core, 1.0, 0.5 * (1.0 + np.cos(np.pi * (d - core) / (half - core))))
    window[d >= half] = 0.0
    lesion.window = window
    lesion.reference_radius = vessel.radius_mm.copy()
    narrowed = vessel.radius_mm * (1.0 - lesion.stenosis * window)
    vessel.radius_mm = np.minimum(vessel.radius_mm, narrowed)
    if lesion.plaque_type == "mixed":
        step = 0.4 * half / STEP_MM
        offsets = [-step, step] if lesion.spotty_calcification else [0.0]
        for k, off in enumerate(offsets):
            j = int(np.clip(round(lesion.center_index + off), 0, len(s) - 1))
            fraction = 0.55 + 0.1 * k if lesion.spotty_calcification else 0.75
            lesion.spots.append((j, fraction))


def plaque_geometry(vessel: Vessel, lesion: Lesion) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Centrelines and radii of the plaque's parts along the lesion (body frame):
    ``outer`` (vessel boundary), ``core`` (low-attenuation core, if any) and ``spots``
    (centres and radii of calcium nodules of a mixed plaque, if any)."""
    idx = np.flatnonzero(lesion.window > 0.02)
    idx = np.arange(max(idx[0] - 1, 0), min(idx[-1] + 2, len(vessel.points)))
    pts = vessel.points[idx]
    w = lesion.window[idx]
    r_ref = lesion.reference_radius[idx]
    r_lumen = np.maximum(vessel.radius_mm[idx], 0.0)
    r_outer = (r_ref + WALL_MM) * (1.0 + (lesion.remodelling_index - 1.0) * w)
    r_outer = np.maximum(r_outer, r_lumen + WALL_MM + 0.15 * w)
    normals = transport_normals(pts, lesion.direction)
    shift = (r_outer - r_lumen - WALL_MM) * (0.85 if lesion.eccentric else 0.0)
    outer_c = pts + normals * shift[:, None]
    parts = {"outer": (outer_c, r_outer)}
    if lesion.low_attenuation:
        thick = np.maximum(r_outer + shift - r_lumen, 0.0)
        core_c = pts + normals * (r_lumen + 0.5 * thick)[:, None]
        core_r = 0.32 * thick * np.clip(w * 1.5 - 0.25, 0.0, 1.0)
        if lesion.napkin_ring and not lesion.eccentric:
            core_c = outer_c
            core_r = np.maximum(r_outer - 0.45 * (r_outer - r_lumen), r_lumen)
            core_r = core_r * (np.clip(w * 1.5 - 0.25, 0.0, 1.0) > 0)
        parts["core"] = (core_c, core_r)
    thick_all = np.maximum(r_outer + shift - r_lumen, 0.0)
    centres, radii = [], []
    for j, factor in lesion.spots:
        k = int(np.clip(j - idx[0], 0, len(idx) - 1))
        centres.append(pts[k] + normals[k] * (r_lumen[k] + 0.55 * thick_all[k]))
        size = 0.55 * factor * 2.0 if lesion.spotty_calcification else factor * thick_all[k]
        radii.append(float(np.clip(size, 0.5, 1.4 if lesion.spotty_calcification else 2.5)))
    if centres:
        parts["spots"] = (np.array(centres), np.array(radii))
    return parts
