"""The chest around the heart: body wall, lungs, diaphragm and liver dome, spine, sternum,
ribs, airways, oesophagus, aortic arch and descending aorta (body frame, mm).

The chest is sized from the patient and fitted around the heart: the sternum lies just
in front of the pericardium, the vertebral bodies behind the left atrium with room for
the oesophagus and the descending aorta.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccta_ai.phantom.geometry import spline_through
from ccta_ai.phantom.heart import Heart
from ccta_ai.phantom.params import PatientParams
from ccta_ai.phantom.shapes import (
    HeightField,
    Intersection,
    Inverted,
    RoundedBox,
    Shape,
    Tube,
    Union,
    ZCylinder,
)

Z_TOP, Z_BOTTOM = 260.0, -260.0


@dataclass
class Body:
    shapes: dict[str, Shape] = field(default_factory=dict)
    tubes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    y_front_mm: float = 0.0  # anterior skin
    y_back_mm: float = 0.0  # posterior skin
    vertebra_center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lung_arteries: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    lung_veins: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


def _cyl(cx: float, cy: float, ax: float, ay: float) -> ZCylinder:
    z = [Z_BOTTOM, Z_TOP]
    return ZCylinder(z, [cx, cx], [cy, cy], [ax, ax], [ay, ay])


def build_body(heart: Heart, patient: PatientParams, rng: np.random.Generator) -> Body:
    body = Body()
    s = body.shapes
    bed = heart.shapes["bed"]
    fat, muscle = patient.subcutaneous_fat_mm, patient.muscle_mm
    sternum_back = float(bed.lo[1]) - heart.params.epicardial_fat_mm - 3.0
    vb_front = float(bed.hi[1]) + 13.0
    vb_center_y = vb_front + 16.0
    front = sternum_back - 12.0 - muscle - fat - 2.0
    back = vb_center_y + 16.0 + 50.0 + muscle + fat
    cy, ay = 0.5 * (front + back), 0.5 * (back - front)
    ax = 0.5 * patient.chest_width_mm
    body.y_front_mm, body.y_back_mm = front, back
    vb = np.array([0.0, vb_center_y, 0.0])
    body.vertebra_center = vb

    s["body"] = _cyl(0.0, cy, ax, ay)
    s["subcutaneous_fat"] = _cyl(0.0, cy, ax - 2.0, ay - 2.0)
    s["muscle"] = _cyl(0.0, cy, ax - fat, ay - fat)
    inner_ax, inner_ay = ax - fat - muscle - 9.0, ay - fat - muscle - 6.0
    cage = _cyl(0.0, cy, inner_ax, inner_ay)
    s["cage"] = cage

    # Diaphragm: two domes, the right one higher; the heart rests on the central part.
    heart_floor = float(bed.lo[2])
    right_top = heart_floor + rng.uniform(18.0, 35.0)
    left_top = heart_floor + rng.uniform(0.0, 12.0)

    def dome(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xr, xl = (x + 0.45 * inner_ax) / (0.6 * inner_ax), (x - 0.45 * inner_ax) / (0.6 * inner_ax)
        yy = (y - cy - 0.1 * inner_ay) / (0.9 * inner_ay)
        hr = right_top - 45.0 * (xr * xr + yy * yy)
        hl = left_top - 45.0 * (xl * xl + yy * yy)
        h = np.maximum(hr, hl)
        gx = np.where(hr > hl, -90.0 * xr / (0.6 * inner_ax), -90.0 * xl / (0.6 * inner_ax))
        gy = -90.0 * yy / (0.9 * inner_ay)
        return h, gx, gy

    below = HeightField(dome, z_max=max(right_top, left_top) + 5.0)
    s["below_diaphragm"] = below
    s["lungs"] = Intersection([cage, Inverted(below)])
    s["abdomen"] = Intersection([cage, below])
    liver = ZCylinder(
        [Z_BOTTOM, right_top + 2.0],
        [-0.3 * inner_ax] * 2,
        [cy] * 2,
        [0.75 * inner_ax] * 2,
        [inner_ay] * 2,
    )
    s["liver"] = Intersection([cage, below, liver])

    # Mediastinum: fat between sternum and spine, around the heart and great vessels.
    z_top_heart = float(heart.points["pulmonary_bifurcation"][2])
    # Posterior mediastinum (oesophagus, descending aorta); the fat around the heart and
    # great vessels is added with the heart (see layers.heart_layers).
    s["mediastinum"] = _cyl(14.0, vb_front - 4.0, 34.0, 17.0)

    # Spine: vertebral bodies (cancellous inside a cortical shell), canal, posterior arch.
    s["paraspinal"] = Union(
        [_cyl(side * 30.0, vb_center_y + 46.0, 25.0, 22.0) for side in (-1.0, 1.0)], k_mm=8.0
    )
    s["vertebra_cortex"] = _cyl(0.0, vb_center_y, 21.0, 17.0)
    s["vertebra_marrow"] = _cyl(0.0, vb_center_y, 18.5, 14.5)
    s["posterior_arch"] = Union(
        [
            _cyl(0.0, vb_center_y + 29.0, 16.0, 11.0),
            RoundedBox(vb + np.array([0.0, 26.0, 0.0]), np.eye(3), [34.0, 4.5, 300.0], 3.0),
        ]
    )
    s["spinous"] = RoundedBox(vb + np.array([0.0, 50.0, 0.0]), np.eye(3), [4.0, 12.0, 300.0], 3.0)
    discs = []
    for k in range(-10, 11):
        z0 = 27.0 * k + 7.0
        discs.append(
            ZCylinder([z0, z0 + 6.0], [0.0, 0.0], [vb_center_y] * 2, [18.5] * 2, [14.5] * 2)
        )
    s["discs"] = Union(discs)
    s["canal"] = _cyl(0.0, vb_center_y + 27.0, 9.0, 8.0)
    s["cord"] = _cyl(0.0, vb_center_y + 27.0, 5.0, 4.0)

    # Sternum with costal cartilages; ribs as arcs inside the chest wall.
    sternum_c = np.array([float(heart.origin[0]) * 0.2, sternum_back - 6.0, 10.0])
    s["sternum_cortex"] = RoundedBox(sternum_c, np.eye(3), [15.0, 6.0, 140.0], 4.0)
    s["sternum_marrow"] = RoundedBox(sternum_c, np.eye(3), [13.0, 4.0, 138.0], 3.0)
    ribs, cartilage = [], []
    rib_ax, rib_ay = inner_ax + 5.0, inner_ay + 3.0
    theta = np.linspace(0.12, np.pi - 0.55, 18)  # from beside the spine round to the front
    for k in range(-7, 8):
        z0 = 20.0 + 27.0 * k + rng.uniform(-3.0, 3.0)
        for side in (-1.0, 1.0):
            pts = np.stack(
                [
                    side * rib_ax * np.sin(theta),
                    cy + rib_ay * np.cos(theta),
                    z0 - 17.5 * (1.0 - np.cos(theta)),
                ],
                axis=1,
            )
            ribs.append(Tube(pts, np.linspace(5.0, 3.5, len(pts))))
            end = pts[-1]
            sternal = np.array([side * 16.0, sternum_back - 6.0, end[2] + 8.0])
            cartilage.append(Tube(np.stack([end, sternal]), 3.2))
    s["ribs"] = Union(ribs)
    s["rib_marrow"] = Union([Tube(r.points, r.radii - 1.6) for r in ribs])
    s["costal_cartilage"] = Union(cartilage)

    # Airways and oesophagus (above and behind the heart), aorta arch and descending.
    carina = np.array([2.0, vb_front - 22.0, z_top_heart + 18.0])
    body.tubes["trachea"] = (
        np.stack([carina, carina + np.array([0.0, -6.0, 150.0])]),
        np.array([9.0, 9.5]),
    )
    body.tubes["left_bronchus"] = (
        spline_through(
            np.stack(
                [
                    carina,
                    carina + np.array([22.0, 6.0, -20.0]),
                    carina + np.array([48.0, 14.0, -35.0]),
                ]
            ),
            4.0,
        ),
        np.array([6.5]),
    )
    body.tubes["right_bronchus"] = (
        spline_through(
            np.stack(
                [
                    carina,
                    carina + np.array([-18.0, 4.0, -12.0]),
                    carina + np.array([-38.0, 8.0, -22.0]),
                ]
            ),
            4.0,
        ),
        np.array([7.5]),
    )
    eso_x = 6.0
    body.tubes["esophagus"] = (
        np.stack(
            [
                [eso_x, vb_front - 5.0, 250.0],
                [eso_x + 4.0, vb_front - 7.0, 0.0],
                [eso_x + 12.0, vb_front - 12.0, -120.0],
            ]
        ),
        np.array([8.0]),
    )
    desc = np.array([24.0, vb_front + 2.0])
    asc_pts, asc_r = heart.tubes["ascending_aorta"]
    top = asc_pts[-1]
    arch_top = float(top[2]) + 25.0
    arch = spline_through(
        np.stack(
            [
                top,
                top + np.array([2.0, 8.0, 18.0]),
                np.array([8.0, 0.5 * (top[1] + desc[1]), arch_top]),
                np.array([desc[0] - 2.0, desc[1] - 4.0, arch_top - 15.0]),
                np.array([desc[0], desc[1], arch_top - 45.0]),
                np.array([desc[0], desc[1], -60.0]),
                np.array([desc[0] - 8.0, desc[1] + 2.0, -250.0]),
            ]
        ),
        3.0,
    )
    radius = np.interp(np.arange(len(arch)), [0, 25, len(arch) - 1], [float(asc_r[-1]), 13.0, 11.0])
    body.tubes["aorta_arch"] = (arch, radius)
    body.lung_arteries, body.lung_veins = _lung_vessels(heart, rng)
    return body


def _lung_vessels(
    heart: Heart, rng: np.random.Generator
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """Random branching pulmonary arteries and veins from the hila into the lungs
    (painted over lung only, so they stop at the lung's edge)."""
    arteries: list[tuple[np.ndarray, np.ndarray]] = []
    veins: list[tuple[np.ndarray, np.ndarray]] = []
    for name in ("lpa", "rpa"):
        pts, radii = heart.tubes[name]
        _branch(pts[-1], pts[-1] - pts[-2], float(radii[-1]) * 0.8, 3, rng, arteries)
    for name in ("lspv", "lipv", "rspv", "ripv"):
        pts, radii = heart.tubes[name]
        _branch(pts[-1], pts[-1] - pts[0], float(radii[-1]) * 0.8, 2, rng, veins)
    return arteries, veins


def _branch(
    start: np.ndarray,
    direction: np.ndarray,
    radius: float,
    depth: int,
    rng: np.random.Generator,
    out: list[tuple[np.ndarray, np.ndarray]],
) -> None:
    d = direction / np.linalg.norm(direction)
    for _ in range(2 if depth < 3 else 3):
        turn = rng.normal(size=3) * 0.6
        new = d + turn - np.dot(turn, d) * d * 0.5
        new /= np.linalg.norm(new)
        length = rng.uniform(20.0, 40.0) * (0.6 + 0.2 * depth)
        mid = start + 0.5 * length * new + rng.normal(size=3) * 2.0
        end = start + length * new
        pts = spline_through(np.stack([start, mid, end]), 2.0)
        r_end = max(radius * 0.6, 0.8)
        out.append((pts, np.linspace(radius, r_end, len(pts))))
        if depth > 0:
            _branch(end, new, r_end, depth - 1, rng, out)
