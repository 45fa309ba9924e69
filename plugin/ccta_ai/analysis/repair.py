"""Vessel integrity repair: bridge gaps in the lumen mask between centreline trees.

A segmentation breaks a vessel where its lumen is lost: at a tight stenosis, a total
occlusion, a motion or noise artefact. The distal piece then becomes a separate tree.
Here a free end of a tree is joined to a free end of a distal piece: a tree not
anchored at an ostium or the aorta, and shorter than the tree it joins, or a tree
"rooted at the aorta" (it came within 10 mm of it) joined at that root to an anchored
tree. The join must be plausible:

* the gap is short (``max_gap_mm``);
* the gap goes on in the direction the vessel was heading (``max_angle_deg``), so no
  join goes backwards or sideways; a tree rooted at the aorta, which is coronary and
  must continue some tree, may be joined at a wider angle (``max_aorta_angle_deg``:
  the stub of a proximal LAD before a tight eccentric stenosis veers off its course);
* the distal piece heads the same way (``max_turn_deg``) and is not much thicker.

The bridge follows the brightest (most lumen-like) cheap path through the CT image when
one exists that is not much longer than a smooth curve between the two ends; otherwise
the smooth curve (a cubic Hermite curve with the two end directions). Bridge points are
flagged so reports can say which parts of a vessel were bridged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree
from skimage.graph import MCP_Geometric

from ccta_ai.analysis.geometry import cumulative_length_mm, hermite, resample_polyline
from ccta_ai.analysis.graph import CenterlineGraph, Edge
from ccta_ai.imaging.volume import Volume

ANCHORED_ORIGINS = ("ostium", "aorta")


@dataclass(frozen=True)
class RepairOptions:
    """Plausibility rules of a bridge.

    Attributes:
        max_gap_mm: longest straight distance between the two ends.
        max_angle_deg: largest angle between the end's heading and the gap vector
            (checked when the gap is longer than ``min_checked_gap_mm``).
        max_turn_deg: largest angle between the end's heading and the distal piece's.
        min_checked_gap_mm: shorter gaps are too short for a reliable gap direction.
        tangent_length_mm: length over which end headings and radii are estimated.
        max_radius_ratio: the distal piece's end radius may exceed the proximal end's
            by this factor (plus 0.5 mm).
        use_image: look for a lumen-like path through the HU image.
        max_path_ratio: an image path may be at most this much longer than the curve.
        min_aorta_piece_mm: a tree rooted at the aorta at least this long is joined,
            at its root, to an anchored tree's free end that points at it.
        max_aorta_angle_deg: ``max_angle_deg`` for such a join.
        short_piece_mm / long_piece_mm: an end that may join a piece at least
            ``long_piece_mm`` long does not join pieces shorter than ``short_piece_mm``.
            Inside a tight stenosis the segmentation leaves scraps whose skeleton forks
            every way; the nearest scrap won the end, and the vessel beyond, which none of
            the scrap's ends pointed at, was left out (seed 300017: the distal LCx, OM1 and
            OM2, 197 mm, and its 85 % stenosis). The image path of the longer join runs
            through the scrap's lumen anyway.
    """

    max_gap_mm: float = 20.0
    max_angle_deg: float = 45.0
    max_turn_deg: float = 60.0
    min_checked_gap_mm: float = 3.0
    tangent_length_mm: float = 4.0
    max_radius_ratio: float = 1.6
    use_image: bool = True
    max_path_ratio: float = 1.3
    min_aorta_piece_mm: float = 20.0
    max_aorta_angle_deg: float = 60.0
    short_piece_mm: float = 15.0
    long_piece_mm: float = 40.0


@dataclass(frozen=True)
class Bridge:
    """One accepted join, for the record."""

    start_lps_mm: tuple[float, float, float]
    end_lps_mm: tuple[float, float, float]
    gap_mm: float
    angle_deg: float
    turn_deg: float
    method: str  # "image-path" or "curve"


@dataclass(frozen=True)
class _Candidate:
    score: float
    anchor: int
    end: int
    fragment: int
    target: int
    gap_mm: float
    angle_deg: float
    turn_deg: float


def bridge_gaps(
    graphs: list[CenterlineGraph], volume: Volume | None, options: RepairOptions | None = None
) -> tuple[list[CenterlineGraph], list[Bridge]]:
    """Join trees across plausible gaps; returns the resulting trees and the bridges.

    A free end of a tree may be joined to a free end of another tree that is not
    anchored (rooted at an ostium or the aorta) and is shorter than it, so that
    distal pieces join their proximal trees and never the other way round; or, by an
    anchored tree, to the root of a tree rooted at the aorta (``min_aorta_piece_mm``).
    The absorbing tree keeps its root. The best-scoring join (short, straight) is made
    first, then the candidates are found again; an end that may reach a long piece does
    not join a short scrap (``short_piece_mm``).
    """
    options = options or RepairOptions()
    trees = [g for g in graphs if g.edges]
    bridges: list[Bridge] = []
    while len(trees) > 1:
        candidates = _prefer_long_pieces(_candidates(trees, options), trees, options)
        if not candidates:
            break
        best = min(candidates, key=lambda c: c.score)
        anchor, fragment = trees[best.anchor], trees[best.fragment]
        merged, offset = anchor.merged_with(fragment)
        points, method = _bridge_path(anchor, best.end, fragment, best.target, volume, options)
        length = options.tangent_length_mm
        radius = np.interp(
            cumulative_length_mm(points),
            [0.0, float(cumulative_length_mm(points)[-1])],
            [anchor.end_radius_mm(best.end, length), fragment.end_radius_mm(best.target, length)],
        )
        bridged = np.ones(len(points), dtype=bool)
        bridged[[0, -1]] = False
        merged.edges.append(Edge(best.end, best.target + offset, points, radius, bridged))
        trees[best.anchor] = merged
        del trees[best.fragment]
        start, end = points[0], points[-1]
        bridges.append(
            Bridge(
                (float(start[0]), float(start[1]), float(start[2])),
                (float(end[0]), float(end[1]), float(end[2])),
                best.gap_mm,
                best.angle_deg,
                best.turn_deg,
                method,
            )
        )
    return trees, bridges


def _prefer_long_pieces(
    candidates: list[_Candidate], trees: list[CenterlineGraph], options: RepairOptions
) -> list[_Candidate]:
    """Leave out an end's joins to short pieces when it may join a long one."""
    sizes = [tree.total_length_mm for tree in trees]
    reaches_long = {
        (c.anchor, c.end) for c in candidates if sizes[c.fragment] >= options.long_piece_mm
    }
    return [
        c
        for c in candidates
        if sizes[c.fragment] >= options.short_piece_mm or (c.anchor, c.end) not in reaches_long
    ]


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    if norms == 0.0:
        return 0.0
    return float(np.degrees(np.arccos(np.clip(float(a @ b) / norms, -1.0, 1.0))))


