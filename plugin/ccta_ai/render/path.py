"""A vessel's path from its ostium, resampled evenly, with a rotation-minimising frame.

A side branch's CPR starts at the tree's ostium: the path is its ancestors' centrelines
up to the branch points, then its own. Arc lengths of the :class:`Findings` (measured
from the vessel's own first point) map to the path by adding :attr:`VesselPath.offset_mm`.

The frame is the analysis' double-reflection rotation-minimising frame (Wang, Jüttler,
Zheng and Liu, ACM Trans. Graph. 27(1), 2008): the normals do not twist around the
curve, so a straightened CPR does not spiral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccta_ai.analysis.findings import Findings, Vessel
from ccta_ai.analysis.geometry import rotation_minimizing_frames
from ccta_ai.errors import InputError


@dataclass(frozen=True)
class VesselPath:
    """Evenly spaced points along a vessel (and its ancestors), proximal → distal.

    Attributes:
        points_lps_mm: ``(n, 3)`` positions.
        s_mm: ``(n,)`` arc length from the path's first point.
        tangents / normals / binormals: ``(n, 3)`` unit vectors of the frame.
        segment: ``(n,)`` SCCT segment number per point (0 where unlabelled).
        offset_mm: arc length on the path of the vessel's own first point.
        vessel_ids: the vessels on the path, ostium first (the vessel itself last).
        ends_mm: per vessel on the path, the arc length along it (from its own first
            point) where the path leaves it for the next one; ``inf`` for the last.
    """

    points_lps_mm: np.ndarray
    s_mm: np.ndarray
    tangents: np.ndarray
    normals: np.ndarray
    binormals: np.ndarray
    segment: np.ndarray
    offset_mm: float
    vessel_ids: tuple[int, ...]
    ends_mm: tuple[float, ...] = ()

    @property
    def length_mm(self) -> float:
        return float(self.s_mm[-1])

    def at(self, s_mm: float) -> int:
        """Index of the point nearest to arc length ``s_mm`` (clipped to the path)."""
        return int(np.clip(np.rint(np.interp(s_mm, self.s_mm, np.arange(len(self.s_mm)))),
                           0, len(self.s_mm) - 1))

    def direction(self, index: int, angle_deg: float) -> np.ndarray:
        """Unit vector ``cos(a) normal + sin(a) binormal`` at point ``index``."""
        angle = np.deg2rad(angle_deg)
        return np.cos(angle) * self.normals[index] + np.sin(angle) * self.binormals[index]


def arc_length_mm(points: np.ndarray) -> np.ndarray:
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _ancestry(findings: Findings, vessel: Vessel) -> list[tuple[Vessel, int | None]]:
    """``[(vessel, last point index or None for all)]`` from the ostium down to ``vessel``."""
    chain: list[tuple[Vessel, int | None]] = [(vessel, None)]
    seen = {vessel.vessel_id}
    current = vessel
    while current.parent_id is not None:
        if current.parent_id in seen or not 0 <= current.parent_id < len(findings.vessels):
            raise InputError(f"vessel {vessel.vessel_id}: bad parent chain at {current.parent_id}")
        parent = findings.vessels[current.parent_id]
        last = current.parent_point
        chain.append((parent, None if last is None else int(last)))
        seen.add(parent.vessel_id)
        current = parent
    return chain[::-1]


def vessel_path(
    findings: Findings, vessel: Vessel, step_mm: float = 0.2, from_ostium: bool = True
) -> VesselPath:
    """The path of ``vessel`` resampled every ``step_mm``.

    Raises:
        InputError: the vessel has fewer than two distinct centreline points.
    """
    chain = _ancestry(findings, vessel) if from_ostium else [(vessel, None)]
    pieces: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    offset_mm = 0.0
    ends_mm: list[float] = []
    for member, last in chain:
        points = np.asarray(member.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3)
        segment = np.array([0 if n is None else n for n in member.centerline.segment] or
                           [0] * len(points), dtype=np.int32)
        if last is not None:
            points, segment = points[: last + 1], segment[: last + 1]
        ends_mm.append(float(arc_length_mm(points)[-1]) if last is not None else float("inf"))
        if member is vessel and pieces:
            offset_mm = float(arc_length_mm(np.concatenate(pieces))[-1])
            offset_mm += float(np.linalg.norm(points[0] - pieces[-1][-1]))
        pieces.append(points)
        labels.append(segment)
    points = np.concatenate(pieces)
    segment = np.concatenate(labels)
    keep = np.concatenate([[True], np.linalg.norm(np.diff(points, axis=0), axis=1) > 1e-6])
    points, segment = points[keep], segment[keep]
    if len(points) < 2:
        raise InputError(f"vessel {vessel.vessel_id} ({vessel.name!r}) has fewer than 2 points")
    s_old = arc_length_mm(points)
    s_new = np.arange(0.0, s_old[-1] + 1e-9, step_mm)
    resampled = np.stack([np.interp(s_new, s_old, points[:, i]) for i in range(3)], axis=1)
    nearest = np.clip(np.searchsorted(s_old, s_new), 0, len(s_old) - 1)
    tangents, normals, binormals = rotation_minimising_frame(resampled)
    ids = tuple(member.vessel_id for member, _ in chain)
    return VesselPath(resampled, s_new, tangents, normals, binormals, segment[nearest],
                      offset_mm, ids, tuple(ends_mm))


def _reference_normal(tangent: np.ndarray) -> np.ndarray:
    """A deterministic first normal: the LPS axis least aligned with the tangent,
    made orthogonal to it (anterior, -y, first: a CPR at 0° then looks from the front
    for vessels running mostly head-feet or left-right)."""
    candidates = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    choice = candidates[int(np.argmin(np.abs(candidates @ tangent)))]
    normal = choice - (choice @ tangent) * tangent
    return np.asarray(normal / np.linalg.norm(normal))


def rotation_minimising_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tangents, normals and binormals (each ``(n, 3)``) along ``points`` ``(n, 3)``:
    :func:`ccta_ai.analysis.geometry.rotation_minimizing_frames`, turned about the curve
    so that the first normal is :func:`_reference_normal` (a rotation-minimising frame
    stays one when every normal turns by the same angle)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) < 2:
        raise InputError(f"a frame needs at least 2 points, got {len(points)}")
    tangents, normals_u, normals_v = rotation_minimizing_frames(points)
    wanted = _reference_normal(tangents[0])
    angle = np.arctan2(float(wanted @ normals_v[0]), float(wanted @ normals_u[0]))
    normals = np.cos(angle) * normals_u + np.sin(angle) * normals_v
    binormals = np.cross(tangents, normals)
    return tangents, normals, binormals
