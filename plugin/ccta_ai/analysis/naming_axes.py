"""The heart's axes for naming, estimated from the coronary tree itself.

``long_axis`` points from the base to the apex, ``towards_rv`` from the left towards the
right ventricle and ``towards_diaphragm = long_axis x towards_rv`` to the diaphragmatic
(inferior) surface. ``phi`` is the angle around the long axis from ``towards_rv``
towards ``towards_diaphragm``: the anterior interventricular groove lies near -85°, the
acute margin of the RV near 0°, the posterior groove near +75° and the LV lateral wall
near ±180°.

The prior is a typical heart in patient LPS (apex 45° left of anterior, 35° below the
axial plane); :meth:`HeartAxes.refined_by_lad` then takes the long axis from the tree's
centre to the LAD's apical end and the roll from the LAD lying in the anterior groove,
so that hearts turned by ±20° or more are named the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ANTERIOR_GROOVE_DEG = -85.0
POSTERIOR_GROOVE_DEG = 75.0
_PRIOR_AZIMUTH_DEG = 45.0
_PRIOR_ELEVATION_DEG = 35.0
_MAX_CORRECTION_DEG = 40.0
_MIN_LAD_MM = 40.0
_MIN_APEX_REACH = 0.8  # of the tree's most apical point, for the LAD to mark the apex


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    x, y, z = _unit(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1.0 - np.cos(angle_rad)) * (k @ k)


def _turn_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` to unit vector ``b``."""
    axis = np.cross(a, b)
    sin, cos = float(np.linalg.norm(axis)), float(a @ b)
    if sin < 1e-9:
        return np.eye(3)
    return _rotation(axis, float(np.arctan2(sin, cos)))


