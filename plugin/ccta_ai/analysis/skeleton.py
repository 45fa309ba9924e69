"""Voxel-level centrelines of a lumen mask: TEASAR on a sparse 26-neighbour graph.

Only the mask's voxels are stored (a coronary tree fills well under 1% of a CT grid),
so the cost follows the mask, not the grid. Wall distances come from a KD-tree of the
background voxels touching the mask (exact, anisotropic spacing included).

The algorithm is TEASAR (Sato et al., "TEASAR: tree-structure extraction algorithm for
accurate and robust skeletons", 2000), as used by kimimaro: from a root voxel,
repeatedly take the geodesically farthest voxel not yet explained, follow the cheapest
path back (edge costs grow near the wall, which keeps paths centred), and mark a tube
around that path as explained. All paths come from one shortest-path tree, so side
paths meet their parent exactly. A side path shorter than a few parent radii, or one
that never leaves its parent's tube, is a spur of the surface and is dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from ccta_ai.analysis.graph import CenterlineGraph, Edge
from ccta_ai.imaging.volume import Volume

# The 13 "forward" neighbour offsets of the 26-neighbourhood (the other 13 are their negatives).
_FORWARD_OFFSETS = np.array(
    [
        (dk, dr, dc)
        for dk in (-1, 0, 1)
        for dr in (-1, 0, 1)
        for dc in (-1, 0, 1)
        if (dk, dr, dc) > (0, 0, 0)
    ]
)
_FACE_OFFSETS = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)])


_THICK_MARGIN_MM = 1.0


@dataclass(frozen=True)
class SkeletonOptions:
    """TEASAR parameters.

    Attributes:
        centering_power: edge cost grows as ``(1 / distance to the wall) ** power``.
        invalidation_scale: a path explains voxels within ``scale * radius + const``.
        invalidation_const_mm: see ``invalidation_scale``.
        spur_radius_factor: a side path shorter than this many radii at its junction
            is a surface spur.
        min_excursion_radii: a side path that never gets farther than this many parent
            radii from its parent is a spur.
        min_branch_mm: side paths shorter than this are always spurs.
        max_paths_per_component: safety limit for blob-like components.
    """

    centering_power: float = 4.0
    invalidation_scale: float = 1.5
    invalidation_const_mm: float = 1.0
    spur_radius_factor: float = 3.0
    min_excursion_radii: float = 2.0
    min_branch_mm: float = 2.0
    max_paths_per_component: int = 400


@dataclass
class SparseMask:
    """The voxels of a mask with their neighbour graph and wall distances.

    Attributes:
        index: ``(n, 3)`` integer voxel indices ``(k, r, c)`` on the volume grid.
        lps_mm: ``(n, 3)`` voxel centres in LPS mm.
        wall_mm: distance from each voxel centre to the nearest background voxel centre.
        component: connected-component label (26-connectivity) of each voxel.
        step_mm: sparse symmetric ``(n, n)`` matrix of neighbour distances in mm.
        background: KD-tree of the background voxels touching the mask (LPS mm);
            the distance to it measures the lumen radius anywhere.
    """

    index: np.ndarray
    lps_mm: np.ndarray
    wall_mm: np.ndarray
    component: np.ndarray
    step_mm: csr_matrix
    background: cKDTree

    @property
    def n_components(self) -> int:
        return int(self.component.max()) + 1 if len(self.component) else 0

    def wall_distance_mm(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Distance from arbitrary LPS points to the nearest background voxel centre."""
        distances, _ = self.background.query(np.asarray(points_lps_mm, dtype=np.float64))
        return np.asarray(distances, dtype=np.float64)


def sparse_mask(
    mask: np.ndarray, volume: Volume, max_radius_mm: float | None = None
) -> tuple[SparseMask | None, int]:
    """Index the voxels of ``mask`` (bool, on ``volume``'s grid); ``None`` when empty.

    With ``max_radius_mm``, parts thicker than a vessel (a leak into a heart chamber or
    the aorta) are removed first: every voxel within ``max_radius_mm`` (plus a 1 mm
    margin) of a voxel that is farther than that from the wall. Returns the index and
    the number of voxels removed.
    """
    corner, box = _bounding_box(mask)
    if box is None:
        return None, 0
    padded = np.pad(box, 1)
    shape = np.array(padded.shape)
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    origin = corner - 1  # the padding shifts local indices by one
    linear = np.flatnonzero(padded)
    # Distances beyond the largest radius are not needed (inf), and a bounded search is
    # fast even inside a large blob.
    reach_mm = np.inf if max_radius_mm is None else max_radius_mm + 1.0
    background, wall = _walls(linear, strides, padded.shape, origin, volume, reach_mm)
    removed = 0
    if max_radius_mm is not None and np.any(wall > max_radius_mm):
        lps = volume.index_to_lps(np.stack(np.unravel_index(linear, padded.shape), 1) + origin)
        reach = max_radius_mm + _THICK_MARGIN_MM
        near_thick, _ = cKDTree(lps[wall > max_radius_mm]).query(lps, distance_upper_bound=reach)
        keep = near_thick > reach
        removed = int((~keep).sum())
        linear = linear[keep]
        if len(linear) == 0:
            return None, removed
        background, wall = _walls(linear, strides, padded.shape, origin, volume, reach_mm)
    index = np.stack(np.unravel_index(linear, padded.shape), axis=1) + origin
    step = _neighbour_graph(linear, strides, volume.spacing_mm)
    _, component = connected_components(step, directed=False)
    voxels = SparseMask(index, volume.index_to_lps(index), wall, component, step, background)
    return voxels, removed


