"""Full-resolution post-processing of the network's output: lumen boundary and ostia.

The network runs on a coarser grid than the image, so its mask would give small
vessels the calibre of its voxels. Here the boundary is set again on the volume's own
voxels, at half maximum between the vessel's local peak HU and the surrounding tissue
(the full width at half maximum of a blurred tube is its true diameter), inside a
narrow band where the network saw lumen. Calcium (HU far above the lumen's) stays out
of the lumen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class RefineOptions:
    """Parameters of the boundary refinement (from ``inference.json``)."""

    lumen_probability: float = 0.5  # network core
    band_probability: float = 0.05  # where the boundary may move to (and one voxel more)
    smoothing_mm: float = 0.3  # noise smoothing before thresholding
    peak_window_mm: float = 2.5  # box over which the local lumen peak is taken
    background_window_mm: float = 3.0  # box over which the surrounding tissue is taken
    min_contrast_hu: float = 120.0  # a smaller peak-to-background step is no lumen
    calcium_margin_hu: float = 250.0  # above the lumen median by this much: calcium
    calcium_min_hu: float = 650.0
    background_clip_hu: tuple[float, float] = (-150.0, 150.0)
    ostium_reach_mm: float = 2.0


def refine_lumen(
    hu: np.ndarray,
    probability: np.ndarray,
    spacing_mm: np.ndarray,
    options: RefineOptions | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """The lumen mask on ``hu``'s grid from the network's lumen ``probability`` on it.

    Returns the mask and the lumen levels used (``lumen_median_hu``, ``calcium_hu``).
    """
    options = options or RefineOptions()
    core = probability >= options.lumen_probability
    if not core.any():
        return core, {}
    levels = lumen_levels(hu[core], options)
    refined, core = _refine_box(hu, probability, spacing_mm, options, levels["calcium_hu"])
    return _touching(refined, core), levels


def refine_lumen_tiled(
    hu: np.ndarray,
    coarse_probability: np.ndarray,
    coarse_hu_in_core: np.ndarray,
    spacing_mm: np.ndarray,
    options: RefineOptions | None = None,
    tile: int = 48,
) -> tuple[np.ndarray, dict[str, float]]:
    """:func:`refine_lumen` with the probability still on the coarse grid (volume axis
    order, corner-aligned with ``hu``): only the tiles near the network's lumen are
    upsampled and refined. ``coarse_hu_in_core`` (network-grid HU of its lumen
    voxels) sets the lumen level."""
    from ccta_ai.analysis.segment_grid import boxes_around, upsample_box

    options = options or RefineOptions()
    mask = np.zeros(hu.shape, dtype=bool)
    core = np.zeros(hu.shape, dtype=bool)
    band = coarse_probability >= options.band_probability
    if not (coarse_probability >= options.lumen_probability).any() or not len(coarse_hu_in_core):
        return mask, {}
    levels = lumen_levels(coarse_hu_in_core, options)
    halo = _voxels(max(options.peak_window_mm, options.background_window_mm), spacing_mm) + 1
    for inner in boxes_around(band, hu.shape, tile):
        outer = tuple(
            slice(max(0, s.start - int(h)), min(n, s.stop + int(h)))
            for s, h, n in zip(inner, halo, hu.shape, strict=True)
        )
        probability = upsample_box(coarse_probability, hu.shape, outer)
        refined, box_core = _refine_box(
            hu[outer], probability, spacing_mm, options, levels["calcium_hu"]
        )
        cut = tuple(
            slice(i.start - o.start, i.stop - o.start) for i, o in zip(inner, outer, strict=True)
        )
        mask[inner] = refined[cut]
        core[inner] = box_core[cut]
    box = _bounding_box(mask, pad=np.zeros(3, dtype=int))
    mask[box] = _touching(mask[box], core[box])
    return mask, levels


def lumen_levels(lumen_hu: np.ndarray, options: RefineOptions) -> dict[str, float]:
    """Median HU of the lumen and the HU above which a voxel is calcium, not lumen."""
    median_hu = float(np.median(lumen_hu))
    calcium_hu = max(median_hu + options.calcium_margin_hu, options.calcium_min_hu)
    return {"lumen_median_hu": median_hu, "calcium_hu": calcium_hu}


def _refine_box(
    hu: np.ndarray,
    probability: np.ndarray,
    spacing_mm: np.ndarray,
    options: RefineOptions,
    calcium_hu: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Half-maximum lumen (and the network's core) inside one box."""
    core = probability >= options.lumen_probability
    if not core.any():
        return core, core
    band = (probability >= options.band_probability) | ndimage.binary_dilation(
        core, structure=np.ones((3, 3, 3), dtype=bool)
    )
    smooth = ndimage.gaussian_filter(hu, sigma=options.smoothing_mm / spacing_mm, mode="nearest")
    not_calcium = smooth < calcium_hu
    peak_source = np.where(core & not_calcium, smooth, -np.inf).astype(np.float32)
    peak = ndimage.maximum_filter(peak_source, size=_sizes(options.peak_window_mm, spacing_mm))
    background = ndimage.minimum_filter(
        np.where(band, smooth, np.inf).astype(np.float32),
        size=_sizes(options.background_window_mm, spacing_mm),
    )
    background = np.clip(background, *options.background_clip_hu)
    threshold = 0.5 * (peak + background)
    contrasted = (peak - background) >= options.min_contrast_hu
    return band & not_calcium & contrasted & (smooth >= threshold), core