@dataclass
class HeartAxes:
    """An orthonormal heart frame centred in the coronary tree (LPS unit vectors)."""

    centre_lps_mm: np.ndarray
    long_axis: np.ndarray
    towards_rv: np.ndarray
    towards_diaphragm: np.ndarray
    tree_points_lps_mm: np.ndarray = field(repr=False)
    posterior_groove_deg: float = POSTERIOR_GROOVE_DEG

    @property
    def lad_direction(self) -> np.ndarray:
        """Where an LAD runs from the LM bifurcation: to the apex, along the front."""
        return _unit(self.long_axis - self.towards_diaphragm)

    @property
    def apex_height_mm(self) -> float:
        """Height of the tree's most apical point above the centre."""
        return float(self.height_mm(self.tree_points_lps_mm).max())

    def height_mm(self, points: np.ndarray) -> np.ndarray:
        return np.asarray((np.asarray(points) - self.centre_lps_mm) @ self.long_axis)

    def phi_deg(self, points: np.ndarray) -> np.ndarray:
        rel = np.asarray(points) - self.centre_lps_mm
        return np.degrees(np.arctan2(rel @ self.towards_diaphragm, rel @ self.towards_rv))

    def mean_phi_deg(self, points: np.ndarray) -> float:
        angles = np.radians(self.phi_deg(points))
        return float(np.degrees(np.arctan2(np.sin(angles).mean(), np.cos(angles).mean())))

    def inward(self, point: np.ndarray) -> np.ndarray:
        """Unit vector from ``point`` towards the long axis, across it."""
        rel = np.asarray(point) - self.centre_lps_mm
        return -_unit(rel - (rel @ self.long_axis) * self.long_axis)

    def refined_by_lad(self, lad_lps_mm: np.ndarray) -> HeartAxes | None:
        """These axes turned so that the long axis ends at the LAD's most apical point and
        the LAD lies in the anterior groove; ``None`` when the LAD is too short to tell
        or the correction would be implausibly large."""
        lad = np.asarray(lad_lps_mm, dtype=np.float64).reshape(-1, 3)
        if len(lad) < 2 or np.linalg.norm(np.diff(lad, axis=0), axis=1).sum() < _MIN_LAD_MM:
            return None
        apex = lad[int(np.argmax(self.height_mm(lad)))]
        if float(self.height_mm(apex[None])[0]) < _MIN_APEX_REACH * self.apex_height_mm:
            return None  # the LAD stops short of the apex (occluded, unsegmented)
        long_axis = _unit(apex - self.centre_lps_mm)
        cos = float(np.clip(long_axis @ self.long_axis, -1.0, 1.0))
        if np.degrees(np.arccos(cos)) > _MAX_CORRECTION_DEG:
            return None
        turn = _turn_between(self.long_axis, long_axis)
        turned = HeartAxes(
            self.centre_lps_mm, long_axis, turn @ self.towards_rv,
            turn @ self.towards_diaphragm, self.tree_points_lps_mm,
        )  # fmt: skip
        return turned.rolled_by_lad(lad)

    def tilted_to_plane(self, groove_lps_mm: np.ndarray) -> HeartAxes | None:
        """These axes turned so that the long axis is the normal of the plane that best
        fits the AV-groove arteries (``None`` when they span no plane or the turn would
        be implausibly large)."""
        points = np.asarray(groove_lps_mm, dtype=np.float64).reshape(-1, 3)
        if len(points) < 20:
            return None
        centred = points - points.mean(axis=0)
        _, spread, rows = np.linalg.svd(centred, full_matrices=False)
        if spread[1] < 0.3 * spread[0]:
            return None  # a line, not a ring
        normal = rows[2] if rows[2] @ self.long_axis >= 0 else -rows[2]
        if np.degrees(np.arccos(np.clip(normal @ self.long_axis, -1.0, 1.0))) > 30.0:
            return None
        turn = _turn_between(self.long_axis, normal)
        return HeartAxes(
            self.centre_lps_mm, normal, turn @ self.towards_rv, turn @ self.towards_diaphragm,
            self.tree_points_lps_mm,
        )  # fmt: skip

    def centred_on_ring(self, groove_lps_mm: np.ndarray, lad_lps_mm: np.ndarray) -> HeartAxes:
        """These axes moved onto the centre of the circle that best fits the AV-groove
        arteries (seen along the long axis), then rolled so that the LAD lies in the
        anterior groove."""
        points = np.asarray(groove_lps_mm, dtype=np.float64).reshape(-1, 3)
        rel = points - self.centre_lps_mm
        x, y = rel @ self.towards_rv, rel @ self.towards_diaphragm
        design = np.stack([2.0 * x, 2.0 * y, np.ones_like(x)], axis=1)
        (cx, cy, _), *_ = np.linalg.lstsq(design, x**2 + y**2, rcond=None)
        centre = self.centre_lps_mm + cx * self.towards_rv + cy * self.towards_diaphragm
        moved = HeartAxes(
            centre, self.long_axis, self.towards_rv, self.towards_diaphragm,
            self.tree_points_lps_mm,
        )  # fmt: skip
        return moved.rolled_by_lad(np.asarray(lad_lps_mm, dtype=np.float64).reshape(-1, 3))

    def rolled_by_lad(self, lad_lps_mm: np.ndarray) -> HeartAxes:
        """Rolled so that the LAD, from its origin to its apical end, runs from the
        anterior groove towards the long axis: along ``towards_diaphragm``."""
        lad = np.asarray(lad_lps_mm, dtype=np.float64).reshape(-1, 3)
        if len(lad) < 2:
            return self
        apex = lad[int(np.argmax(self.height_mm(lad)))]
        across = apex - lad[0]
        across = across - (across @ self.long_axis) * self.long_axis
        if np.linalg.norm(across) < 10.0:
            return self
        towards_diaphragm = _rotation(
            self.long_axis, np.radians(90.0 + ANTERIOR_GROOVE_DEG)
        ) @ _unit(across)
        towards_rv = np.cross(towards_diaphragm, self.long_axis)
        return HeartAxes(
            self.centre_lps_mm, self.long_axis, towards_rv, towards_diaphragm,
            self.tree_points_lps_mm,
        )  # fmt: skip

    def rolled_to_septum(self, lad_lps_mm: np.ndarray, pda_lps_mm: np.ndarray) -> HeartAxes | None:
        """These axes turned about the long axis so that ``towards_diaphragm`` runs from
        the anterior groove (LAD) to the posterior groove (PDA), across the septum."""
        lad = np.asarray(lad_lps_mm, dtype=np.float64).reshape(-1, 3)
        pda = np.asarray(pda_lps_mm, dtype=np.float64).reshape(-1, 3)
        if len(lad) == 0 or len(pda) == 0:
            return None
        low, high = self.height_mm(pda).min(), self.height_mm(pda).max()
        level = self.height_mm(lad)
        beside = lad[(level >= low - 5.0) & (level <= high + 5.0)]
        across = pda.mean(axis=0) - (beside if len(beside) else lad).mean(axis=0)
        across = across - (across @ self.long_axis) * self.long_axis
        if np.linalg.norm(across) < 10.0:
            return None
        towards_diaphragm = _unit(across)
        if np.degrees(np.arccos(np.clip(towards_diaphragm @ self.towards_diaphragm, -1, 1))) > 45:
            return None
        towards_rv = np.cross(towards_diaphragm, self.long_axis)
        return HeartAxes(
            self.centre_lps_mm, self.long_axis, towards_rv, towards_diaphragm,
            self.tree_points_lps_mm,
        )  # fmt: skip


def prior_axes(points_lps_mm: np.ndarray) -> HeartAxes:
    """A typical heart's axes, centred on the centroid of ``points_lps_mm``."""
    points = np.asarray(points_lps_mm, dtype=np.float64).reshape(-1, 3)
    az, el = np.radians(_PRIOR_AZIMUTH_DEG), np.radians(_PRIOR_ELEVATION_DEG)
    long_axis = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])
    hint = np.array([-1.0, -1.0, 0.0])  # the RV lies to the right and in front
    towards_rv = _unit(hint - (hint @ long_axis) * long_axis)
    towards_diaphragm = np.cross(long_axis, towards_rv)
    centre = points.mean(axis=0) if len(points) else np.zeros(3)
    return HeartAxes(centre, long_axis, towards_rv, towards_diaphragm, points)