def _walls(
    linear: np.ndarray,
    strides: np.ndarray,
    shape: tuple[int, ...],
    origin: np.ndarray,
    volume: Volume,
    reach_mm: float,
) -> tuple[cKDTree, np.ndarray]:
    """KD-tree of the background voxels touching the mask, and each voxel's distance to
    it (``inf`` beyond ``reach_mm``)."""
    outside = []
    for offset in _FACE_OFFSETS:
        neighbours = linear + int(offset @ strides)
        found, _ = _lookup(linear, neighbours)
        outside.append(neighbours[~found])
    background_linear = np.unique(np.concatenate(outside))
    background_index = np.stack(np.unravel_index(background_linear, shape), axis=1) + origin
    background = cKDTree(volume.index_to_lps(background_index))
    voxel_index = np.stack(np.unravel_index(linear, shape), axis=1) + origin
    wall, _ = background.query(volume.index_to_lps(voxel_index), distance_upper_bound=reach_mm)
    return background, np.asarray(wall)


def _neighbour_graph(linear: np.ndarray, strides: np.ndarray, spacing: np.ndarray) -> csr_matrix:
    """Symmetric sparse matrix of the distances (mm) between 26-neighbour voxels."""
    rows, cols, lengths = [], [], []
    for offset in _FORWARD_OFFSETS:
        found, position = _lookup(linear, linear + int(offset @ strides))
        rows.append(np.flatnonzero(found))
        cols.append(position[found])
        lengths.append(np.full(int(found.sum()), float(np.linalg.norm(offset * spacing))))
    row, col, length = np.concatenate(rows), np.concatenate(cols), np.concatenate(lengths)
    count = len(linear)
    return csr_matrix(
        (
            np.concatenate([length, length]),
            (np.concatenate([row, col]), np.concatenate([col, row])),
        ),
        shape=(count, count),
    )


def _bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    slices = []
    corner = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(np.any(mask, axis=others))
        if len(present) == 0:
            return np.zeros(3, dtype=int), None
        slices.append(slice(int(present[0]), int(present[-1]) + 1))
        corner.append(int(present[0]))
    return np.array(corner), np.asarray(mask[tuple(slices)], dtype=bool)


