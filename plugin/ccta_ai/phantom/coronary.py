"""The coronary tree: centrelines on the epicardial surface, radii and SCCT segments.

Paths are laid out in the heart frame (height ``h`` along the long axis, angle ``phi``
on the ring of a ventricle) along the grooves: the anterior and posterior
interventricular grooves (:meth:`Heart.groove_angle`) and the atrioventricular rings
just below the base. Each path is then smoothed, given a random meander and projected
onto the "bed" (ventricles and atria blended), so that its lumen lies in the epicardial
fat a little outside the myocardium. Branch points lie on their parent's centreline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccta_ai.phantom.geometry import (
    cumulative_length,
    resample,
    smooth,
    smooth_noise,
    spline_through,
    tangents,
    unit,
)
from ccta_ai.phantom.heart import BASE_PLANE_H, LV_OUTER, RV_OUTER, Heart
from ccta_ai.phantom.labels import OTHER_BRANCH

STEP_MM = 0.5
H_AV = BASE_PLANE_H + 2.5  # height of the atrioventricular grooves (heart frame)
H_APEX = LV_OUTER.center[0] + LV_OUTER.elongation + LV_OUTER.semi[0]


@dataclass
class Vessel:
    """One coronary centreline: points (LPS body frame, mm), lumen radius and SCCT
    segment per point. ``parent`` is ``None`` for the two main stems (LM, RCA)."""

    name: str
    parent: str | None
    points: np.ndarray
    radius_mm: np.ndarray
    segment: np.ndarray
    intramyocardial: bool = False

    @property
    def length_mm(self) -> float:
        return float(cumulative_length(self.points)[-1])


def _bed_gradient(heart: Heart, points: np.ndarray) -> np.ndarray:
    eps = 0.4
    grads = []
    for axis in range(3):
        step = np.zeros(3)
        step[axis] = eps
        grads.append(heart.bed_sdf(points + step) - heart.bed_sdf(points - step))
    return unit(np.stack(grads, axis=1) + 1e-9)


def project_to_bed(heart: Heart, points: np.ndarray, offset_mm: np.ndarray) -> np.ndarray:
    """Move points along the bed's gradient until their distance to it is ``offset_mm``."""
    p = np.asarray(points, dtype=np.float64).copy()
    for _ in range(5):
        d = heart.bed_sdf(p)
        p -= (d - offset_mm)[:, None] * _bed_gradient(heart, p)
    return p


def _lv_ring(heart: Heart, h: np.ndarray, phi: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            heart.ring_point(LV_OUTER, float(hi), np.array([pi]))
            for hi, pi in zip(h, phi, strict=True)
        ]
    )


def _rv_ring(heart: Heart, h: float, psi: np.ndarray) -> np.ndarray:
    return heart.ring_point(RV_OUTER, h, psi)


