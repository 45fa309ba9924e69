"""The ordered list of layers of one phantom: body, chest, heart, coronaries, plaque.

Later layers cover earlier ones. The order encodes the anatomy: lungs fill the chest
cage above the diaphragm, the mediastinum and the heart are painted over them, the
epicardial fat (thickened around each coronary) before the chambers so that it remains
only in the grooves and on the surface, and each coronary's wall, plaque and lumen last.
"""

from __future__ import annotations

import numpy as np

from ccta_ai.phantom.body import Body
from ccta_ai.phantom.coronary import Vessel
from ccta_ai.phantom.geometry import cumulative_length
from ccta_ai.phantom.heart import Heart, tube
from ccta_ai.phantom.labels import Anatomy as A  # noqa: N817 (a short table key)
from ccta_ai.phantom.lesions import WALL_MM, Lesion, plaque_geometry
from ccta_ai.phantom.params import ContrastParams
from ccta_ai.phantom.raster import VesselLayer
from ccta_ai.phantom.scene import Layer, Material, lung_material, materials
from ccta_ai.phantom.shapes import Ellipsoid, Offset, Shape, Tube, Union

_PLAQUE = frozenset(
    {
        int(A.PLAQUE_NONCALCIFIED),
        int(A.PLAQUE_LOW_ATTENUATION),
        int(A.PLAQUE_CALCIFIED),
        int(A.VESSEL_WALL),
    }
)
_BELOW_FAT = frozenset(
    int(v)
    for v in (A.LUNG, A.LUNG_VESSEL, A.MEDIASTINAL_FAT, A.ABDOMEN_OTHER, A.LIVER, A.SOFT_TISSUE)
)
_CARVE = frozenset(
    int(v)
    for v in (
        A.PULMONARY_ARTERY,
        A.RV_BLOOD,
        A.RA_BLOOD,
        A.LA_BLOOD,
        A.ATRIAL_WALL,
        A.RV_MYOCARDIUM,
        A.VESSEL_WALL,
        A.PERICARDIUM,
        A.MEDIASTINAL_FAT,
        A.LUNG,
        A.SYSTEMIC_VEIN,
        A.PULMONARY_VEIN,
    )
)
_OUTSIDE_HEART = frozenset(
    int(v)
    for v in (
        A.EPICARDIAL_FAT,
        A.PERICARDIUM,
        A.MEDIASTINAL_FAT,
        A.LUNG,
        A.SOFT_TISSUE,
        A.ATRIAL_WALL,
        A.OUTSIDE,
    )
)


def body_layers(body: Body, c: ContrastParams) -> tuple[list[Layer], list[Layer]]:
    """``(invariant, varying)``: layers that do not change along z (painted once and
    copied to every slice), then the others."""
    m = materials(c)
    s = body.shapes
    lung = lung_material(c, body.y_front_mm, body.y_back_mm)
    invariant = [
        Layer("skin", s["body"], A.SOFT_TISSUE, m["skin"]),
        Layer("subcutaneous_fat", s["subcutaneous_fat"], A.SUBCUTANEOUS_FAT, m["fat"]),
        Layer("muscle", s["muscle"], A.SOFT_TISSUE, m["muscle"]),
        Layer("lungs", s["cage"], A.LUNG, lung),
        Layer("mediastinum", s["mediastinum"], A.MEDIASTINAL_FAT, m["fat"]),
        Layer("paraspinal", s["paraspinal"], A.SOFT_TISSUE, m["muscle"]),
        Layer("posterior_arch", s["posterior_arch"], A.BONE, m["cortical"]),
        Layer("spinous", s["spinous"], A.BONE, m["cortical"]),
        Layer("vertebra_cortex", s["vertebra_cortex"], A.BONE, m["cortical"]),
        Layer("vertebra_marrow", s["vertebra_marrow"], A.BONE, m["cancellous"]),
        Layer("canal", s["canal"], A.SPINAL_CANAL, m["csf"]),
        Layer("cord", s["cord"], A.SPINAL_CANAL, m["cord"]),
        Layer("sternum_cortex", s["sternum_cortex"], A.BONE, m["cortical"]),
        Layer("sternum_marrow", s["sternum_marrow"], A.BONE, m["cancellous"]),
    ]
    varying = [
        Layer("ribs", s["ribs"], A.BONE, m["cortical"]),
        Layer("rib_marrow", s["rib_marrow"], A.BONE, m["cancellous"]),
        Layer("costal_cartilage", s["costal_cartilage"], A.CARTILAGE, m["cartilage"]),
        Layer("discs", s["discs"], A.BONE, m["disc"]),
        Layer("abdomen", s["abdomen"], A.ABDOMEN_OTHER, m["abdomen"]),
        Layer("liver", s["liver"], A.LIVER, m["liver"]),
        Layer("esophagus", Tube(*body.tubes["esophagus"]), A.ESOPHAGUS, m["esophagus"]),
        Layer("esophagus_air", Tube(body.tubes["esophagus"][0], 2.0), A.ESOPHAGUS, m["air"]),
    ]
    for name in ("trachea", "left_bronchus", "right_bronchus"):
        pts, r = body.tubes[name]
        varying.append(Layer(f"{name}_wall", Tube(pts, r + 1.5), A.SOFT_TISSUE, m["wall"]))
    for name in ("trachea", "left_bronchus", "right_bronchus"):
        pts, r = body.tubes[name]
        varying.append(Layer(name, Tube(pts, r), A.AIRWAY, m["air"]))
    return invariant, varying


