"""The phantom's scene: an ordered list of painted layers and their materials.

Layers are painted in order (later ones cover earlier ones), each with a partial-volume
weight from its signed distance, so every voxel ends up with the HU mixture of the
tissues that cross it and the label of the one covering most of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ccta_ai.phantom.labels import Anatomy
from ccta_ai.phantom.params import ContrastParams
from ccta_ai.phantom.shapes import Shape

HuField = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
Hu = float | HuField


@dataclass(frozen=True)
class Material:
    """HU of a tissue in the contrast-enhanced CCTA and in the plain calcium scan."""

    contrast: Hu
    plain: Hu


@dataclass(frozen=True)
class Layer:
    name: str
    shape: Shape
    label: Anatomy
    material: Material
    over: frozenset[int] | None = None  # paint only where the label is one of these


def materials(c: ContrastParams) -> dict[str, Material]:
    """The tissue table of one seed."""
    blood = c.plain_blood_hu
    aorta = c.aorta_hu
    return {
        "air": Material(-1000.0, -1000.0),
        "skin": Material(45.0, 45.0),
        "fat": Material(c.fat_hu, c.fat_hu),
        "muscle": Material(c.muscle_hu, c.muscle_hu - 5.0),
        "cortical": Material(c.cortical_bone_hu, c.cortical_bone_hu),
        "cancellous": Material(c.cancellous_bone_hu, c.cancellous_bone_hu),
        "cartilage": Material(c.cartilage_hu, c.cartilage_hu),
        "disc": Material(85.0, 85.0),
        "csf": Material(12.0, 12.0),
        "cord": Material(35.0, 35.0),
        "liver": Material(c.liver_hu, c.plain_liver_hu),
        "abdomen": Material(45.0, 40.0),
        "esophagus": Material(45.0, 42.0),
        "wall": Material(45.0, 40.0),
        "pericardium": Material(35.0, 35.0),
        "myocardium": Material(c.myocardium_hu, c.plain_myocardium_hu),
        "aorta": Material(aorta, blood),
        "lv": Material(aorta * c.lv_factor, blood),
        "la": Material(aorta * c.la_factor, blood),
        "pulmonary_vein": Material(aorta * c.la_factor, blood),
        "rv": Material(aorta * c.rv_factor, blood),
        "ra": Material(aorta * c.ra_factor, blood),
        "pulmonary_artery": Material(aorta * c.rv_factor, blood),
        "svc": Material(max(aorta * c.svc_factor, c.ivc_hu), blood),
        "ivc": Material(c.ivc_hu, blood),
        "table_shell": Material(250.0, 250.0),
        "table_core": Material(-350.0, -350.0),
    }


def lung_material(c: ContrastParams, y_front_mm: float, y_back_mm: float) -> Material:
    """Lung parenchyma, denser towards the back (the dependent lung of a supine patient)."""
    span = max(y_back_mm - y_front_mm, 1.0)
    base, gradient = c.lung_hu, c.lung_gradient_hu

    def hu(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        del x, z
        return np.asarray(base + gradient * np.clip((y - y_front_mm) / span, 0, 1), np.float32)

    return Material(hu, hu)