def _groove(heart: Heart, anterior: bool, h_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, phi) of a groove; past the end of the RV the last angle is carried on."""
    hs, phis = [], []
    last = -1.2 if anterior else 1.05
    for h in h_values:
        phi = heart.groove_angle(float(h), anterior)
        last = phi if phi is not None else last
        hs.append(h)
        phis.append(last)
    return np.asarray(hs), np.asarray(phis)


def _surface_path(
    heart: Heart,
    anchors: np.ndarray,
    radius_start: float,
    radius_end: float,
    rng: np.random.Generator,
    tortuosity: float,
    start: np.ndarray | None = None,
    free_mm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth, meandering path through ``anchors`` lying on the bed; returns
    ``(points, radii)`` sampled every :data:`STEP_MM`. The first ``free_mm`` stay
    where the anchors put them (a stem leaving the aortic root)."""
    if start is not None:
        anchors = np.concatenate([start[None], anchors])
    pts = spline_through(anchors, STEP_MM)
    s = cumulative_length(pts)
    radii = np.interp(s, [0.0, s[-1]], [radius_start, radius_end])
    offset = radii + 0.35
    free = pts.copy()
    pts = project_to_bed(heart, pts, offset)
    pts = smooth(pts, 6.0, STEP_MM)
    # Meander sideways in the tangent plane of the surface.
    tan = tangents(pts)
    normal = _bed_gradient(heart, pts)
    side = unit(np.cross(tan, normal) + 1e-9)
    s = cumulative_length(pts)
    pts = pts + side * smooth_noise(s, rng, 1.6 * tortuosity)[:, None]
    pts = pts + normal * (0.3 * smooth_noise(s, rng, tortuosity))[:, None].clip(0, None)
    pts = project_to_bed(heart, pts, offset)
    if free_mm > 0:
        keep = np.clip((s - free_mm) / 10.0, 0.0, 1.0)[:, None]
        pts = free + (pts - free) * keep
    if start is not None:  # keep the branch point on the parent
        fade = np.clip(s / 6.0, 0.0, 1.0)[:, None]
        pts = pts + (start - pts[0]) * (1.0 - fade)
    pts = smooth(pts, 3.0, STEP_MM)
    pts, radii = resample(pts, STEP_MM, np.interp(cumulative_length(pts), s, radii))
    return pts, radii


def _free_path(anchors: np.ndarray, r0: float, r1: float) -> tuple[np.ndarray, np.ndarray]:
    pts = spline_through(anchors, STEP_MM)
    s = cumulative_length(pts)
    return pts, np.interp(s, [0.0, s[-1]], [r0, r1])


def _arc_index(points: np.ndarray, s_mm: float) -> int:
    s = cumulative_length(points)
    return int(np.clip(np.searchsorted(s, s_mm), 1, len(points) - 2))


def _local_h(heart: Heart, points: np.ndarray) -> np.ndarray:
    return heart.local(points)[:, 0]


