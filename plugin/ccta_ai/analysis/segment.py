"""Segment: ``Volume`` → coronary lumen mask, aorta mask and ostia (DESIGN.md §3).

Coarse to fine, so that two CPU cores keep to the time budget:

1. **roi** — HU rules on a 2 mm copy find the heart's contrast-filled blood pool; the
   network only looks at a box around it (:mod:`.segment_grid`);
2. **resample** — that box goes to the network's isotropic grid (0.8 mm by default,
   from the bundle), in RAS order, intensity-windowed;
3. **network** — a small MONAI 3D U-Net (:mod:`.segment_bundle`) runs with
   :func:`monai.inferers.sliding_window_inference`, classes background / coronary
   lumen / aorta;
4. **refine** — probabilities go back to the volume's own voxels and the lumen
   boundary is set there at half maximum (:mod:`.segment_refine`), so small vessels
   keep their calibre;
5. **filter** — lumen pieces in the lungs or along bone, and lumen inside the heart
   chambers, are rejected by anatomy (:mod:`.segment_filter`);
6. **aorta** — the ascending aorta and root by HU and shape rules
   (:mod:`.segment_aorta`; ``postprocessing.aorta``), the network's aorta class only
   where those find none: a 96-voxel window cannot tell the aorta from the ventricle it
   opens into, the rules can; ostia are where lumen pieces touch the aorta.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from ccta_ai.analysis.segment_aorta import find_aorta
from ccta_ai.analysis.segment_bundle import (
    CLASS_AORTA,
    CLASS_LUMEN,
    Bundle,
    default_bundle_dir,
    load_bundle,
)
from ccta_ai.analysis.segment_filter import FilterOptions, reject_false_lumen
from ccta_ai.analysis.segment_grid import (
    RoiOptions,
    boxes_around,
    find_heart_roi,
    network_grid,
    to_native,
    to_network,
    upsample_box,
    window,
)
from ccta_ai.analysis.segment_refine import (
    RefineOptions,
    find_ostia,
    largest_component,
    refine_lumen_tiled,
)
from ccta_ai.errors import ConfigError, ModelError
from ccta_ai.imaging.volume import Volume

__all__ = ["Segmentation", "default_bundle_dir", "resolve_device", "segment_coronaries"]


@dataclass
class Segmentation:
    """What the segment stage hands to the tracing stage.

    Attributes:
        lumen: coronary lumen, bool, same shape as ``volume.hu``.
        aorta: ascending aorta / aortic root, bool, same shape.
        ostia_lps_mm: ``(k, 3)`` coronary ostia in LPS mm (largest tree first), or None.
        model_name, model_version, model_sha256: identity of the model that made it.
        timings_s: seconds spent in each step.
        notes: what the caller should know (no blood pool found, nothing segmented...).
    """

    lumen: np.ndarray
    aorta: np.ndarray
    ostia_lps_mm: np.ndarray | None
    model_name: str
    model_version: str
    model_sha256: str
    timings_s: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


_BUNDLES: dict[tuple[str, str], Bundle] = {}

#: Where the aorta comes from (``postprocessing.aorta`` of ``inference.json``): the
#: HU and shape rules of :mod:`.segment_aorta` (the network's aorta class when they find
#: none), or the network's aorta class alone.
AORTA_METHODS = ("hu-rules", "network")

#: HU that contrast-filled blood can have in a CCTA (80-120 kV).
BLOOD_RANGE_HU = (150.0, 700.0)


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: the first CUDA GPU when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but no CUDA GPU is available")
    return resolved


def cached_bundle(bundle_dir: Path | None, device: torch.device) -> Bundle:
    """The bundle, loaded once per process (and checked again when its file changes)."""
    directory = (Path(bundle_dir) if bundle_dir is not None else default_bundle_dir()).resolve()
    weights = directory / "models" / "model.pt"
    stamp = str(weights.stat().st_mtime_ns) if weights.is_file() else "missing"
    key = (f"{directory}|{stamp}", str(device))
    if key not in _BUNDLES:
        _BUNDLES[key] = load_bundle(directory, device)
    return _BUNDLES[key]


def segment_coronaries(
    volume: Volume, *, bundle_dir: Path | None = None, device: str = "auto"
) -> Segmentation:
    """Coronary lumen and aorta masks (and ostia) of a contrast-enhanced CT volume.

    Raises:
        ModelError: the bundle is missing, incomplete or its weights fail the checksum.
        ConfigError: ``device`` is not usable.
    """
    timings: dict[str, float] = {}
    notes: list[str] = []
    started = time.perf_counter()
    torch_device = resolve_device(device)
    if torch_device.type == "cpu":
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    bundle = cached_bundle(bundle_dir, torch_device)
    config = bundle.inference
    timings["load_model_s"] = time.perf_counter() - started

    mark = time.perf_counter()
    roi = find_heart_roi(volume, RoiOptions(**config["preprocessing"].get("roi", {})))
    if not roi.found:
        notes.append("no contrast-filled blood pool found: the whole volume was searched")
    grid = network_grid(volume, roi, bundle.spacing_mm)
    timings["roi_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    image_hu = to_network(grid, volume.hu[roi.slices])
    image = window(image_hu.clone(), *bundle.window_hu)
    timings["resample_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    probability = run_network(bundle, image, torch_device)
    timings["network_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    post = config["postprocessing"]
    refine = RefineOptions(**post.get("refine", {}))
    native = to_native(grid, torch.cat([probability, image_hu]))
    coarse_lumen, coarse_hu = native[CLASS_LUMEN], native[-1]
    # the lumen's HU level from the network's lumen, within the range contrast-filled
    # blood can have (where the network also fires on bone, cortex must not set it)
    level_sample = coarse_hu[coarse_lumen >= refine.lumen_probability]
    low_hu, high_hu = BLOOD_RANGE_HU
    in_range = level_sample[(level_sample >= low_hu) & (level_sample <= high_hu)]
    lumen_roi, levels = refine_lumen_tiled(
        volume.hu[roi.slices],
        coarse_lumen,
        in_range if in_range.size else level_sample,
        volume.spacing_mm,
        refine,
    )
    lumen = np.zeros(volume.shape, dtype=bool)
    lumen[roi.slices] = lumen_roi
    timings["refine_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    filtered = reject_false_lumen(volume, lumen, FilterOptions(**post.get("filter", {})))
    lumen = filtered.lumen
    notes.extend(filtered.notes)
    timings["filter_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    aorta = np.zeros(volume.shape, dtype=bool)
    method = str(post.get("aorta", "network"))
    if method not in AORTA_METHODS:
        raise ModelError(f"postprocessing.aorta must be one of {AORTA_METHODS}, got {method!r}")
    if method == "hu-rules":
        blood_hu = float(np.median(volume.hu[lumen])) if lumen.any() else None
        found = find_aorta(volume, lumen, blood_hu=blood_hu)
        notes.extend(found.notes)
        aorta = found.mask
    if not aorta.any():
        threshold = float(post.get("aorta_probability", 0.5))
        aorta[roi.slices] = aorta_mask(native[CLASS_AORTA], roi.shape, threshold)
        if method == "hu-rules" and aorta.any():
            notes.append("the aorta is the network's (the HU rules found none)")
    lumen &= ~aorta
    lumen_roi = lumen[roi.slices]
    aorta_roi = aorta[roi.slices]
    timings["aorta_s"] = time.perf_counter() - mark

    mark = time.perf_counter()
    ostia_index = find_ostia(
        lumen_roi, aorta_roi, volume.spacing_mm, reach_mm=refine.ostium_reach_mm
    )
    ostia = volume.index_to_lps(ostia_index + np.array(roi.low)) if len(ostia_index) else None
    timings["ostia_s"] = time.perf_counter() - mark
    timings["total_s"] = time.perf_counter() - started

    if not lumen.any():
        notes.append("the network found no coronary lumen")
    if not aorta.any():
        notes.append("the network found no aorta; ostia could not be placed")
    elif ostia is None:
        notes.append("no lumen piece touches the aorta; ostia could not be placed")
    if levels:
        notes.append(
            f"lumen median {levels['lumen_median_hu']:.0f} HU; voxels above "
            f"{levels['calcium_hu']:.0f} HU were kept out of the lumen as calcium"
        )
    return Segmentation(
        lumen=lumen,
        aorta=aorta,
        ostia_lps_mm=ostia,
        model_name=bundle.name,
        model_version=bundle.version,
        model_sha256=bundle.weights_sha256,
        timings_s={key: round(value, 3) for key, value in timings.items()},
        notes=notes,
    )


def aorta_mask(
    coarse_probability: np.ndarray, fine_shape: tuple[int, int, int], threshold: float
) -> np.ndarray:
    """The largest piece of the network's aorta, upsampled tile by tile."""
    piece = largest_component(coarse_probability >= threshold)
    mask = np.zeros(fine_shape, dtype=bool)
    if not piece.any():
        return mask
    kept = np.where(ndimage.binary_dilation(piece, iterations=1), coarse_probability, 0.0)
    for box in boxes_around(piece, fine_shape, tile=64):
        mask[box] = upsample_box(kept, fine_shape, box) >= threshold
    return mask


def run_network(bundle: Bundle, image: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Class probabilities ``(classes, x, y, z)`` (CPU) of a ``(1, x, y, z)`` image."""
    from monai.inferers import sliding_window_inference

    window_config = bundle.inference["sliding_window"]
    roi_size = tuple(int(n) for n in window_config["roi_size"])
    with torch.inference_mode():
        logits = sliding_window_inference(
            inputs=image[None].to(device),
            roi_size=roi_size,
            sw_batch_size=int(window_config.get("sw_batch_size", 1)),
            predictor=bundle.network,
            overlap=float(window_config.get("overlap", 0.25)),
            mode=str(window_config.get("mode", "gaussian")),
            padding_mode="replicate",
        )
        assert isinstance(logits, torch.Tensor)
        return torch.softmax(logits[0].float(), dim=0).cpu()
