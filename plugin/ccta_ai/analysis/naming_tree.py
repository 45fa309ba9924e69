"""The traced vessels as one rooted graph of centreline points, for naming.

:mod:`ccta_ai.analysis.naming` reasons about junctions and courses, not about how the
tracer happened to split the tree into vessels (it follows the longest way at every
junction, so its first vessel may be the LM and the LCx, or the LM and the LAD). Here
every centreline point is a node with its own parent: a vessel's point ``i`` hangs on
its point ``i - 1``, a branch's first point on the parent's point it starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ccta_ai.analysis.findings import Vessel


@dataclass
class PointTree:
    """All centreline points of a list of vessels (global index = node).

    Attributes:
        points_lps_mm: ``(n, 3)`` positions.
        radius_mm: ``(n,)`` radius per point (0 where unknown).
        parent: ``(n,)`` parent node, ``-1`` at a tree's root.
        children: child nodes of every node.
        vessel_index: ``(n,)`` index in the vessel list of each node.
        point_index: ``(n,)`` index of each node in its vessel's centreline.
        roots: the root nodes (first point of every vessel without a parent).
        order: nodes, parents before children.
        longest_mm: ``(n,)`` length of the longest way down from each node.
        best: ``(n,)`` the child on that longest way, ``-1`` at a free end.
    """

    points_lps_mm: np.ndarray
    radius_mm: np.ndarray
    parent: np.ndarray
    children: list[list[int]]
    vessel_index: np.ndarray
    point_index: np.ndarray
    roots: list[int]
    order: list[int]
    longest_mm: np.ndarray
    best: np.ndarray

    @classmethod
    def build(cls, vessels: list[Vessel]) -> PointTree:
        by_id = {v.vessel_id: i for i, v in enumerate(vessels)}
        offsets = np.cumsum([0] + [len(v.centerline.points_lps_mm) for v in vessels])
        count = int(offsets[-1])
        points = np.zeros((count, 3))
        radius = np.zeros(count)
        parent = np.full(count, -1, dtype=int)
        vessel_index = np.zeros(count, dtype=int)
        point_index = np.zeros(count, dtype=int)
        for i, vessel in enumerate(vessels):
            first, n = int(offsets[i]), len(vessel.centerline.points_lps_mm)
            if n == 0:
                continue
            points[first : first + n] = np.asarray(vessel.centerline.points_lps_mm, float)
            radii = np.asarray(vessel.centerline.radius_mm, float)
            if len(radii) == n:
                radius[first : first + n] = radii
            parent[first + 1 : first + n] = np.arange(first, first + n - 1)
            vessel_index[first : first + n] = i
            point_index[first : first + n] = np.arange(n)
            home = by_id.get(vessel.parent_id) if vessel.parent_id is not None else None
            if home is not None and home != i and vessel.parent_point is not None:
                size = len(vessels[home].centerline.points_lps_mm)
                if 0 <= vessel.parent_point < size:
                    parent[first] = int(offsets[home]) + vessel.parent_point
        children: list[list[int]] = [[] for _ in range(count)]
        for node in range(count):
            if parent[node] >= 0:
                children[int(parent[node])].append(node)
        roots = [node for node in range(count) if parent[node] < 0 and point_index[node] == 0]
        order: list[int] = []
        stack = list(reversed(roots))
        seen = np.zeros(count, dtype=bool)
        while stack:  # a cycle (malformed input) is cut where it closes
            node = stack.pop()
            if seen[node]:
                continue
            seen[node] = True
            order.append(node)
            stack.extend(reversed(children[node]))
        children = [[c for c in kids if seen[c]] for kids in children]
        longest = np.zeros(count)
        best = np.full(count, -1, dtype=int)
        for node in reversed(order):
            for child in children[node]:
                way = float(np.linalg.norm(points[child] - points[node])) + longest[child]
                if best[node] < 0 or way > longest[node]:
                    longest[node], best[node] = way, child
        return cls(points, radius, parent, children, vessel_index, point_index, roots, order,
                   longest, best)  # fmt: skip

    def step_mm(self, node: int) -> float:
        """Length of the step from ``node``'s parent to ``node`` (0 at a root)."""
        up = int(self.parent[node])
        return (
            0.0
            if up < 0
            else float(np.linalg.norm(self.points_lps_mm[node] - self.points_lps_mm[up]))
        )

    def branch_mm(self, child: int) -> float:
        """Longest way down a branch that starts with ``child`` (its first step included)."""
        return self.step_mm(child) + float(self.longest_mm[child])

    def down(self, node: int, length_mm: float) -> list[int]:
        """Nodes from ``node`` along the longest way down, about ``length_mm`` long."""
        path, walked = [node], 0.0
        while walked < length_mm and self.best[path[-1]] >= 0:
            nxt = int(self.best[path[-1]])
            walked += self.step_mm(nxt)
            path.append(nxt)
        return path

    def up(self, node: int, length_mm: float) -> int:
        """The ancestor about ``length_mm`` above ``node`` (the root if nearer)."""
        walked = 0.0
        while walked < length_mm and self.parent[node] >= 0:
            walked += self.step_mm(node)
            node = int(self.parent[node])
        return node

    def path_from_root(self, node: int) -> list[int]:
        path = [node]
        while self.parent[path[-1]] >= 0:
            path.append(int(self.parent[path[-1]]))
        return path[::-1]

    def follow(self, node: int, choose: Callable[[int, list[int]], int]) -> list[int]:
        """Nodes from ``node`` to a free end; ``choose(junction, children)`` picks the way."""
        path = [node]
        while self.children[path[-1]]:
            kids = self.children[path[-1]]
            path.append(kids[0] if len(kids) == 1 else choose(path[-1], kids))
        return path

    def subtree(self, node: int) -> list[int]:
        found, stack = [], [node]
        while stack:
            here = stack.pop()
            found.append(here)
            stack.extend(self.children[here])
        return found

    def arc_mm(self, path: list[int]) -> np.ndarray:
        """Arc length along a path of nodes, from its first node."""
        pts = self.points_lps_mm[path]
        steps = np.linalg.norm(np.diff(pts, axis=0), axis=1) if len(path) > 1 else np.zeros(0)
        return np.concatenate([[0.0], np.cumsum(steps)])

    def direction(self, node: int, length_mm: float) -> np.ndarray:
        """Unit vector from ``node`` to the point ``length_mm`` down its longest way."""
        path = self.down(node, length_mm)
        return _unit(self.points_lps_mm[path[-1]] - self.points_lps_mm[node])

    def heading(self, node: int, length_mm: float) -> np.ndarray:
        """Unit vector of the course arriving at ``node`` over the last ``length_mm``."""
        return _unit(self.points_lps_mm[node] - self.points_lps_mm[self.up(node, length_mm)])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else np.zeros(3)