def build_tree(heart: Heart, rng: np.random.Generator) -> list[Vessel]:
    """The coronary tree of one heart: LM with LAD (diagonals, septals), LCx (obtuse
    marginals), optional ramus; RCA (acute marginal) with PDA/PLB from the dominant
    side. Radii taper from about 2 mm (LM) to about 0.5 mm distally."""
    p = heart.params
    cal = p.caliber_scale * heart.scale**0.5
    tort = p.tortuosity
    vessels: list[Vessel] = []

    # --- left main and its bifurcation -------------------------------------------------
    ost = heart.points["ostium_left"]
    hs, phis = _groove(heart, True, np.linspace(H_AV, H_APEX - 6.0, 24))
    lad_top = project_to_bed(heart, _lv_ring(heart, hs[:1], phis[:1]), np.array([3.0]))[0]
    lm_dir = unit(0.55 * heart.directions["ostium_left"] + 0.45 * unit(lad_top - ost))
    bif = ost + p.left_main_length_mm * lm_dir
    lm_pts, lm_r = _free_path(
        np.stack([ost - 1.5 * heart.directions["ostium_left"], ost, bif]), 2.1 * cal, 1.95 * cal
    )
    lm = Vessel("LM", None, lm_pts, lm_r, np.full(len(lm_pts), 5))
    vessels.append(lm)

    # --- LAD ---------------------------------------------------------------------------
    wrap = float(rng.uniform(0.0, 18.0))
    lad_anchors = _lv_ring(heart, hs[::3], phis[::3])
    apex = heart.points["apex"]
    post_phi = _groove(heart, False, np.array([H_APEX - 25.0]))[1]
    tail = [apex]
    if wrap > 4.0:
        tail.append(_lv_ring(heart, np.array([H_APEX - 4.0 - wrap]), post_phi)[0])
    lad_pts, lad_r = _surface_path(
        heart,
        np.concatenate([lad_anchors, np.stack(tail)]),
        1.8 * cal,
        0.55 * cal,
        rng,
        tort,
        start=bif,
    )
    lad_r = _taper(lad_r, 1.8 * cal, 0.5 * cal)
    lad_h = _local_h(heart, lad_pts)
    apex_index = int(np.argmax(lad_h))
    s_lad = cumulative_length(lad_pts)

    # Diagonals and septals: positions along the LAD (mm from the bifurcation).
    d_pos = rng.uniform(12.0, 30.0) + np.array([0.0, rng.uniform(18.0, 32.0)])
    d_pos = d_pos[: p.diagonal_count]
    s_pos = rng.uniform(8.0, 26.0) + np.cumsum(rng.uniform(10.0, 18.0, p.septal_count)) - 10.0
    p_lad_end = min(float(d_pos[0]), float(s_pos[0]))
    m_lad_end = p_lad_end + 0.5 * (s_lad[apex_index] - p_lad_end)
    lad_seg = np.where(s_lad <= p_lad_end, 6, np.where(s_lad <= m_lad_end, 7, 8))
    vessels.append(Vessel("LAD", "LM", lad_pts, lad_r, lad_seg))

    for i, pos in enumerate(d_pos):
        j = _arc_index(lad_pts, float(pos))
        h0 = float(lad_h[j])
        phi0 = float(np.interp(h0, hs, phis))
        length_h = rng.uniform(38.0, 55.0) * (0.8 if i else 1.0)
        anchors = _lv_ring(
            heart,
            np.array([h0 + 10.0, h0 + 0.55 * length_h, h0 + length_h]),
            np.array([phi0 - 0.45, phi0 - 0.75, phi0 - 0.95]),
        )
        r0 = (1.15 - 0.15 * i) * cal
        pts, radii = _surface_path(heart, anchors, r0, 0.5 * cal, rng, tort, start=lad_pts[j])
        vessels.append(Vessel(f"D{i + 1}", "LAD", pts, radii, np.full(len(pts), 9 + i)))

    for i, pos in enumerate(s_pos):
        j = _arc_index(lad_pts, float(pos))
        inward = -_bed_gradient(heart, lad_pts[j : j + 1])[0]
        down = unit(heart.frame[:, 0])
        length = rng.uniform(14.0, 24.0)
        end = lad_pts[j] + length * unit(0.75 * inward + 0.6 * down)
        mid = lad_pts[j] + 0.45 * length * unit(1.0 * inward + 0.3 * down)
        pts, radii = _free_path(np.stack([lad_pts[j], mid, end]), 0.65 * cal, 0.42 * cal)
        vessels.append(
            Vessel(f"S{i + 1}", "LAD", pts, radii, np.full(len(pts), OTHER_BRANCH), True)
        )

    # --- LCx -----------------------------------------------------------------------
    phi_ant = float(phis[0])
    phi_post = float(_groove(heart, False, np.array([H_AV]))[1][0])
    crux_phi = phi_post - 2.0 * np.pi
    lcx_end = {
        "right": rng.uniform(-np.pi - 0.9, -np.pi - 0.3),
        "co": crux_phi + 0.7,
        "left": crux_phi,
    }[p.dominance]
    lcx_phis = np.linspace(phi_ant - 0.55, lcx_end, 9)
    lcx_anchors = _lv_ring(heart, np.full(len(lcx_phis), H_AV), lcx_phis)
    r_end = 0.9 * cal if p.dominance == "left" else 0.6 * cal
    lcx_pts, lcx_r = _surface_path(heart, lcx_anchors, 1.65 * cal, r_end, rng, tort, start=bif)
    s_lcx = cumulative_length(lcx_pts)
    om_pos = np.sort(rng.uniform(0.25, 0.5, 1)) * s_lcx[-1]
    om_pos = np.concatenate([om_pos, om_pos + rng.uniform(0.2, 0.3) * s_lcx[-1]])
    om_pos = om_pos[: p.marginal_count]
    lcx_seg = np.where(s_lcx <= om_pos[0], 11, 13)
    vessels.append(Vessel("LCx", "LM", lcx_pts, lcx_r, lcx_seg))
    for i, pos in enumerate(om_pos):
        j = _arc_index(lcx_pts, float(pos))
        phi0 = float(np.interp(pos, [0.0, s_lcx[-1]], [lcx_phis[0], lcx_phis[-1]]))
        length_h = rng.uniform(45.0, 65.0)
        anchors = _lv_ring(
            heart,
            np.array([H_AV + 14.0, H_AV + 0.6 * length_h, H_AV + length_h]),
            np.array([phi0 - 0.05, phi0 + 0.05, phi0 + 0.1]),
        )
        pts, radii = _surface_path(
            heart, anchors, (1.2 - 0.1 * i) * cal, 0.5 * cal, rng, tort, start=lcx_pts[j]
        )
        vessels.append(Vessel(f"OM{i + 1}", "LCx", pts, radii, np.full(len(pts), 12 + 2 * i)))

    if p.ramus:
        phi0 = phi_ant - 0.3
        anchors = _lv_ring(
            heart,
            np.array([H_AV + 14.0, H_AV + 35.0, H_AV + 55.0]),
            np.array([phi0 - 0.1, phi0 - 0.25, phi0 - 0.35]),
        )
        pts, radii = _surface_path(heart, anchors, 1.2 * cal, 0.5 * cal, rng, tort, start=bif)
        vessels.append(Vessel("RI", "LM", pts, radii, np.full(len(pts), 17)))

    # --- RCA ---------------------------------------------------------------------
    vessels.extend(_right_side(heart, rng, cal, tort, phi_post, lcx_pts, lcx_r))
    return vessels


