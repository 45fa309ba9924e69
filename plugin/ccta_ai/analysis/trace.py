"""Trace: coronary lumen mask → centreline tree (vessels as smooth polylines in LPS mm).

Steps:

1. the mask's voxels are indexed sparsely (:mod:`ccta_ai.analysis.skeleton`), specks
   smaller than ``min_component_mm3`` are dropped;
2. every connected piece gets a root: the voxel nearest an ostium seed, else the voxel
   nearest the aorta mask, else (provisionally) an extreme end;
3. TEASAR gives each piece a graph of voxel paths split at bifurcations, spurs pruned;
4. free ends lose the end cap (about one radius), pieces without an ostium or aorta
   are rooted at their thickest end;
5. gaps are bridged (:mod:`ccta_ai.analysis.repair`);
6. each tree is split into vessels (longest continuation first), smoothed along arc
   length and resampled every ``step_mm``; radii are measured at the smoothed points as
   the distance to the mask's wall (anisotropic spacing handled, bridged points take
   the radius interpolated between the two ends);
7. each vessel's distal end is followed on through the image past the end of the mask,
   where a thin vessel the segmentation lost still shows (:mod:`ccta_ai.analysis.extend`;
   those points are flagged ``extended_from`` and not graded).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ccta_ai.analysis.extend import (
    ExtendOptions,
    Obstacles,
    Sections,
    blood_level_hu,
    extend_end,
)
from ccta_ai.analysis.geometry import (
    cumulative_length_mm,
    interpolate_along,
    smooth_polyline,
    uniform_stations_mm,
)
from ccta_ai.analysis.graph import CenterlineGraph, Edge, RawVessel, decompose
from ccta_ai.analysis.repair import ANCHORED_ORIGINS, Bridge, RepairOptions, bridge_gaps
from ccta_ai.analysis.skeleton import (
    SkeletonOptions,
    SparseMask,
    farthest_voxels,
    sparse_mask,
    teasar,
)
from ccta_ai.errors import GeometryValueError
from ccta_ai.imaging.volume import Volume


@dataclass(frozen=True)
class TraceOptions:
    """Tracing parameters.

    Attributes:
        step_mm: spacing of the output centreline points.
        smoothing_sigma_mm: Gaussian smoothing of the voxel paths along arc length.
        min_component_mm3: mask pieces smaller than this are noise.
        seed_max_distance_mm: an ostium seed farther than this from the mask is unused.
        aorta_max_distance_mm: a piece farther than this from the aorta is not rooted
            at the aorta.
        max_radius_mm: mask parts thicker than this are not coronary arteries (a leak
            into a heart chamber or the aorta) and are left out; ``None`` keeps all.
        wall_offset_mm: subtracted from the distance to the nearest background voxel
            centre to get the radius (the wall lies between voxel centres).
        skeleton: TEASAR parameters.
        repair: gap-bridging rules; ``None`` disables bridging.
        keep_loose_pieces: keep the pieces that gap bridging could not join to a tree
            rooted at an ostium (see :func:`drop_loose_pieces`).
        min_aorta_tree_mm: a separate tree rooted at the aorta (not at an ostium) shorter
            than this is left out. Such trees that survive gap bridging are, in
            practice, aortic blood beyond the aorta mask (mostly the arch where the
            top of the volume cuts it) or the edge of an atrium or the pulmonary
            artery: 23 trees of 10-29 mm in 16 of 40 benchmark studies, none following a
            coronary; a coronary whose ostium was missed is far longer (190-565 mm).
            A conus branch with its own ostium (20-40 mm, not an SCCT segment) is lost.
        aorta_root_slack_mm: a tree rooted at the aorta inside itself (not at an end)
            is rooted instead at its free end nearest the aorta, if that end is no
            more than this farther from the aorta (see :func:`root_at_aorta`).
        extend: rules for following vessel ends beyond the segmentation through the
            image (:mod:`ccta_ai.analysis.extend`); ``None`` disables it.
    """

    step_mm: float = 0.5
    smoothing_sigma_mm: float = 1.0
    min_component_mm3: float = 3.0
    seed_max_distance_mm: float = 8.0
    aorta_max_distance_mm: float = 10.0
    wall_offset_mm: float = 0.0
    max_radius_mm: float | None = 5.0
    skeleton: SkeletonOptions = field(default_factory=SkeletonOptions)
    repair: RepairOptions | None = field(default_factory=RepairOptions)
    keep_loose_pieces: bool = False
    min_aorta_tree_mm: float = 40.0
    aorta_root_slack_mm: float = 1.0
    extend: ExtendOptions | None = field(default_factory=ExtendOptions)


@dataclass
class TracedVessel:
    """One vessel: from the ostium or a branch point on its parent to its distal end.

    Attributes:
        points_lps_mm: ``(n, 3)`` centreline points, ``step_mm`` apart.
        radius_mm: ``(n,)`` lumen radius from the mask's distance to the wall.
        bridged: ``(n,)`` True where the point lies on a bridged gap of the mask.
        parent: index of the parent vessel in :attr:`CenterlineTree.vessels`.
        parent_point: index of the parent's point this vessel starts at.
        tree: index of the tree (one per ostium or unattached mask piece).
        origin: how the tree's root was found: ``"ostium"``, ``"aorta"``, ``"thickest-end"``.
    """

    points_lps_mm: np.ndarray
    radius_mm: np.ndarray
    bridged: np.ndarray
    parent: int | None
    parent_point: int | None
    tree: int
    origin: str
    extended_from: int | None = None  # points from here on lie beyond the segmentation

    @property
    def s_mm(self) -> np.ndarray:
        return cumulative_length_mm(self.points_lps_mm)

    @property
    def length_mm(self) -> float:
        return float(self.s_mm[-1]) if len(self.points_lps_mm) else 0.0


@dataclass
class CenterlineTree:
    """The traced vessels (parents before children), the gap bridges made, and notes
    on what was left out (for the findings' warnings)."""

    vessels: list[TracedVessel] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_length_mm(self) -> float:
        return float(sum(v.length_mm for v in self.vessels))

    def bifurcations_lps_mm(self) -> np.ndarray:
        """``(m, 3)`` points where a vessel branches off its parent."""
        points = [
            self.vessels[v.parent].points_lps_mm[v.parent_point]
            for v in self.vessels
            if v.parent is not None and v.parent_point is not None
        ]
        return np.array(points).reshape(-1, 3)

    def segments(self) -> list[tuple[int, int, int]]:
        """The graph's edges as ``(vessel, first point, last point)``.

        Vessels are split where another vessel branches off them.
        """
        cuts: dict[int, set[int]] = {
            i: {0, len(v.points_lps_mm) - 1} for i, v in enumerate(self.vessels)
        }
        for v in self.vessels:
            if v.parent is not None and v.parent_point is not None:
                cuts[v.parent].add(v.parent_point)
        result: list[tuple[int, int, int]] = []
        for index, points in cuts.items():
            ordered = sorted(points)
            result.extend((index, a, b) for a, b in itertools.pairwise(ordered))
        return result


def trace_centerlines(
    mask: np.ndarray,
    volume: Volume,
    ostia_lps_mm: np.ndarray | None = None,
    aorta_mask: np.ndarray | None = None,
    options: TraceOptions | None = None,
) -> CenterlineTree:
    """Centreline tree of a coronary lumen mask.

    Args:
        mask: bool lumen mask on ``volume``'s grid.
        volume: the CT volume (its geometry; its HU image guides gap bridging).
        ostia_lps_mm: ``(k, 3)`` ostium positions (LPS mm), one per coronary tree;
            optional.
        aorta_mask: bool aorta mask on the same grid, used to root pieces without a
            seed; optional.
        options: tracing parameters.

    Raises:
        GeometryValueError: a mask whose shape is not the volume's.
    """
    options = options or TraceOptions()
    for name, array in (("mask", mask), ("aorta_mask", aorta_mask)):
        if array is not None and np.shape(array) != volume.shape:
            raise GeometryValueError(
                f"{name} has shape {np.shape(array)}, the volume {volume.shape}; "
                "resample it onto the volume's grid first"
            )
    voxels, removed = sparse_mask(np.asarray(mask, dtype=bool), volume, options.max_radius_mm)
    notes = []
    if removed:
        notes.append(
            f"{removed * volume.voxel_volume_mm3:.0f} mm3 of the mask is thicker than a "
            f"coronary artery (radius > {options.max_radius_mm} mm) and was not traced"
        )
    if voxels is None:
        return CenterlineTree(notes=notes)
    sizes = np.bincount(voxels.component) * volume.voxel_volume_mm3
    kept = set(np.flatnonzero(sizes >= options.min_component_mm3).tolist())
    if not kept:
        return CenterlineTree(notes=notes)
    roots, origins = _roots(voxels, kept, volume, ostia_lps_mm, aorta_mask, options)
    graphs = teasar(voxels, roots, options.skeleton)
    aorta = None
    if aorta_mask is not None and any(origins[c] == "aorta" for c in graphs):
        aorta = _aorta_points(aorta_mask, volume, voxels, options.aorta_max_distance_mm)
    rooted = []
    for component, graph in graphs.items():
        graph.origin = origins[component]
        keep_root = graph.origin in ANCHORED_ORIGINS
        if graph.origin == "aorta" and aorta is not None:
            root_at_aorta(graph, aorta, options.aorta_root_slack_mm)
        root = graph.root if graph.root is not None else 0
        trim_free_ends(graph, keep={root} if keep_root else set())
        if not keep_root:
            graph.root = thickest_end(graph)
        rooted.append(graph)
    bridges: list[Bridge] = []
    if options.repair is not None:
        rooted, bridges = bridge_gaps(rooted, volume, options.repair)
    if not options.keep_loose_pieces:
        rooted = drop_loose_pieces(rooted, options.min_aorta_tree_mm, notes)
    tree = CenterlineTree(bridges=bridges, notes=notes)
    for tree_index, graph in enumerate(rooted):
        first = len(tree.vessels)
        for raw in decompose(graph):
            tree.vessels.append(
                _finish(raw, tree, first, tree_index, graph.origin, voxels, options)
            )
    if options.extend is not None:
        extend_ends(tree, np.asarray(mask, dtype=bool), volume, options.extend, options.step_mm)
    return tree


def extend_ends(
    tree: CenterlineTree, mask: np.ndarray, volume: Volume, options: ExtendOptions, step_mm: float
) -> None:
    """Follow every vessel's distal end beyond the segmentation (:mod:`.extend`)."""
    sections = Sections(volume, options)
    obstacles = Obstacles([v.points_lps_mm for v in tree.vessels], options.clearance_mm)
    count, total = 0, 0.0
    for index, vessel in enumerate(tree.vessels):
        if len(vessel.points_lps_mm) < 4:
            continue
        blood = blood_level_hu(volume, vessel.points_lps_mm, options.blood_mm)
        found = extend_end(
            vessel.points_lps_mm,
            blood,
            sections,
            functools.partial(obstacles.near_other, index),
            mask,
        )
        if len(found.points_lps_mm) == 0:
            continue
        end = vessel.points_lps_mm[-1]
        smooth, _ = smooth_polyline(np.vstack([end, found.points_lps_mm]), 1.0)
        arc = cumulative_length_mm(smooth)
        stations = uniform_stations_mm(float(arc[-1]), step_mm)[1:]
        if len(stations) == 0:
            continue
        added = interpolate_along(arc, smooth, stations)
        radius_arc = cumulative_length_mm(np.vstack([end, found.points_lps_mm]))
        radius = np.interp(stations, radius_arc, np.r_[vessel.radius_mm[-1], found.radius_mm])
        obstacles.add(index, added)
        vessel.extended_from = len(vessel.points_lps_mm)
        vessel.points_lps_mm = np.vstack([vessel.points_lps_mm, added])
        vessel.radius_mm = np.r_[vessel.radius_mm, radius]
        vessel.bridged = np.r_[vessel.bridged, np.zeros(len(added), dtype=bool)]
        count += 1
        total += float(arc[-1])
    if count:
        tree.notes.append(
            f"{count} vessel end(s) were followed {total:.0f} mm beyond the segmentation "
            "through the image; no stenosis is graded there"
        )


def drop_loose_pieces(
    graphs: list[CenterlineGraph], min_aorta_tree_mm: float, notes: list[str]
) -> list[CenterlineGraph]:
    """The trees that start at an ostium, and those rooted at the aorta at least
    ``min_aorta_tree_mm`` long; what is left out is counted in ``notes``.

    A piece that gap bridging could not join to an ostium's tree is, in practice, a
    vein, a pulmonary or bronchial vessel, a bright rim of a chamber or noise that the
    segmentation kept; its "lesions" were false and its naming was a guess. A true
    coronary cut off by a long occlusion is lost with it: that occlusion was not found
    either (it needs a bridged gap). When no tree starts at an ostium (no ostium was
    placed: the aorta was not found, or was mistaken for another structure, and a tree
    "at the aorta" may then be rooted anywhere), every piece is kept.
    """
    if not any(g.origin == "ostium" for g in graphs):
        return graphs
    anchored = [
        g for g in graphs
        if g.origin == "ostium" or (g.origin == "aorta" and g.total_length_mm >= min_aorta_tree_mm)
    ]
    loose = [g for g in graphs if g.origin not in ANCHORED_ORIGINS]
    kept = {id(g) for g in anchored}
    short = [g for g in graphs if g.origin == "aorta" and id(g) not in kept]
    for pieces, what in (
        (loose, "joined no tree that starts at an ostium"),
        (short, f"touch the aorta but are shorter than {min_aorta_tree_mm:g} mm"),
    ):
        if pieces:
            length = sum(g.total_length_mm for g in pieces)
            notes.append(
                f"{len(pieces)} piece(s) of the segmentation ({length:.0f} mm of centreline) "
                f"{what}; they were left out of the analysis"
            )
    return anchored


def _roots(
    voxels: SparseMask,
    kept: set[int],
    volume: Volume,
    ostia_lps_mm: np.ndarray | None,
    aorta_mask: np.ndarray | None,
    options: TraceOptions,
) -> tuple[dict[int, int], dict[int, str]]:
    roots: dict[int, int] = {}
    origins: dict[int, str] = {}
    best_distance: dict[int, float] = {}
    if ostia_lps_mm is not None and len(ostia_lps_mm):
        for seed in np.asarray(ostia_lps_mm, dtype=np.float64).reshape(-1, 3):
            distance = np.linalg.norm(voxels.lps_mm - seed, axis=1)
            nearest = int(np.argmin(distance))
            component = int(voxels.component[nearest])
            d = float(distance[nearest])
            usable = d <= options.seed_max_distance_mm and component in kept
            if usable and d < best_distance.get(component, np.inf):
                members = np.flatnonzero(voxels.component == component)
                roots[component] = _central_near(voxels, members, distance[members])
                origins[component] = "ostium"
                best_distance[component] = d
    unrooted = sorted(kept - set(roots))
    if aorta_mask is not None and unrooted:
        aorta = _aorta_points(aorta_mask, volume, voxels, options.aorta_max_distance_mm)
        if aorta is not None:
            distance, _ = aorta.query(voxels.lps_mm)
            for component in unrooted:
                members = np.flatnonzero(voxels.component == component)
                if distance[members].min() <= options.aorta_max_distance_mm:
                    roots[component] = _central_near(voxels, members, distance[members])
                    origins[component] = "aorta"
    unrooted = sorted(kept - set(roots))
    if unrooted:
        centres = [
            int(members[np.argmax(voxels.wall_mm[members])])
            for members in (np.flatnonzero(voxels.component == c) for c in unrooted)
        ]
        for component, end in zip(unrooted, farthest_voxels(voxels, centres), strict=True):
            roots[component], origins[component] = int(end), "thickest-end"
    return roots, origins


def _central_near(voxels: SparseMask, members: np.ndarray, distance: np.ndarray) -> int:
    """Of the ``members`` nearly as near to a target as the nearest, the most central.

    The voxel nearest an ostium seed outside the mask, or the aorta, usually lies on the
    vessel's rim; "nearly" is within 1 mm, or within the nearest distance if smaller
    (a seed inside the mask is taken as it is).
    """
    nearest = float(distance.min())
    near = members[distance <= nearest + min(1.0, nearest)]
    return int(near[np.argmax(voxels.wall_mm[near])])


def _aorta_points(
    aorta_mask: np.ndarray, volume: Volume, voxels: SparseMask, margin_mm: float
) -> cKDTree | None:
    """KD-tree of the aorta voxels near the coronary mask's bounding box."""
    pad = np.ceil(margin_mm / volume.spacing_mm).astype(int) + 1
    low = np.maximum(voxels.index.min(axis=0) - pad, 0)
    high = np.minimum(voxels.index.max(axis=0) + pad + 1, volume.shape)
    box = np.asarray(aorta_mask[low[0] : high[0], low[1] : high[1], low[2] : high[2]], dtype=bool)
    found = np.argwhere(box)
    if len(found) == 0:
        return None
    stride = max(1, len(found) // 200_000)
    return cKDTree(volume.index_to_lps(found[::stride] + low))


def trim_free_ends(graph: CenterlineGraph, keep: set[int]) -> None:
    """Cut about one radius off every free end not in ``keep`` (the end cap of the mask)."""
    for node in graph.free_ends():
        if node in keep:
            continue
        (edge_index,) = graph.incident(node)
        edge = graph.edges[edge_index].oriented_from(node)
        s_mm = cumulative_length_mm(edge.points_lps_mm)
        cap_mm = float(edge.radius_mm[s_mm <= 4.0].max())
        first = int(np.searchsorted(s_mm, cap_mm))
        if first >= len(s_mm) - 2 or first == 0:
            continue
        trimmed = Edge(
            node,
            edge.end,
            edge.points_lps_mm[first:],
            edge.radius_mm[first:],
            edge.bridged[first:],
        )
        graph.edges[edge_index] = trimmed
        graph.nodes_lps_mm[node] = trimmed.points_lps_mm[0]


def root_at_aorta(
    graph: CenterlineGraph, aorta: cKDTree, slack_mm: float, stub_mm: float = 2.0
) -> None:
    """Root a tree that was rooted at the aorta at a free end.

    A coronary tree leaves the aorta at its ostium, an end. A root inside the tree
    (the thickest voxel near the aorta: a bifurcation lying against the aortic root,
    while a narrowed left main's thin lumen reaches the aorta) made the left main a
    side branch of its own daughters. A root is inside the tree when it is a junction
    or the end of a stub shorter than ``stub_mm`` off one; the root then moves to the
    free end nearest the aorta, if that end is no more than ``slack_mm`` farther from
    it than the root, and the stub (the junction's end cap) goes.
    """
    root = graph.root if graph.root is not None else 0
    degree = graph.degree()
    stub = None
    if degree[root] == 1:
        (stub,) = graph.incident(root)
        edge = graph.edges[stub]
        far = edge.end if edge.start == root else edge.start
        if degree[far] < 3 or edge.length_mm >= stub_mm:
            return
    ends = [end for end in graph.free_ends() if end != root]
    if not ends:
        return
    distance, _ = aorta.query(graph.nodes_lps_mm[[root, *ends]])
    best = int(np.argmin(distance[1:]))
    if distance[1 + best] > distance[0] + slack_mm:
        return
    graph.root = ends[best]
    if stub is not None:
        del graph.edges[stub]


def thickest_end(graph: CenterlineGraph, length_mm: float = 4.0) -> int:
    """The free end whose last ``length_mm`` is thickest (ties: the current root)."""
    ends = graph.free_ends()
    if not ends:
        return graph.root if graph.root is not None else 0
    radii = [graph.end_radius_mm(node, length_mm) for node in ends]
    best = max(radii)
    if graph.root in ends and radii[ends.index(graph.root)] >= best - 1e-6:
        return graph.root
    return ends[int(np.argmax(radii))]


def _finish(
    raw: RawVessel,
    tree: CenterlineTree,
    first: int,
    tree_index: int,
    origin: str,
    voxels: SparseMask,
    options: TraceOptions,
) -> TracedVessel:
    """Smooth and resample one raw vessel, pinned to its (already finished) parent."""
    points = raw.points_lps_mm.copy()
    parent = None if raw.parent is None else raw.parent + first
    parent_point = None
    if parent is not None and raw.parent_point is not None:
        parent_vessel = tree.vessels[parent]
        parent_point = _nearest_index(parent_vessel.points_lps_mm, points[0])
        points[0] = parent_vessel.points_lps_mm[parent_point]
    raw_s = cumulative_length_mm(points)
    smooth, stations = smooth_polyline(points, options.smoothing_sigma_mm)
    smooth_s = cumulative_length_mm(smooth)
    final_s = uniform_stations_mm(float(smooth_s[-1]), options.step_mm)
    final = interpolate_along(smooth_s, smooth, final_s)
    on_input = np.interp(final_s, smooth_s, stations)  # station on the raw polyline
    bridged = interpolate_along(raw_s, raw.bridged.astype(float), on_input) > 0.5
    raw_radius = interpolate_along(raw_s, raw.radius_mm, on_input)
    radius = np.maximum(voxels.wall_distance_mm(final) - options.wall_offset_mm, 0.0)
    radius[bridged] = raw_radius[bridged]
    if len(final) == 1:
        final, radius, bridged = points[:1], raw.radius_mm[:1], raw.bridged[:1]
    return TracedVessel(final, radius, bridged, parent, parent_point, tree_index, origin)


def _nearest_index(points: np.ndarray, point: np.ndarray) -> int:
    return int(np.argmin(np.linalg.norm(points - point, axis=1)))