def heart_layers(heart: Heart, body: Body, vessels: list[Vessel], c: ContrastParams) -> list[Layer]:
    m = materials(c)
    s = heart.shapes
    fat_mm = heart.params.epicardial_fat_mm
    surface = [v for v in vessels if not v.intramyocardial]
    arch_pts, arch_r = body.tubes["aorta_arch"]
    lung = frozenset({int(A.LUNG)})
    vessel_fat = [tube(heart, n, 5.0) for n in ("ascending_aorta", "pulmonary_trunk", "svc")]
    out = [
        Layer(
            "lung_arteries",
            Union([Tube(p, r) for p, r in body.lung_arteries]),
            A.LUNG_VESSEL,
            m["pulmonary_artery"],
            lung,
        ),
        Layer(
            "lung_veins",
            Union([Tube(p, r) for p, r in body.lung_veins]),
            A.LUNG_VESSEL,
            m["pulmonary_vein"],
            lung,
        ),
        Layer(
            "mediastinal_fat",
            Union([Offset(s["bed"], fat_mm + 4.0), *vessel_fat, Tube(arch_pts, arch_r + 4.0)]),
            A.MEDIASTINAL_FAT,
            m["fat"],
            _BELOW_FAT,
        ),
        Layer("aorta_arch", Tube(arch_pts, arch_r), A.AORTA, m["aorta"]),
        Layer("pericardium", _sac(heart, fat_mm + 1.3, 2.6), A.PERICARDIUM, m["pericardium"]),
        Layer("epicardial_fat", _sac(heart, fat_mm, 1.4), A.EPICARDIAL_FAT, m["fat"]),
    ]
    if surface:
        out += [
            Layer(
                "pericardium_sleeves",
                Union([Tube(v.points, v.radius_mm + 3.4) for v in surface]),
                A.PERICARDIUM,
                m["pericardium"],
                _OUTSIDE_HEART - {int(A.EPICARDIAL_FAT)},
            ),
            Layer(
                "epicardial_fat_sleeves",
                Union([Tube(v.points, v.radius_mm + 2.4) for v in surface]),
                A.EPICARDIAL_FAT,
                m["fat"],
            ),
        ]
    out += [
        Layer("la_wall", s["la_outer"], A.ATRIAL_WALL, m["wall"]),
        Layer("ra_wall", s["ra_outer"], A.ATRIAL_WALL, m["wall"]),
        Layer("laa_wall", s["laa_outer"], A.ATRIAL_WALL, m["wall"]),
        Layer("raa_wall", s["raa_outer"], A.ATRIAL_WALL, m["wall"]),
        Layer("la", s["la_blood"], A.LA_BLOOD, m["la"]),
        Layer("ra", s["ra_blood"], A.RA_BLOOD, m["ra"]),
        Layer("laa", s["laa_blood"], A.LA_BLOOD, m["la"]),
        Layer("raa", s["raa_blood"], A.RA_BLOOD, m["ra"]),
        Layer("rv_myocardium", s["rv_outer"], A.RV_MYOCARDIUM, m["myocardium"]),
        Layer("rv", s["rv_cavity"], A.RV_BLOOD, m["rv"]),
        Layer("lv_myocardium", s["lv_outer"], A.LV_MYOCARDIUM, m["myocardium"]),
        Layer("lv", s["lv_cavity"], A.LV_BLOOD, m["lv"]),
        Layer("papillary", s["papillary"], A.LV_MYOCARDIUM, m["myocardium"]),
        Layer("mitral", tube(heart, "mitral"), A.LV_BLOOD, m["lv"]),
        Layer("tricuspid", tube(heart, "tricuspid"), A.RV_BLOOD, m["rv"]),
        Layer("lvot", tube(heart, "lvot"), A.LV_BLOOD, m["lv"]),
        Layer("rvot", tube(heart, "rvot"), A.RV_BLOOD, m["rv"]),
        Layer(
            "pulmonary_trunk_wall", tube(heart, "pulmonary_trunk", 1.5), A.VESSEL_WALL, m["wall"]
        ),
        Layer(
            "pulmonary_trunk",
            tube(heart, "pulmonary_trunk"),
            A.PULMONARY_ARTERY,
            m["pulmonary_artery"],
        ),
        Layer("lpa", tube(heart, "lpa"), A.PULMONARY_ARTERY, m["pulmonary_artery"]),
        Layer("rpa", tube(heart, "rpa"), A.PULMONARY_ARTERY, m["pulmonary_artery"]),
        Layer(
            "aortic_wall",
            Offset(Union([s["sinuses"], tube(heart, "ascending_aorta")]), 1.8),
            A.VESSEL_WALL,
            m["wall"],
        ),
        Layer("sinuses", s["sinuses"], A.AORTA, m["aorta"]),
        Layer("ascending_aorta", tube(heart, "ascending_aorta"), A.AORTA, m["aorta"]),
        Layer("svc", tube(heart, "svc"), A.SYSTEMIC_VEIN, m["svc"]),
        Layer("ivc", tube(heart, "ivc"), A.SYSTEMIC_VEIN, m["ivc"]),
    ]
    for name in ("lspv", "lipv", "rspv", "ripv"):
        out.append(Layer(name, tube(heart, name), A.PULMONARY_VEIN, m["pulmonary_vein"]))
    if surface:  # where a structure crowds a coronary, the vessel keeps a rim of fat
        channels = Union([Tube(v.points, v.radius_mm + 1.2) for v in surface])
        out.append(Layer("coronary_channels", channels, A.EPICARDIAL_FAT, m["fat"], _CARVE))
    return out


