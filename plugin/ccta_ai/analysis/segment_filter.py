"""Reject what the network calls lumen but cannot be a coronary artery.

Coronary arteries run in the epicardial fat on the heart's surface. Three kinds of
bright tube or edge look like lumen to a small network and are removed by anatomy:

* **lung vessels** — pulmonary arteries and veins inside the lungs: a lumen piece
  mostly (over ``max_lung_fraction``) within ``near_mm`` of aerated lung (below
  -500 HU, pieces of at least ``min_lung_ml``) is dropped;
* **bone** — the cancellous bone of sternum, ribs and spine has lumen-like HU: a piece
  largely (over ``max_bone_fraction``) within ``near_mm`` of bone (cortex above 700 HU in
  pieces of at least ``min_bone_ml``, far larger than any calcified plaque, with the
  marrow it encloses) is dropped;
* **chamber edges** — lumen voxels inside a heart chamber or the great vessels (blood
  that survives an opening of ``chamber_radius_mm``, which no coronary does) are
  removed voxel by voxel;
* **far from the heart** — a piece whose median distance from the heart (the largest
  piece of those chambers and vessels) exceeds ``max_heart_distance_mm`` is dropped:
  coronaries lie on the epicardium, ribs and chest-wall vessels do not.

Everything is decided on ~1 mm and ~2 mm copies of the box around the lumen, so the
cost stays around a few seconds on a full-size study.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ccta_ai.analysis.segment_refine import largest_component
from ccta_ai.imaging.volume import Volume


@dataclass(frozen=True)
class FilterOptions:
    coarse_mm: float = 1.0
    pad_mm: float = 10.0
    near_mm: float = 2.0
    lung_max_hu: float = -500.0
    min_lung_ml: float = 20.0
    max_lung_fraction: float = 0.5
    bone_min_hu: float = 700.0
    min_bone_ml: float = 1.0
    max_bone_fraction: float = 0.3
    chamber_radius_mm: float = 4.0
    max_heart_distance_mm: float = 20.0


@dataclass
class FilterResult:
    lumen: np.ndarray
    notes: list[str]
    removed: dict[str, int]  # voxels removed as "lung", "bone", "chamber"


def reject_false_lumen(
    volume: Volume, lumen: np.ndarray, options: FilterOptions | None = None
) -> FilterResult:
    """``lumen`` without lung vessels, bone and chamber edges (see the module docstring)."""
    options = options or FilterOptions()
    removed = {"lung": 0, "bone": 0, "chamber": 0, "far": 0}
    found = ndimage.find_objects(lumen.astype(np.uint8))
    if not found or found[0] is None:
        return FilterResult(lumen, [], removed)
    spacing = volume.spacing_mm
    pad = np.ceil(options.pad_mm / spacing).astype(int)
    box = tuple(
        slice(max(0, s.start - p), min(n, s.stop + p))
        for s, p, n in zip(found[0], pad, volume.shape, strict=True)
    )
    hu = volume.hu[box]
    piece_lumen = lumen[box]
    stride = np.maximum(1, np.round(options.coarse_mm / spacing)).astype(int)
    coarse = hu[:: stride[0], :: stride[1], :: stride[2]]
    coarse_spacing = spacing * stride
    voxel_ml = float(np.prod(coarse_spacing)) / 1000.0
    reach = max(1, round(options.near_mm / float(coarse_spacing.min())))

    lung = _large(ndimage.binary_opening(coarse < options.lung_max_hu), options.min_lung_ml,
                  voxel_ml)
    bone = _large(coarse > options.bone_min_hu, options.min_bone_ml, voxel_ml)
    bone = np.stack([ndimage.binary_fill_holes(plane) for plane in bone])
    near_lung = ndimage.binary_dilation(lung, iterations=reach)
    near_bone = ndimage.binary_dilation(bone, iterations=reach)

    # everything below is decided at the lumen voxels only
    labels, count = ndimage.label(piece_lumen, structure=np.ones((3, 3, 3), dtype=bool))
    coords = np.nonzero(piece_lumen)
    label_of = labels[coords]
    sizes = np.maximum(np.bincount(label_of, minlength=count + 1), 1)

    def share(flags: np.ndarray, among: np.ndarray | None = None) -> np.ndarray:
        chosen = slice(None) if among is None else among
        total = np.maximum(np.bincount(label_of[chosen], minlength=count + 1), 1)
        return np.bincount(label_of[chosen], weights=flags[chosen], minlength=count + 1) / total

    in_lung = share(_at(near_lung, coords, stride)) > options.max_lung_fraction
    on_bone = (share(_at(near_bone, coords, stride)) > options.max_bone_fraction) & ~in_lung
    in_lung[0] = on_bone[0] = False
    keep = ~(in_lung | on_bone)[label_of]
    removed["lung"] = int(sizes[in_lung].sum())
    removed["bone"] = int(sizes[on_bone].sum())

    # chambers and great vessels (and the heart they make) on a ~2 mm copy
    lumen_hu = float(np.median(hu[coords]))
    coarse2, spacing2, stride2 = coarse[::2, ::2, ::2], coarse_spacing * 2, stride * 2
    blood = coarse2 >= max(150.0, 0.5 * (lumen_hu + 120.0))
    core = ndimage.distance_transform_edt(blood, sampling=spacing2) > options.chamber_radius_mm
    if core.any():  # (the distance to nothing is undefined)
        chamber = ndimage.distance_transform_edt(~core, sampling=spacing2) <= (
            options.chamber_radius_mm + 0.5 * float(spacing2.max())
        )
        # (on the 2 mm grid a rim of about a millimetre stays: ostia keep their lumen)
        inside = keep & _at(chamber, coords, stride2)
        removed["chamber"] = int(inside.sum())
        keep &= ~inside
        beyond = _at(
            ndimage.distance_transform_edt(~largest_component(chamber), sampling=spacing2)
            > options.max_heart_distance_mm,
            coords,
            stride2,
        )
        # most of what is left of a piece lies beyond the limit (its median distance)
        far = share(beyond, keep) > 0.5
        far[0] = False
        removed["far"] = int((keep & far[label_of]).sum())
        keep &= ~far[label_of]

    kept = np.zeros_like(piece_lumen)
    kept[tuple(c[keep] for c in coords)] = True
    result = lumen.copy()
    result[box] = kept
    notes = []
    volume_ml = float(np.prod(spacing)) / 1000.0
    if in_lung.any():
        notes.append(f"{int(in_lung.sum())} lumen piece(s) ({removed['lung'] * volume_ml:.1f} ml) "
                     "in the lungs were rejected (pulmonary vessels)")
    if on_bone.any():
        notes.append(f"{int(on_bone.sum())} lumen piece(s) ({removed['bone'] * volume_ml:.1f} ml) "
                     "along bone were rejected")
    if removed["chamber"] * volume_ml >= 0.05:
        notes.append(f"{removed['chamber'] * volume_ml:.1f} ml of lumen inside heart chambers or "
                     "great vessels was removed")
    if removed["far"]:
        notes.append(f"{removed['far'] * volume_ml:.1f} ml of lumen farther than "
                     f"{options.max_heart_distance_mm:g} mm from the heart was rejected")
    return FilterResult(result, notes, removed)


def _large(mask: np.ndarray, min_ml: float, voxel_ml: float) -> np.ndarray:
    """The connected pieces of ``mask`` of at least ``min_ml``."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel()) * voxel_ml
    sizes[0] = 0.0
    return np.asarray((sizes >= min_ml)[labels])


def _at(
    coarse: np.ndarray, coords: tuple[np.ndarray, ...], stride: np.ndarray
) -> np.ndarray:
    """Values of a strided (``::stride``) copy at full-resolution voxel ``coords``."""
    return np.asarray(coarse[tuple(
        np.minimum(c // int(s), n - 1) for c, s, n in zip(coords, stride, coarse.shape,
                                                        strict=True)
    )])