def find_ostia(
    lumen: np.ndarray,
    aorta: np.ndarray,
    spacing_mm: np.ndarray,
    min_voxels: int = 20,
    reach_mm: float = 2.0,
) -> np.ndarray:
    """One ostium (array index, fractional) per lumen piece that touches the aorta:
    the centre of its voxels next to the aorta (or, for a piece only within
    ``reach_mm`` of it, of those within reach). Pieces are ordered by size, largest
    first; ``(0, 3)`` when none touches."""
    if not lumen.any() or not aorta.any():
        return np.zeros((0, 3))
    reach = _voxels(reach_mm, spacing_mm)
    box = _bounding_box(aorta, pad=reach + 1)
    labels, count = ndimage.label(lumen, structure=np.ones((3, 3, 3), dtype=bool))
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sub_labels = labels[box]
    next_to = ndimage.binary_dilation(aorta[box], structure=np.ones((3, 3, 3), dtype=bool))
    within = ndimage.binary_dilation(
        aorta[box], structure=ndimage.generate_binary_structure(3, 1), iterations=int(reach.max())
    )
    offset = np.array([s.start for s in box], dtype=np.float64)
    ostia = []
    touching = np.unique(sub_labels[within & (sub_labels > 0)])
    for label in sorted(touching, key=lambda value: -sizes[value]):
        if sizes[label] < min_voxels:
            continue
        piece = sub_labels == label
        contact = piece & next_to
        voxels = np.argwhere(contact if contact.any() else piece & within)
        ostia.append(voxels.mean(axis=0) + offset)
    return np.array(ostia, dtype=np.float64).reshape(-1, 3)


def largest_component(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(labels == int(np.argmax(sizes)))


def _touching(candidate: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The connected pieces of ``candidate`` that overlap ``core``."""
    labels, count = ndimage.label(candidate, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return candidate
    keep = np.zeros(count + 1, dtype=bool)
    keep[np.unique(labels[core & candidate])] = True
    keep[0] = False
    return keep[labels]


def _voxels(length_mm: float, spacing_mm: np.ndarray) -> np.ndarray:
    return np.maximum(1, np.round(length_mm / np.asarray(spacing_mm))).astype(int)


def _sizes(length_mm: float, spacing_mm: np.ndarray) -> tuple[int, ...]:
    return tuple(int(2 * (n // 2) + 1) for n in _voxels(length_mm, spacing_mm))


def _bounding_box(mask: np.ndarray, pad: np.ndarray) -> tuple[slice, slice, slice]:
    found = ndimage.find_objects(mask.astype(np.uint8))
    if not found or found[0] is None:
        return (slice(0, 0), slice(0, 0), slice(0, 0))
    box = found[0]
    return (
        slice(max(0, box[0].start - int(pad[0])), min(mask.shape[0], box[0].stop + int(pad[0]))),
        slice(max(0, box[1].start - int(pad[1])), min(mask.shape[1], box[1].stop + int(pad[1]))),
        slice(max(0, box[2].start - int(pad[2])), min(mask.shape[2], box[2].stop + int(pad[2]))),
    )
