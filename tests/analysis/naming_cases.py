"""Trees for the naming tests and benchmark: phantom truth centrelines as ``Vessel`` lists,
and traced phantom studies (cached on disk by the benchmark script)."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ccta_ai.analysis.findings import Centerline, Vessel


def vessels_from_truth(truth: dict[str, Any]) -> list[Vessel]:
    """The truth's centrelines as untraced ``Vessel`` objects (no names, no segments)."""
    vessels: list[Vessel] = []
    index: dict[str, int] = {}
    for item in truth["vessels"]:
        points = np.asarray(item["points_lps_mm"], dtype=np.float64)
        parent_id, parent_point = None, None
        if item["parent"] is not None:
            parent_id = index[item["parent"]]
            parent_points = np.asarray(vessels[parent_id].centerline.points_lps_mm)
            parent_point = int(np.argmin(np.linalg.norm(parent_points - points[0], axis=1)))
        index[item["name"]] = len(vessels)
        tree = 0 if item["name"] == "LM" or (parent_id is None and item["name"] != "RCA") else 1
        if parent_id is not None:
            tree = vessels[parent_id].tree
        vessels.append(
            Vessel(
                vessel_id=len(vessels),
                centerline=Centerline(
                    points_lps_mm=points.tolist(),
                    radius_mm=list(item["radius_mm"]),
                    segment=[None] * len(points),
                    bridged=[False] * len(points),
                ),
                parent_id=parent_id,
                parent_point=parent_point,
                tree=tree,
                origin="ostium" if parent_id is None else "",
            )
        )
    return vessels


def truth_of_phantom_tree(seed: int) -> dict[str, Any]:
    """Truth vessels and dominance of a seed, without imaging (fast)."""
    from ccta_ai.phantom.coronary import build_tree
    from ccta_ai.phantom.heart import build_heart
    from ccta_ai.phantom.params import draw_heart, stream
    from ccta_ai.phantom.truth import vessel_truth

    heart = build_heart(draw_heart(seed))
    vessels = build_tree(heart, stream(seed, "coronary"))
    return {
        "dominance": heart.params.dominance,
        "vessels": [vessel_truth(v, np.zeros(3)) for v in vessels],
        "ostia_lps_mm": {s: heart.points[f"ostium_{s}"].tolist() for s in ("left", "right")},
        "frame": heart.frame,
    }


def traced_study(seed: int, size: str, cache: Path | None = None) -> tuple[list[Vessel], dict]:
    """Trace a phantom study as the pipeline would (truth lumen mask); cached on disk."""
    path = cache / f"{size}-{seed}.pkl" if cache is not None else None
    if path is not None and path.exists():
        with path.open("rb") as handle:
            return pickle.load(handle)  # type: ignore[no-any-return]
    from ccta_ai.analysis.coronary import analyse_coronaries
    from ccta_ai.phantom.study import generate_study

    study = generate_study(seed, size)
    ostia = np.array([study.truth["ostia_lps_mm"][s] for s in ("left", "right")])
    result = analyse_coronaries(
        study.ccta, study.lumen_labels > 0, ostia, study.anatomy_labels == 1
    )
    found = (result.vessels, study.truth)
    if path is not None:
        with path.open("wb") as handle:
            pickle.dump(found, handle)
    return found


# --- hand-built hearts -------------------------------------------------------------
# Coronaries drawn in a heart frame: height h (mm, base -> apex), angle theta (degrees,
# from the RV side towards the diaphragm) and distance from the long axis. Anterior
# groove at -85 deg, acute margin at 0, posterior groove (crux) at +80, LV wall at 180.
RING_MM = 35.0
APEX_MM = 95.0


def _surface_mm(h: float) -> float:
    return RING_MM * float(np.sqrt(max(0.04, 1.0 - (max(h, 0.0) / APEX_MM) ** 2)))