def _lookup(sorted_values: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    position = np.searchsorted(sorted_values, queries)
    position = np.minimum(position, len(sorted_values) - 1)
    return sorted_values[position] == queries, position


def farthest_voxels(voxels: SparseMask, starts: list[int]) -> np.ndarray:
    """Per component of the given start voxels, the voxel geodesically farthest from it."""
    distance = dijkstra(voxels.step_mm, directed=False, indices=starts, min_only=True)
    result = []
    for start in starts:
        members = np.flatnonzero(voxels.component == voxels.component[start])
        result.append(members[int(np.argmax(distance[members]))])
    return np.array(result, dtype=int)


def teasar(
    voxels: SparseMask, roots: dict[int, int], options: SkeletonOptions | None = None
) -> dict[int, CenterlineGraph]:
    """Centreline graphs of the components in ``roots`` ({component: root voxel}).

    Each graph's root node is node 0, at its root voxel; radii are wall distances.
    """
    options = options or SkeletonOptions()
    if not roots:
        return {}
    starts = list(roots.values())
    geodesic = dijkstra(voxels.step_mm, directed=False, indices=starts, min_only=True)
    penalty = (1.0 / np.maximum(voxels.wall_mm, 1e-3)) ** options.centering_power
    centred = voxels.step_mm.tocoo()
    cost = csr_matrix(
        (
            centred.data * 0.5 * (penalty[centred.row] + penalty[centred.col]),
            (centred.row, centred.col),
        ),
        shape=centred.shape,
    )
    _, predecessor, _ = dijkstra(
        cost, directed=False, indices=starts, min_only=True, return_predecessors=True
    )
    graphs = {}
    for component, root in roots.items():
        members = np.flatnonzero(voxels.component == component)
        paths = _component_paths(voxels, members, root, geodesic, predecessor, options)
        graphs[component] = _paths_to_graph(voxels, paths, root)
    return graphs


def _component_paths(
    voxels: SparseMask,
    members: np.ndarray,
    root: int,
    geodesic: np.ndarray,
    predecessor: np.ndarray,
    options: SkeletonOptions,
) -> list[list[int]]:
    """TEASAR paths (voxel ids from their junction, or the root, to their tip)."""
    tree = cKDTree(voxels.lps_mm[members])
    explained = np.zeros(len(members), dtype=bool)
    reach = np.where(np.isfinite(geodesic[members]), geodesic[members], -1.0)
    on_skeleton: dict[int, int] = {}  # voxel -> index of the path it belongs to
    paths: list[list[int]] = []
    for _ in range(options.max_paths_per_component):
        candidates = np.where(explained, -np.inf, reach)
        target = int(np.argmax(candidates))
        if not np.isfinite(candidates[target]) or candidates[target] < 0:
            break
        path = [int(members[target])]
        while path[-1] not in on_skeleton and path[-1] != root and predecessor[path[-1]] >= 0:
            path.append(int(predecessor[path[-1]]))
        path.reverse()
        points = voxels.lps_mm[path]
        length = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
        is_spur = bool(paths) and _is_spur(
            voxels, paths[on_skeleton[path[0]]], path, length, options
        )
        radii = options.invalidation_scale * voxels.wall_mm[path] + options.invalidation_const_mm
        # Balls every ~third of the smallest radius apart cover the same tube as all of them.
        keep = _thin_stations(points, 0.3 * float(radii.min()))
        for near in tree.query_ball_point(points[keep], radii[keep]):
            explained[near] = True
        explained[target] = True
        if not is_spur:
            on_skeleton.update((voxel, len(paths)) for voxel in path if voxel not in on_skeleton)
            paths.append(path)
    return paths


def _is_spur(
    voxels: SparseMask,
    parent: list[int],
    path: list[int],
    length_mm: float,
    options: SkeletonOptions,
) -> bool:
    """A side path is a spur when short, or when it never leaves its parent's tube.

    The second rule drops the horns of a crescent-shaped lumen (around an eccentric
    plaque), which can be long but stay within the parent's nominal radius.
    """
    radius = _parent_radius(voxels, parent, path[0])
    if length_mm < max(options.spur_radius_factor * radius, options.min_branch_mm):
        return True
    parent_points = voxels.lps_mm[parent]
    tip_points = voxels.lps_mm[path]
    excursion = np.sqrt(
        ((tip_points[:, None, :] - parent_points[None, :, :]) ** 2).sum(axis=2).min(axis=1).max()
    )
    return bool(excursion < options.min_excursion_radii * radius)


def _parent_radius(
    voxels: SparseMask, parent: list[int], junction: int, reach_mm: float = 5.0
) -> float:
    """Largest wall distance on the parent path within ``reach_mm`` of the junction.

    A narrowing at the junction (a plaque) must not make its horns look like branches.
    """
    points = voxels.lps_mm[parent]
    near = np.linalg.norm(points - voxels.lps_mm[junction], axis=1) <= reach_mm
    return float(voxels.wall_mm[np.asarray(parent)[near]].max())


def _thin_stations(points: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Indices of points at least ``spacing_mm`` of arc length apart (ends kept)."""
    if len(points) < 3:
        return np.arange(len(points))
    s_mm = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    bins = np.floor(s_mm / max(spacing_mm, 1e-6)).astype(int)
    first = np.flatnonzero(np.diff(bins, prepend=-1) > 0)
    return np.unique(np.concatenate([first, [len(points) - 1]]))


def _paths_to_graph(voxels: SparseMask, paths: list[list[int]], root: int) -> CenterlineGraph:
    parent: dict[int, int] = {}
    children: dict[int, list[int]] = {root: []}
    for path in paths:
        for before, after in itertools.pairwise(path):
            if after in parent or after == root:
                continue
            parent[after] = before
            children.setdefault(before, []).append(after)
            children.setdefault(after, [])
    node_voxels = [root] + [v for v, kids in children.items() if v != root and len(kids) != 1]
    node_of = {v: i for i, v in enumerate(node_voxels)}
    edges = []
    for start in node_voxels:
        for child in children[start]:
            chain = [start, child]
            while chain[-1] not in node_of:
                chain.append(children[chain[-1]][0])
            edges.append(
                Edge(
                    node_of[start],
                    node_of[chain[-1]],
                    voxels.lps_mm[chain].copy(),
                    voxels.wall_mm[chain].copy(),
                    np.zeros(len(chain), dtype=bool),
                )
            )
    return CenterlineGraph(voxels.lps_mm[node_voxels].copy(), edges, root=0)
