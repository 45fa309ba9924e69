"""The heart, the aortic root and the great vessels, in the phantom's body frame (mm).

Ventricles are written in the heart's own frame ``(h, a, b)``: ``h`` along the long
axis from the centre of the atrioventricular (AV) plane to the apex, ``a`` towards the
right ventricle, ``b = h x a`` towards the diaphragmatic (inferior) surface. With the
default angles the long axis points anterior, left and inferior, as in a real chest.
Atria and great vessels are written as offsets in the body frame for the canonical
orientation and turn with the heart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccta_ai.phantom.geometry import orthonormal_frame, rotation_about, spline_through, unit
from ccta_ai.phantom.params import HeartParams
from ccta_ai.phantom.shapes import Ellipsoid, HalfSpace, Intersection, Shape, Tube, Union, sphere

CANONICAL = (45.0, 35.0, 0.0)  # azimuth, elevation, roll (degrees)
BASE_PLANE_H = -2.0  # AV plane, in the heart frame
_BASE_CENTRE = np.array([8.0, -8.0, 0.0])  # body frame, before the per-seed jitter


def heart_frame(azimuth_deg: float, elevation_deg: float, roll_deg: float) -> np.ndarray:
    """Columns: long axis (base to apex), towards the RV, towards the diaphragm."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    u = np.array([np.sin(az) * np.cos(el), -np.cos(az) * np.cos(el), -np.sin(el)])
    frame = orthonormal_frame(u, np.array([-1.0, -1.0, 0.0]))
    roll = rotation_about(u, np.radians(roll_deg))
    return np.stack([u, roll @ frame[:, 1], roll @ frame[:, 2]], axis=1)


@dataclass(frozen=True)
class Bullet:
    """An elongated ellipsoid in the heart frame: centre ``(h, a, b)``, semi-axes,
    straight length ``2 * elongation`` along ``h``."""

    center: tuple[float, float, float]
    semi: tuple[float, float, float]
    elongation: float


LV_OUTER = Bullet((20.0, -8.0, 0.0), (58.0, 31.0, 32.0), 12.0)
LV_CAVITY = Bullet((22.0, -8.0, 0.0), (50.0, 20.5, 21.5), 12.0)
RV_OUTER = Bullet((18.0, 19.0, -3.0), (44.0, 23.0, 37.0), 10.0)
RV_CAVITY = Bullet((18.0, 19.0, -3.0), (40.0, 19.5, 33.0), 10.0)


