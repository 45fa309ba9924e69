"""Training cases on the network grid, from three sources.

* the project's phantom (:func:`ccta_ai.phantom.study.generate_study`, seeds 1000-1999;
  benchmarks use seeds >= 100000, never trained on);
* a user's labelled CCTA in the ImageCAS layout (``N.img.nii.gz`` / ``N.label.nii.gz``,
  coronary labels only, no aorta);
* quick synthetic scenes (:mod:`ccta_ai.training.scenes`).

Volumes go through exactly the inference pre-processing (ROI, resampling, RAS order)
of :mod:`ccta_ai.analysis.segment_grid`, so the network trains on what it will see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ccta_ai.analysis.segment_bundle import CLASS_AORTA, CLASS_LUMEN
from ccta_ai.analysis.segment_grid import RoiOptions, find_heart_roi, network_grid, to_network
from ccta_ai.errors import InputError
from ccta_ai.imaging.volume import LPS_TO_RAS, Volume

TRAINING_SEEDS = range(1000, 2000)
BENCHMARK_FIRST_SEED = 100_000


@dataclass
class Case:
    """One training case on the network grid."""

    name: str
    image_hu: torch.Tensor  # (1, x, y, z) float32 HU
    labels: torch.Tensor  # (x, y, z) uint8: 0 background, 1 lumen, 2 aorta
    has_aorta: bool  # False: class 2 is unknown (labelled 0), train lumen-vs-rest only


def case_from_volume(
    name: str,
    volume: Volume,
    lumen: np.ndarray,
    aorta: np.ndarray | None,
    inference: dict[str, Any],
) -> Case:
    """A volume and its truth masks through the inference pre-processing."""
    preprocessing = inference["preprocessing"]
    roi = find_heart_roi(volume, RoiOptions(**preprocessing.get("roi", {})))
    grid = network_grid(volume, roi, float(preprocessing["spacing_mm"]))
    labels = np.zeros(roi.shape, dtype=np.uint8)
    if aorta is not None:
        labels[aorta[roi.slices]] = CLASS_AORTA
    labels[lumen[roi.slices]] = CLASS_LUMEN
    image = to_network(grid, volume.hu[roi.slices])
    label_tensor = to_network(grid, labels, labels=True)[0].to(torch.uint8)
    return Case(name, image, label_tensor, aorta is not None)


def phantom_cases(
    first_seed: int,
    count: int,
    inference: dict[str, Any],
    size: str = "small",
    cache_dir: Path | None = None,
) -> Iterator[Case]:
    """Cases from the project's phantom (needs :mod:`ccta_ai.phantom.study`); with
    ``cache_dir``, each case is kept there (a ``.pt`` file per seed and grid spacing)
    and read back on the next run."""
    from ccta_ai.phantom.labels import Anatomy
    from ccta_ai.phantom.study import generate_study
    from ccta_ai.phantom.truth import GENERATOR_REVISION

    spacing = float(inference["preprocessing"]["spacing_mm"])
    for seed in range(first_seed, first_seed + count):
        name = f"phantom-{seed}-{size}-r{GENERATOR_REVISION}"
        cached = cache_dir / f"{name}-{spacing:g}mm.pt" if cache_dir is not None else None
        if cached is not None and cached.is_file():
            content = torch.load(cached, weights_only=True)
            yield Case(name, content["image_hu"], content["labels"], True)
            continue
        study = generate_study(seed, size)
        lumen = np.asarray(study.lumen_labels) > 0
        aorta = np.asarray(study.anatomy_labels) == int(Anatomy.AORTA)
        case = case_from_volume(name, study.ccta, lumen, aorta, inference)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"image_hu": case.image_hu, "labels": case.labels}, cached)
        yield case


def phantom_available() -> bool:
    try:
        from ccta_ai.phantom.study import generate_study  # noqa: F401
    except ImportError:
        return False
    return True


def read_nifti_volume(path: Path) -> Volume:
    """A NIfTI image (RAS affine) as a :class:`Volume` (LPS): the one conversion."""
    import nibabel as nib

    image = nib.load(str(path))
    hu = np.asarray(image.dataobj, dtype=np.float32)  # type: ignore[attr-defined]
    affine_lps = LPS_TO_RAS @ np.asarray(image.affine, dtype=np.float64)  # type: ignore[attr-defined]
    return Volume(hu, affine_lps)


def imagecas_cases(directory: Path, inference: dict[str, Any]) -> Iterator[Case]:
    """Cases from an ImageCAS-layout folder: ``N.img.nii.gz`` with ``N.label.nii.gz``."""
    images = sorted(Path(directory).glob("*.img.nii.gz"))
    if not images:
        raise InputError(f"no *.img.nii.gz files in {directory} (ImageCAS layout expected)")
    for image_path in images:
        stem = image_path.name[: -len(".img.nii.gz")]
        label_path = image_path.with_name(f"{stem}.label.nii.gz")
        if not label_path.is_file():
            raise InputError(f"{image_path} has no label file {label_path.name}")
        volume = read_nifti_volume(image_path)
        label = read_nifti_volume(label_path).hu > 0.5
        if label.shape != volume.shape:
            raise InputError(f"{label_path} has shape {label.shape}, its image {volume.shape}")
        yield case_from_volume(f"imagecas-{stem}", volume, label, None, inference)


def scene_cases(first_seed: int, count: int, spacing_mm: float) -> Iterator[Case]:
    """Quick synthetic scenes, drawn directly on the network grid."""
    from ccta_ai.training.scenes import random_scene

    for seed in range(first_seed, first_seed + count):
        hu, labels = random_scene(np.random.default_rng(seed), spacing_mm=spacing_mm)
        yield Case(f"scene-{seed}", torch.from_numpy(hu)[None], torch.from_numpy(labels), True)