def _sac(heart: Heart, ventricles_mm: float, atria_mm: float) -> Shape:
    """The layer around the heart (epicardial fat, or the pericardium just outside it):
    ``ventricles_mm`` over the ventricles, ``atria_mm`` over the atria."""
    s = heart.shapes
    ventricles = Union([s["lv_outer"], s["rv_outer"]], k_mm=6.0)
    atria = Union([s["la_outer"], s["ra_outer"]], k_mm=4.0)
    return Union([Offset(ventricles, ventricles_mm), Offset(atria, atria_mm)], k_mm=3.0)


def distance_from_ostium(vessels: list[Vessel]) -> dict[str, np.ndarray]:
    """Arc length from the coronary ostium to each centreline point, per vessel."""
    out: dict[str, np.ndarray] = {}
    for v in vessels:  # parents come before their branches
        s = cumulative_length(v.points)
        base = 0.0
        if v.parent is not None and v.parent in out:
            parent = next(p for p in vessels if p.name == v.parent)
            j = int(np.argmin(np.linalg.norm(parent.points - v.points[0], axis=1)))
            base = float(out[v.parent][j])
        out[v.name] = base + s
    return out


def coronary_layers(
    vessels: list[Vessel], lesions: list[Lesion], c: ContrastParams
) -> list[Layer | VesselLayer]:
    m = materials(c)
    by_name = {v.name: v for v in vessels}
    out: list[Layer | VesselLayer] = []
    for v in vessels:
        wall_r = np.maximum(v.radius_mm, 0.0) + WALL_MM
        over = None if v.intramyocardial else _OUTSIDE_HEART | _PLAQUE
        out.append(Layer(f"{v.name}_wall", Tube(v.points, wall_r), A.VESSEL_WALL, m["wall"], over))
    for lesion in lesions:
        parts = plaque_geometry(by_name[lesion.vessel], lesion)
        centre, radius = parts["outer"]
        if lesion.plaque_type == "calcified":
            mat, label = Material(lesion.hu_calcium, lesion.hu_calcium), A.PLAQUE_CALCIFIED
        else:
            mat = Material(lesion.hu_noncalcified, lesion.hu_noncalcified - 5.0)
            label = A.PLAQUE_NONCALCIFIED
        out.append(Layer(f"{lesion.id}_plaque", Tube(centre, radius), label, mat))
        if "core" in parts:
            core_c, core_r = parts["core"]
            la = Material(lesion.hu_low_attenuation, lesion.hu_low_attenuation)
            out.append(
                Layer(
                    f"{lesion.id}_core",
                    Tube(core_c, np.where(core_r > 0.1, core_r, -1.0)),
                    A.PLAQUE_LOW_ATTENUATION,
                    la,
                    _PLAQUE,
                )
            )
        if "spots" in parts:
            ca = Material(lesion.hu_calcium, lesion.hu_calcium)
            spheres = [
                Ellipsoid(p, np.eye(3), (r, r, r)) for p, r in zip(*parts["spots"], strict=True)
            ]
            out.append(
                Layer(
                    f"{lesion.id}_calcium",
                    Union(spheres),
                    A.PLAQUE_CALCIFIED,
                    ca,
                    _PLAQUE | _OUTSIDE_HEART,
                )
            )
    distance = distance_from_ostium(vessels)
    longest = max(float(d[-1]) for d in distance.values())
    for v in reversed(vessels):  # branches first: a parent keeps its lumen at a branch origin
        hu = (
            c.aorta_hu
            * c.coronary_factor
            * (1.0 - c.coronary_distal_drop * distance[v.name] / longest)
        )
        out.append(
            VesselLayer(
                v.name,
                v.points,
                v.radius_mm,
                hu,
                c.plain_blood_hu,
                int(A.CORONARY_LUMEN),
                v.segment.astype(np.uint8),
            )
        )
    return out