def _candidates(trees: list[CenterlineGraph], options: RepairOptions) -> list[_Candidate]:
    """Every acceptable join; only ends within ``max_gap_mm`` of each other are judged
    (a KD-tree of the free ends), so hundreds of fragments stay cheap."""
    length = options.tangent_length_mm
    ends = [
        (index, node, tree.nodes_lps_mm[node], tree.end_direction(node, length),
         tree.end_radius_mm(node, length))
        for index, tree in enumerate(trees)
        for node in tree.free_ends()
    ]  # fmt: skip
    if len(ends) < 2:
        return []
    positions = np.array([end[2] for end in ends], dtype=np.float64)
    near = cKDTree(positions).query_ball_point(positions, r=options.max_gap_mm)
    sizes = [tree.total_length_mm for tree in trees]
    aorta_rules = replace(options, max_angle_deg=options.max_aorta_angle_deg)
    found = []
    for this, (a_index, end, position, heading, radius) in enumerate(ends):
        anchor = trees[a_index]
        if end == anchor.root:
            continue
        for other in near[this]:
            f_index, node, target, outward, target_radius = ends[other]
            if f_index == a_index:
                continue
            fragment = trees[f_index]
            absorbable = fragment.origin not in ANCHORED_ORIGINS and (
                anchor.origin in ANCHORED_ORIGINS or sizes[f_index] < sizes[a_index]
            )
            # A piece "rooted at the aorta" may only pass near it (within the tracer's
            # 10 mm): the proximal LAD cut off by a stenosis runs along the aortic
            # root. It continues an anchored tree whose free end points at its root.
            at_aorta = (
                fragment.origin == "aorta" and node == fragment.root
                and anchor.origin in ANCHORED_ORIGINS
                and sizes[f_index] >= options.min_aorta_piece_mm
            )
            if not (absorbable or at_aorta):
                continue
            rules = aorta_rules if at_aorta and not absorbable else options
            judged = _judge(position, heading, radius, target, -outward, target_radius, rules)
            if judged is not None:
                score, gap_mm, angle, turn = judged
                found.append(_Candidate(score, a_index, end, f_index, node, gap_mm, angle, turn))
    return found