def _curve(anchors: list[tuple[float, float, float]], step_mm: float = 0.5) -> np.ndarray:
    """Heart-frame anchors ``(h, theta_deg, inset_mm)`` -> dense (h, a, b) polyline."""
    dense = []
    for (h0, t0, i0), (h1, t1, i1) in itertools.pairwise(anchors):
        for f in np.linspace(0.0, 1.0, 60, endpoint=False):
            h, t, inset = h0 + f * (h1 - h0), t0 + f * (t1 - t0), i0 + f * (i1 - i0)
            r = _surface_mm(h) - inset
            dense.append([h, r * np.cos(np.radians(t)), r * np.sin(np.radians(t))])
    h, t, inset = anchors[-1]
    r = _surface_mm(h) - inset
    dense.append([h, r * np.cos(np.radians(t)), r * np.sin(np.radians(t))])
    points = np.asarray(dense)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    stations = np.linspace(0.0, s[-1], max(2, round(s[-1] / step_mm) + 1))
    return np.stack([np.interp(stations, s, points[:, k]) for k in range(3)], axis=1)


def _arc(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _at_height(points: np.ndarray, h: float) -> int:
    return int(np.argmin(np.abs(points[:, 0] - h) + 1000.0 * (points[:, 0] > h + 2.0)))


def hand_heart(
    dominance: str = "right",
    *,
    ramus: bool = False,
    turn: np.ndarray | None = None,
    lad_end_mm: float | None = None,
    septal: tuple[float, float] = (14.0, 16.0),
) -> dict[str, Any]:
    """A truth dict (like the phantom's) of a hand-drawn tree, in LPS mm.

    ``turn`` rotates the heart about its centre; ``lad_end_mm`` cuts the LAD (and what
    branches off it beyond) at that height, keeping the segments of the whole LAD;
    ``septal`` is how far down the heart (mm) and how deep (inset, mm) the septals go.
    """
    items: list[tuple[str, str | None, np.ndarray, int | np.ndarray]] = []
    lm = np.concatenate([_curve([(-18.0, -110.0, 14.0), (-8.0, -100.0, 6.0)])[:-1],
                         _curve([(-8.0, -100.0, 6.0), (0.0, -95.0, 0.0)])])  # fmt: skip
    items.append(("LM", None, lm, 5))
    lad = _curve(
        [(0.0, -95.0, 0.0), (10.0, -86.0, 0.0), (60.0, -85.0, 0.0), (APEX_MM - 1, -85.0, 0.0)]
    )
    s = _arc(lad)
    d1, d2, s1, s2 = (_at_height(lad, h) for h in (22.0, 45.0, 14.0, 35.0))
    p_end = min(s[d1], s[s1])
    m_end = p_end + 0.5 * (s[-1] - p_end)
    items.append(("LAD", "LM", lad, np.where(s <= p_end, 6, np.where(s <= m_end, 7, 8))))
    for name, j, seg in (("D1", d1, 9), ("D2", d2, 10)):
        h = lad[j, 0]
        items.append(
            (
                name,
                "LAD",
                _curve([(h, -85.0, 0.0), (h + 12, -105.0, 0.0), (h + 40, -130.0, 0.0)]),
                seg,
            )
        )
    for name, j in (("S1", s1), ("S2", s2)):
        h = lad[j, 0]
        items.append(
            (name, "LAD", _curve([(h, -85.0, 0.0), (h + 8 * septal[0] / 14, -82.0, septal[1] / 2),
                                  (h + septal[0], -80.0, septal[1])]), 19)
        )
    lcx_end = {"right": -195.0, "co": -245.0, "left": -280.0}[dominance]
    lcx = _curve([(0.0, -95.0, 0.0), (1.0, -110.0, 0.0), (1.0, lcx_end, 0.0)])
    s = _arc(lcx)
    oms = [int(len(lcx) * f) for f in (0.3, 0.6)]
    items.append(("LCx", "LM", lcx, np.where(s <= s[oms[0]], 11, 13)))
    for k, j in enumerate(oms):
        theta = float(np.degrees(np.arctan2(lcx[j, 2], lcx[j, 1])))
        theta = theta - 360.0 if theta > lcx_end + 360.0 - 1e-6 and theta > 0 else theta
        items.append(
            (
                f"OM{k + 1}",
                "LCx",
                _curve([(1.0, theta, 0.0), (12.0, theta - 5, 0.0), (55.0, theta - 10, 0.0)]),
                12 + 2 * k,
            )
        )
    if ramus:
        items.append(
            ("RI", "LM", _curve([(0.0, -95.0, 0.0), (8.0, -108.0, 0.0), (55.0, -115.0, 0.0)]), 17)
        )
    rca_end = 40.0 if dominance == "left" else 80.0
    rca_start = _curve([(-18.0, -60.0, 14.0), (-4.0, -70.0, 3.0)])[:-1]
    rca = np.concatenate(
        [rca_start, _curve([(-4.0, -70.0, 3.0), (1.0, -55.0, 0.0), (1.0, rca_end, 0.0)])]
    )
    s = _arc(rca)
    margin = int(np.argmax(rca[:, 1]))
    items.append(
        ("RCA", None, rca, np.where(s <= 0.5 * s[margin], 1, np.where(s <= s[margin], 2, 3)))
    )
    items.append(("AM1", "RCA", _curve([(1.0, 0.0, 0.0), (10.0, 5.0, 0.0), (45.0, 5.0, 0.0)]), 19))
    pda = [(1.0, 80.0, 0.0), (12.0, 80.0, 0.0), (60.0, 80.0, 0.0)]
    plb = [(1.0, 80.0, 0.0), (3.0, 95.0, 0.0), (8.0, 115.0, 0.0), (30.0, 125.0, 0.0)]
    if dominance in ("right", "co"):
        items.append(("R-PDA", "RCA", _curve(pda), 4))
    if dominance == "right":
        items.append(("R-PLB", "RCA", _curve(plb), 16))
    if dominance == "left":
        items.append(
            (
                "L-PDA",
                "LCx",
                _curve([(1.0, -280.0, 0.0), (12.0, -280.0, 0.0), (60.0, -280.0, 0.0)]),
                15,
            )
        )
        items.append(
            (
                "L-PLB",
                "LCx",
                _curve(
                    [
                        (1.0, -280.0, 0.0),
                        (3.0, -265.0, 0.0),
                        (8.0, -245.0, 0.0),
                        (30.0, -235.0, 0.0),
                    ]
                ),
                18,
            )
        )
    if dominance == "co":
        items.append(
            (
                "L-PLB",
                "LCx",
                _curve([(1.0, lcx_end, 0.0), (12.0, lcx_end - 3, 0.0), (40.0, lcx_end - 5, 0.0)]),
                18,
            )
        )
    # heart frame -> LPS: a typical heart (apex left, anterior, inferior), then turned
    az, el = np.radians(45.0), np.radians(35.0)
    u = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])
    a = np.array([-1.0, -1.0, 0.0]) / np.sqrt(2.0)
    frame = np.stack([u, a, np.cross(u, a)], axis=1)
    if turn is not None:
        frame = turn @ frame
    centre = np.array([10.0, -5.0, 120.0])

    def radii(name: str) -> tuple[float, float]:
        return (1.9, 0.7) if name in ("LM", "LAD", "LCx", "RCA") else (1.0, 0.5)

    vessels = []
    for name, parent, hab, segment in items:
        seg = np.broadcast_to(np.asarray(segment), (len(hab),)).astype(int)
        keep = np.ones(len(hab), dtype=bool)
        if lad_end_mm is not None and (
            name == "LAD" or (parent == "LAD" and hab[0, 0] > lad_end_mm)
        ):
            keep = hab[:, 0] <= lad_end_mm if name == "LAD" else np.zeros(len(hab), dtype=bool)
        if not keep.any():
            continue
        vessels.append({
            "name": name, "parent": parent,
            "points_lps_mm": (centre + hab[keep] @ frame.T).tolist(),
            "radius_mm": np.linspace(*radii(name), len(hab))[keep].tolist(),
            "segment": [int(x) for x in seg[keep]],
        })  # fmt: skip
    return {"dominance": dominance, "vessels": vessels, "frame": frame}