def _taper(radii: np.ndarray, r0: float, r1: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, len(radii))
    return np.asarray(r0 * (r1 / r0) ** (t**1.2), dtype=np.float64)


def _rv_angle(heart: Heart, point: np.ndarray) -> float:
    hab = heart.local(point[None])[0]
    return float(
        np.arctan2(
            (hab[2] - RV_OUTER.center[2]) / RV_OUTER.semi[2],
            (hab[1] - RV_OUTER.center[1]) / RV_OUTER.semi[1],
        )
    )


def _right_side(
    heart: Heart,
    rng: np.random.Generator,
    cal: float,
    tort: float,
    phi_post: float,
    lcx_pts: np.ndarray,
    lcx_r: np.ndarray,
) -> list[Vessel]:
    p = heart.params
    out: list[Vessel] = []
    ost = heart.points["ostium_right"]
    crux = _lv_ring(heart, np.array([H_AV]), np.array([phi_post]))[0]
    psi_crux = _rv_angle(heart, crux)
    top = -np.pi / 2.0 - 0.2  # the RV ring's anterior-superior end, by the outflow tract
    if psi_crux < top:
        psi_crux += 2 * np.pi
    d_ost = heart.directions["ostium_right"]
    # the RCA enters the right AV groove where it leaves the aortic root: at the ring's
    # point nearest its exit, not at the ring's top (some 30 mm away, above and to the
    # left, which made every RCA climb there and double back past its own ostium)
    exit_point = ost + 8.0 * d_ost
    candidates = np.linspace(top, top + np.pi, 181)
    nearest = np.linalg.norm(_rv_ring(heart, H_AV, candidates) - exit_point, axis=1)
    psi_start = float(candidates[int(np.argmin(nearest))])
    dominant = p.dominance in ("right", "co")
    psi_end = psi_crux if dominant else 0.5 * (psi_crux + 0.15)
    psi_start = min(psi_start, psi_end - 0.5)
    psis = np.linspace(psi_start, psi_end, 10)
    ring = _rv_ring(heart, H_AV, psis)
    r0, r_end = 1.85 * cal, (0.95 if dominant else 0.6) * cal
    if dominant:
        ring = np.concatenate([ring[:-1], crux[None]])
    anchors = np.concatenate([np.stack([ost - 1.5 * d_ost, ost, ost + 8.0 * d_ost]), ring])
    pts, radii = _surface_path(heart, anchors, r0, r_end, rng, tort, free_mm=8.0)
    radii = _taper(radii, r0, r_end)
    a = heart.local(pts)[:, 1]
    s = cumulative_length(pts)
    i_margin = int(np.argmax(a))
    s_margin = s[i_margin]
    seg = np.where(s <= 0.5 * s_margin, 1, np.where(s <= s_margin, 2, 3))
    out.append(Vessel("RCA", None, pts, radii, seg))

    if p.acute_marginal:
        j = i_margin
        anchors = np.stack(
            [
                pts[j] + 12.0 * heart.frame[:, 0],
                heart.at((H_AV + 35.0, RV_OUTER.center[1] + RV_OUTER.semi[1] * 0.9, 0.0)),
            ]
        )
        am_pts, am_r = _surface_path(heart, anchors, 0.8 * cal, 0.45 * cal, rng, tort, pts[j])
        out.append(Vessel("AM1", "RCA", am_pts, am_r, np.full(len(am_pts), OTHER_BRANCH)))

    if p.dominance == "left":
        lcx_parent, lcx_end = "LCx", lcx_pts[-1]
        out.extend(_crux_branches(heart, rng, cal, tort, phi_post, lcx_end, lcx_parent, 15, 18))
    else:
        out.extend(
            _crux_branches(
                heart,
                rng,
                cal,
                tort,
                phi_post,
                pts[-1],
                "RCA",
                4,
                16,
                with_plb=p.dominance == "right",
            )
        )
        if p.dominance == "co":
            out.extend(_lcx_plb(heart, rng, cal, tort, lcx_pts))
    return out