def _judge(
    position: np.ndarray,
    heading: np.ndarray,
    radius: float,
    target: np.ndarray,
    inward: np.ndarray,
    target_radius: float,
    options: RepairOptions,
) -> tuple[float, float, float, float] | None:
    """``(score, gap, angle, turn)`` of a join from an end to a target end, or ``None``."""
    gap = target - position
    gap_mm = float(np.linalg.norm(gap))
    angle = _angle_deg(heading, gap) if gap_mm > 1e-6 else 0.0
    turn = _angle_deg(heading, inward)
    if gap_mm > options.max_gap_mm or turn > options.max_turn_deg:
        return None
    if gap_mm > options.min_checked_gap_mm and angle > options.max_angle_deg:
        return None
    if float(gap @ heading) < -radius:
        return None  # the target lies behind the end
    if target_radius > options.max_radius_ratio * radius + 0.5:
        return None
    checked_angle = angle if gap_mm > options.min_checked_gap_mm else 0.0
    score = gap_mm * (1.0 + checked_angle / options.max_angle_deg + turn / options.max_turn_deg)
    return score, gap_mm, angle, turn


def hermite_curve(
    start: np.ndarray,
    start_heading: np.ndarray,
    end: np.ndarray,
    end_heading: np.ndarray,
    step_mm: float = 0.25,
) -> np.ndarray:
    """A cubic Hermite curve from ``start`` to ``end`` leaving and arriving along the headings."""
    chord = float(np.linalg.norm(end - start))
    count = max(2, int(np.ceil(chord / step_mm)) + 1)
    t = np.linspace(0.0, 1.0, count)
    return hermite(start, chord * start_heading, end, chord * end_heading, t)


def _bridge_path(
    anchor: CenterlineGraph,
    end: int,
    fragment: CenterlineGraph,
    target: int,
    volume: Volume | None,
    options: RepairOptions,
) -> tuple[np.ndarray, str]:
    start = anchor.nodes_lps_mm[end]
    stop = fragment.nodes_lps_mm[target]
    heading = anchor.end_direction(end, options.tangent_length_mm)
    arriving = -fragment.end_direction(target, options.tangent_length_mm)
    curve = hermite_curve(start, heading, stop, arriving)
    if volume is None or not options.use_image:
        return curve, "curve"
    (edge_index,) = anchor.incident(end)
    lumen_points = anchor.edges[edge_index].points_lps_mm
    path = _image_path(volume, start, stop, lumen_points)
    if path is None:
        return curve, "curve"
    curve_mm = float(cumulative_length_mm(curve)[-1])
    if float(cumulative_length_mm(path)[-1]) > options.max_path_ratio * curve_mm:
        return curve, "curve"
    resampled, _ = resample_polyline(path, 0.25)
    resampled[0], resampled[-1] = start, stop
    return resampled, "image-path"


def _image_path(
    volume: Volume, start: np.ndarray, stop: np.ndarray, lumen_points: np.ndarray
) -> np.ndarray | None:
    """The cheapest path from ``start`` to ``stop`` where bright (lumen-like) voxels are cheap."""
    margin_mm = max(3.0, 0.3 * float(np.linalg.norm(stop - start)))
    ends = volume.lps_to_index(np.stack([start, stop]))
    pad = margin_mm / volume.spacing_mm
    low = np.maximum(np.floor(ends.min(axis=0) - pad), 0).astype(int)
    high = np.minimum(np.ceil(ends.max(axis=0) + pad) + 1, volume.shape).astype(int)
    if np.any(high - low < 2):
        return None
    box = volume.hu[low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    lumen_hu = float(
        np.median(map_coordinates(volume.hu, volume.lps_to_index(lumen_points).T, order=1))
    )
    if lumen_hu <= 100.0:
        return None
    brightness = np.clip(box / lumen_hu, 0.0, 1.0)
    costs = 1.0 + 20.0 * (1.0 - brightness) ** 2
    first = np.clip(np.round(ends[0]).astype(int) - low, 0, np.array(box.shape) - 1)
    last = np.clip(np.round(ends[1]).astype(int) - low, 0, np.array(box.shape) - 1)
    router = MCP_Geometric(costs, fully_connected=True, sampling=tuple(volume.spacing_mm))
    router.find_costs([tuple(first)], [tuple(last)])
    voxels = np.array(router.traceback(tuple(last)), dtype=np.float64)
    if len(voxels) < 2:
        return None
    if float(np.median(brightness[tuple(voxels.astype(int).T)])) < 0.5:
        return None  # no lumen along the way (an occlusion): the smooth curve is the guess
    return np.asarray(volume.index_to_lps(voxels + low))
