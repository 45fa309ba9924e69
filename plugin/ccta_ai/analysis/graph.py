"""The centreline graph: polylines between junctions, before smoothing.

Skeletonisation gives, per connected piece of the lumen mask, an undirected tree whose
nodes are the root, the bifurcations and the free ends, and whose edges are polylines
in LPS mm between them. Gap bridging (:mod:`ccta_ai.analysis.repair`) adds edges
between trees. :func:`decompose` then turns a rooted tree into vessels: paths that
start at the root or branch off another vessel and continue along the longest way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ccta_ai.analysis.geometry import cumulative_length_mm, direction_at_end


@dataclass
class Edge:
    """A polyline from node ``start`` to node ``end`` (both end points included)."""

    start: int
    end: int
    points_lps_mm: np.ndarray
    radius_mm: np.ndarray
    bridged: np.ndarray

    @property
    def length_mm(self) -> float:
        return float(cumulative_length_mm(self.points_lps_mm)[-1])

    def oriented_from(self, node: int) -> Edge:
        """This edge walked away from ``node`` (reversed when ``node`` is its end)."""
        if node == self.start:
            return self
        return Edge(
            self.end,
            self.start,
            self.points_lps_mm[::-1].copy(),
            self.radius_mm[::-1].copy(),
            self.bridged[::-1].copy(),
        )


@dataclass
class CenterlineGraph:
    """An undirected tree of polylines in LPS mm.

    Attributes:
        nodes_lps_mm: ``(m, 3)`` node positions.
        edges: the polylines; each edge's first and last points are its nodes.
        root: the node vessels start from (an ostium), or ``None`` before rooting.
        origin: how the root was chosen: ``"ostium"``, ``"aorta"``, ``"thickest-end"``.
    """

    nodes_lps_mm: np.ndarray
    edges: list[Edge] = field(default_factory=list)
    root: int | None = None
    origin: str = ""

    def incident(self, node: int) -> list[int]:
        """Indices of the edges that touch ``node``."""
        return [i for i, edge in enumerate(self.edges) if node in (edge.start, edge.end)]

    def degree(self) -> np.ndarray:
        counts = np.zeros(len(self.nodes_lps_mm), dtype=int)
        for edge in self.edges:
            counts[edge.start] += 1
            counts[edge.end] += 1
        return counts

    def free_ends(self) -> list[int]:
        """Nodes with exactly one edge (the root included when it has one)."""
        return [int(n) for n in np.flatnonzero(self.degree() == 1)]

    @property
    def total_length_mm(self) -> float:
        return float(sum(edge.length_mm for edge in self.edges))

    def end_direction(self, node: int, length_mm: float) -> np.ndarray:
        """Unit direction pointing out of the graph at free end ``node``."""
        (edge_index,) = self.incident(node)
        edge = self.edges[edge_index]
        return direction_at_end(edge.points_lps_mm, length_mm, at_start=edge.start == node)

    def end_radius_mm(self, node: int, length_mm: float) -> float:
        """Median radius over the last ``length_mm`` before free end ``node``."""
        (edge_index,) = self.incident(node)
        edge = self.edges[edge_index].oriented_from(node)
        s_mm = cumulative_length_mm(edge.points_lps_mm)
        return float(np.median(edge.radius_mm[s_mm <= length_mm]))

    def merged_with(self, other: CenterlineGraph) -> tuple[CenterlineGraph, int]:
        """A graph holding both trees (this root kept); returns it and ``other``'s node offset."""
        offset = len(self.nodes_lps_mm)
        moved = [
            Edge(e.start + offset, e.end + offset, e.points_lps_mm, e.radius_mm, e.bridged)
            for e in other.edges
        ]
        nodes = np.concatenate([self.nodes_lps_mm, other.nodes_lps_mm]).reshape(-1, 3)
        return CenterlineGraph(nodes, [*self.edges, *moved], self.root, self.origin), offset


@dataclass
class RawVessel:
    """One vessel of a decomposed tree, before smoothing.

    ``parent_point`` indexes the parent's points where this vessel branches off; the
    vessel's first point is that same point.
    """

    points_lps_mm: np.ndarray
    radius_mm: np.ndarray
    bridged: np.ndarray
    parent: int | None
    parent_point: int | None


def _walk(graph: CenterlineGraph, root: int) -> tuple[dict[int, list[int]], dict[int, float]]:
    """Children edges of every node (away from ``root``) and the longest way down from it."""
    children: dict[int, list[int]] = {}
    order: list[int] = []
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        children[node] = []
        for edge_index in graph.incident(node):
            other = _other(graph, edge_index, node)
            if other in seen:
                continue
            seen.add(other)
            children[node].append(edge_index)
            stack.append(other)
    longest: dict[int, float] = {}
    for node in reversed(order):
        best = 0.0
        for edge_index in children[node]:
            other = _other(graph, edge_index, node)
            best = max(best, graph.edges[edge_index].length_mm + longest[other])
        longest[node] = best
    return children, longest


def decompose(graph: CenterlineGraph) -> list[RawVessel]:
    """Split a rooted tree into vessels, parents before children.

    From the root, a vessel follows at every junction the edge with the longest way
    down; each other edge starts a new vessel that branches off at that junction.
    """
    if graph.root is None or not graph.edges:
        return []
    children, longest = _walk(graph, graph.root)

    def ranked(node: int) -> list[int]:
        return sorted(
            children[node],
            key=lambda i: -(graph.edges[i].length_mm + longest[_other(graph, i, node)]),
        )

    vessels: list[RawVessel] = []
    queue: deque[tuple[int, int | None, int | None, int | None]] = deque(
        [(graph.root, None, None, None)]
    )
    while queue:
        node, forced, parent, parent_point = queue.popleft()
        index = len(vessels)
        pieces: list[Edge] = []
        count = 0
        while True:
            if forced is not None:
                take, sides, forced = forced, [], None
            else:
                options = ranked(node)
                if not options:
                    break
                take, sides = options[0], options[1:]
            here = max(count - 1, 0)
            queue.extend((node, side, index, here) for side in sides)
            edge = graph.edges[take].oriented_from(node)
            piece = edge if count == 0 else _tail(edge)
            pieces.append(piece)
            count += len(piece.points_lps_mm)
            node = edge.end
        vessels.append(_join(pieces, parent, parent_point))
    return vessels


def _other(graph: CenterlineGraph, edge_index: int, node: int) -> int:
    edge = graph.edges[edge_index]
    return edge.end if edge.start == node else edge.start


def _tail(edge: Edge) -> Edge:
    return Edge(edge.start, edge.end, edge.points_lps_mm[1:], edge.radius_mm[1:], edge.bridged[1:])


def _join(pieces: list[Edge], parent: int | None, parent_point: int | None) -> RawVessel:
    return RawVessel(
        np.concatenate([p.points_lps_mm for p in pieces]),
        np.concatenate([p.radius_mm for p in pieces]),
        np.concatenate([p.bridged for p in pieces]),
        parent,
        parent_point,
    )