def _crux_branches(
    heart: Heart,
    rng: np.random.Generator,
    cal: float,
    tort: float,
    phi_post: float,
    crux: np.ndarray,
    parent: str,
    pda_segment: int,
    plb_segment: int,
    with_plb: bool = True,
) -> list[Vessel]:
    out: list[Vessel] = []
    hs, phis = _groove(heart, False, np.linspace(H_AV + 8.0, H_APEX - 22.0, 8))
    length = rng.uniform(0.65, 1.0)
    keep = max(3, round(len(hs) * length))
    anchors = _lv_ring(heart, hs[:keep], phis[:keep])
    pts, radii = _surface_path(heart, anchors, 0.95 * cal, 0.5 * cal, rng, tort, start=crux)
    name = "R-PDA" if pda_segment == 4 else "L-PDA"
    out.append(Vessel(name, parent, pts, radii, np.full(len(pts), pda_segment)))
    if with_plb:
        anchors = _lv_ring(
            heart,
            np.array([H_AV + 1.0, H_AV + 6.0, H_AV + 25.0]),
            np.array([phi_post + 0.45, phi_post + 0.85, phi_post + 1.1]),
        )
        pts, radii = _surface_path(heart, anchors, 0.9 * cal, 0.5 * cal, rng, tort, start=crux)
        name = "R-PLB" if plb_segment == 16 else "L-PLB"
        out.append(Vessel(name, parent, pts, radii, np.full(len(pts), plb_segment)))
    return out


def _lcx_plb(
    heart: Heart, rng: np.random.Generator, cal: float, tort: float, lcx_pts: np.ndarray
) -> list[Vessel]:
    end = lcx_pts[-1]
    hab = heart.local(end[None])[0]
    anchors = np.stack(
        [heart.at((H_AV + 15.0, hab[1], hab[2])), heart.at((H_AV + 35.0, hab[1], hab[2]))]
    )
    pts, radii = _surface_path(heart, anchors, 0.8 * cal, 0.5 * cal, rng, tort, start=end)
    return [Vessel("L-PLB", "LCx", pts, radii, np.full(len(pts), 18))]