@dataclass
class Heart:
    """Geometry of one heart; shapes are in the body frame."""

    params: HeartParams
    origin: np.ndarray
    frame: np.ndarray
    turn: np.ndarray  # rotation from the canonical orientation to this heart's
    scale: float
    shapes: dict[str, Shape] = field(default_factory=dict)
    points: dict[str, np.ndarray] = field(default_factory=dict)  # landmarks
    directions: dict[str, np.ndarray] = field(default_factory=dict)
    tubes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def at(self, hab: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Body-frame point of heart-frame coordinates (unscaled mm)."""
        return self.origin + self.frame @ (self.scale * np.asarray(hab, dtype=np.float64))

    def at_offset(self, offset: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Body-frame point of a canonical body-frame offset from the base centre."""
        return self.origin + self.turn @ (self.scale * np.asarray(offset, dtype=np.float64))

    def local(self, points: np.ndarray) -> np.ndarray:
        """Heart-frame coordinates (unscaled) of body-frame points ``(..., 3)``."""
        return (np.asarray(points) - self.origin) @ self.frame / self.scale

    def bullet(self, spec: Bullet, grow_mm: float = 0.0) -> Ellipsoid:
        semi = np.asarray(spec.semi) * self.scale + grow_mm
        return Ellipsoid(self.at(spec.center), self.frame, semi, spec.elongation * self.scale)

    def base_cut(self, h: float) -> HalfSpace:
        """Keeps the side of the plane ``h = const`` towards the apex."""
        return HalfSpace(self.at((h, 0.0, 0.0)), -self.frame[:, 0])

    def ring_point(self, spec: Bullet, h: float, phi: np.ndarray) -> np.ndarray:
        """Points on the cross-section of a bullet at height ``h`` (angle from ``+a``
        towards ``+b``)."""
        rel = h - spec.center[0]
        rel -= np.clip(rel, -spec.elongation, spec.elongation)
        f = np.sqrt(max(1.0 - (rel / spec.semi[0]) ** 2, 0.05))
        phi = np.atleast_1d(phi)
        hab = np.stack(
            [
                np.full_like(phi, h),
                spec.center[1] + spec.semi[1] * f * np.cos(phi),
                spec.center[2] + spec.semi[2] * f * np.sin(phi),
            ],
            axis=1,
        )
        return self.origin + (self.scale * hab) @ self.frame.T

    def groove_angle(self, h: float, anterior: bool) -> float | None:
        """Angle on the LV ring where the RV wall meets it: the interventricular groove
        (anterior: towards ``-b``). ``None`` past the end of the RV."""
        sign = -1.0 if anterior else 1.0
        phi = sign * np.linspace(0.0, np.pi, 361)
        inside = self.shapes["rv_outer_full"].sdf_points(self.ring_point(LV_OUTER, h, phi)) < 0
        if not inside[0]:
            return None
        first_out = int(np.argmin(inside))
        return float(phi[first_out]) if first_out > 0 else None

    def bed_sdf(self, points: np.ndarray) -> np.ndarray:
        """Distance to the surface the coronaries lie on (ventricles and atria)."""
        return self.shapes["bed"].sdf_points(points)


def build_heart(params: HeartParams) -> Heart:
    frame = heart_frame(params.azimuth_deg, params.elevation_deg, params.roll_deg)
    turn = frame @ heart_frame(*CANONICAL).T
    heart = Heart(
        params=params,
        origin=_BASE_CENTRE + np.asarray(params.base_offset_mm),
        frame=frame,
        turn=turn,
        scale=params.scale,
    )
    _chambers(heart)
    _aortic_root(heart)
    _great_vessels(heart)
    s = heart.shapes
    s["bed"] = Union([s["lv_outer"], s["rv_outer"], s["la_outer"], s["ra_outer"]], k_mm=6.0)
    return heart


def _chambers(heart: Heart) -> None:
    s, sc = heart.shapes, heart.scale
    s["lv_outer"] = Intersection([heart.bullet(LV_OUTER), heart.base_cut(BASE_PLANE_H - 3)])
    s["lv_cavity"] = Intersection([heart.bullet(LV_CAVITY), heart.base_cut(BASE_PLANE_H)])
    s["rv_outer_full"] = heart.bullet(RV_OUTER)
    s["rv_outer"] = Intersection([s["rv_outer_full"], heart.base_cut(BASE_PLANE_H - 3)])
    rv_cavity = Intersection([heart.bullet(RV_CAVITY), heart.base_cut(BASE_PLANE_H)])
    s["rv_cavity"] = rv_cavity  # painted before the LV, which then takes the septum
    # Papillary muscles of the LV, along the long axis near the free wall.
    s["papillary"] = Union(
        [
            Ellipsoid(heart.at((48.0, -20.0, -9.0)), heart.frame, np.array([13, 4.5, 5.0]) * sc),
            Ellipsoid(heart.at((50.0, -17.0, 11.0)), heart.frame, np.array([12, 4.5, 5.0]) * sc),
        ]
    )
    turn = heart.turn
    atria = {
        "la": ((2.0, 22.0, 8.0), (26.0, 17.0, 19.0)),
        "ra": ((-38.0, 2.0, 2.0), (21.0, 22.0, 27.0)),
    }
    for name, (offset, semi) in atria.items():
        centre = heart.at_offset(offset)
        s[f"{name}_outer"] = Ellipsoid(centre, turn, np.asarray(semi) * sc + 2.0)
        s[f"{name}_blood"] = Ellipsoid(centre, turn, np.asarray(semi) * sc)
    appendages = {
        "laa": ((33.0, -4.0, 17.0), (0.8, -0.6, -0.1), (16.0, 9.0, 7.5)),
        "raa": ((-27.0, -30.0, 15.0), (0.45, -0.85, 0.25), (15.0, 9.5, 8.0)),
    }
    for name, (offset, axis, semi) in appendages.items():
        rotation = orthonormal_frame(turn @ np.asarray(axis), turn @ np.array([0.0, 0.0, 1.0]))
        centre = heart.at_offset(offset)
        s[f"{name}_outer"] = Ellipsoid(centre, rotation, np.asarray(semi) * sc + 1.5)
        s[f"{name}_blood"] = Ellipsoid(centre, rotation, np.asarray(semi) * sc)
    # Open mitral and tricuspid orifices (diastole).
    heart.tubes["mitral"] = (
        np.stack([heart.at_offset((2.0, 20.0, 6.0)), heart.at((0.5, -9.0, 0.0))]),
        np.array([13.0, 13.0]) * sc,
    )
    heart.tubes["tricuspid"] = (
        np.stack([heart.at_offset((-36.0, 0.0, 0.0)), heart.at((0.5, 22.0, 4.0))]),
        np.array([13.0, 13.0]) * sc,
    )
    heart.points["apex"] = heart.at((LV_OUTER.center[0] + LV_OUTER.elongation + 58.0, -8, 0))
    heart.points["lv_center"] = heart.at(LV_CAVITY.center)
    heart.points["rv_center"] = heart.at(RV_CAVITY.center)
    heart.points["base_center"] = heart.origin.copy()


def _aortic_root(heart: Heart) -> None:
    """Aortic valve, the three sinuses of Valsalva and the coronary ostia."""
    s, sc, turn = heart.shapes, heart.scale, heart.turn
    valve = heart.at_offset((-6.0, -10.0, 9.0))
    axis = unit(turn @ np.array([-0.25, -0.30, 0.92]))
    sinus_level = valve + 9.0 * sc * axis
    cusps = {"right": (-0.35, -1.0, 0.0), "left": (1.0, 0.5, 0.0), "non": (-0.8, 0.7, 0.0)}
    sinus_radius = 12.5 * sc
    spheres = []
    for name, hint in cusps.items():
        d = turn @ np.asarray(hint)
        d = unit(d - np.dot(d, axis) * axis)
        centre = sinus_level + 7.0 * sc * d
        spheres.append(sphere(centre, sinus_radius))
        heart.directions[f"cusp_{name}"] = d
        heart.points[f"sinus_{name}"] = centre
    for name in ("left", "right"):
        d = unit(heart.directions[f"cusp_{name}"] + 0.25 * axis)
        heart.points[f"ostium_{name}"] = heart.points[f"sinus_{name}"] + sinus_radius * d
        heart.directions[f"ostium_{name}"] = d
    s["sinuses"] = Union(spheres, k_mm=3.0)
    heart.points["aortic_valve"] = valve
    heart.directions["aortic_root"] = axis
    lvot_start = heart.at((14.0, 0.0, -8.0))
    heart.tubes["lvot"] = (np.stack([lvot_start, valve - 2.0 * axis]), np.array([10.0, 11.0]) * sc)


def _great_vessels(heart: Heart) -> None:
    """Centrelines and radii of the aorta, pulmonary arteries, caval and pulmonary veins.

    Points near the heart turn with it; the arch and the descending aorta are placed
    later relative to the spine (see :mod:`ccta_ai.phantom.body`)."""
    sc = heart.scale
    valve, axis = heart.points["aortic_valve"], heart.directions["aortic_root"]
    heart.tubes["ascending_aorta"] = (
        np.stack([valve, valve + 20 * sc * axis, valve + 45 * sc * axis, valve + 60 * sc * axis]),
        np.array([11.5, 13.0, 14.5, 15.0]) * sc,
    )
    pv = heart.at_offset((9.0, -25.0, 21.0))
    rvot_start = heart.at((12.0, 18.0, -20.0))
    heart.tubes["rvot"] = (np.stack([rvot_start, pv]), np.array([13.0, 12.0]) * sc)
    bifurcation = heart.at_offset((4.0, 0.0, 50.0))
    trunk = spline_through(np.stack([pv, heart.at_offset((8.0, -18.0, 38.0)), bifurcation]), 4.0)
    heart.tubes["pulmonary_trunk"] = (trunk, np.full(len(trunk), 13.0 * sc))
    for side, anchors in {
        "lpa": [(28.0, 14.0, 58.0), (52.0, 24.0, 46.0), (72.0, 34.0, 30.0)],
        "rpa": [(-16.0, 6.0, 52.0), (-44.0, 12.0, 45.0), (-66.0, 20.0, 35.0)],
    }.items():
        pts = spline_through(np.stack([bifurcation] + [heart.at_offset(a) for a in anchors]), 4.0)
        heart.tubes[side] = (pts, np.linspace(11.0, 8.0, len(pts)) * sc)
    heart.points["pulmonary_bifurcation"] = bifurcation
    heart.points["pulmonary_valve"] = pv
    heart.tubes["svc"] = (
        np.stack([heart.at_offset((-36.0, -4.0, 15.0)), heart.at_offset((-34.0, -4.0, 60.0))]),
        np.array([10.0, 10.0]) * sc,
    )
    heart.tubes["ivc"] = (
        np.stack([heart.at_offset((-30.0, 10.0, -15.0)), heart.at_offset((-24.0, 16.0, -70.0))]),
        np.array([12.0, 12.0]) * sc,
    )
    veins = {
        "lspv": ((18.0, 30.0, 18.0), (52.0, 34.0, 32.0)),
        "lipv": ((18.0, 32.0, -2.0), (52.0, 38.0, -12.0)),
        "rspv": ((-16.0, 30.0, 15.0), (-50.0, 28.0, 26.0)),
        "ripv": ((-16.0, 32.0, -5.0), (-50.0, 34.0, -14.0)),
    }
    for name, (start, end) in veins.items():
        heart.tubes[name] = (
            np.stack([heart.at_offset(start), heart.at_offset(end)]),
            np.array([7.5, 6.5]) * sc,
        )


def tube(heart: Heart, name: str, grow_mm: float = 0.0) -> Tube:
    points, radii = heart.tubes[name]
    return Tube(points, radii + grow_mm)
