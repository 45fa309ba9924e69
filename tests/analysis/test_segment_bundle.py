"""The committed MONAI bundle: complete metadata, checked weights, typed errors, the
trained model's accuracy on a vessel-on-aorta phantom, training and ImageCAS input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from analysis_phantom import steps_matrix
from segment_helpers import coronary_on_aorta, dice

from ccta_ai.analysis.segment import segment_coronaries
from ccta_ai.analysis.segment_bundle import (
    METADATA_KEYS,
    WEIGHTS_SHA256_KEY,
    default_bundle_dir,
    load_bundle,
    sha256_of,
)
from ccta_ai.errors import ModelError
from ccta_ai.imaging.volume import Volume

BUNDLE = default_bundle_dir()


def _metadata() -> dict:
    return json.loads((BUNDLE / "configs" / "metadata.json").read_text())


def _inference() -> dict:
    return json.loads((BUNDLE / "configs" / "inference.json").read_text())


def test_bundle_is_found_from_the_package() -> None:
    assert BUNDLE.name == "coronary_seg" and BUNDLE.parent.name == "models"
    assert (BUNDLE / "docs" / "README.md").is_file()


def test_metadata_is_complete_and_agrees_with_the_inference_config() -> None:
    metadata, inference = _metadata(), _inference()
    assert set(METADATA_KEYS) <= set(metadata)
    assert metadata["license"] == "AGPL-3.0-or-later"
    assert metadata["version"] in metadata["changelog"]
    assert "not a diagnosis" in metadata["intended_use"]
    image = metadata["network_data_format"]["inputs"]["image"]
    spacing = inference["preprocessing"]["spacing_mm"]
    assert image["pixdim_mm"] == [spacing] * 3
    assert image["intensity_window_hu"] == inference["preprocessing"]["window_hu"]
    assert image["num_channels"] == inference["network_def"]["in_channels"] == 1
    assert image["orientation"] == inference["preprocessing"]["orientation"] == "RAS"
    classes = metadata["network_data_format"]["outputs"]["pred"]["channel_def"]
    assert classes == {"0": "background", "1": "coronary artery lumen",
                       "2": "aorta (ascending aorta and aortic root)"}
    assert inference["network_def"]["out_channels"] == len(classes)
    assert inference["network_def"]["_target_"].startswith("monai.networks.nets.")


def test_committed_weights_match_their_checksum_and_are_small() -> None:
    weights = BUNDLE / "models" / "model.pt"
    assert weights.stat().st_size < 5_000_000
    assert sha256_of(weights) == _metadata()[WEIGHTS_SHA256_KEY]
    bundle = load_bundle(BUNDLE)
    assert not bundle.network.training
    assert bundle.weights_sha256 == _metadata()[WEIGHTS_SHA256_KEY]


def test_changed_weights_raise_a_model_error_naming_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    weights = copy / "models" / "model.pt"
    content = bytearray(weights.read_bytes())
    content[len(content) // 2] ^= 0xFF
    weights.write_bytes(bytes(content))
    with pytest.raises(ModelError, match=r"model\.pt have sha256 .* expects"):
        load_bundle(copy)
    weights.unlink()
    with pytest.raises(ModelError, match=r"model\.pt are missing"):
        load_bundle(copy)
    (copy / "configs" / "metadata.json").unlink()
    with pytest.raises(ModelError, match=r"metadata\.json is missing"):
        segment_coronaries(Volume(np.zeros((4, 4, 4), np.float32), np.eye(4)), bundle_dir=copy)


def _with_heart_below(
    volume: Volume, masks: tuple[np.ndarray, ...], extra_mm: float = 30.0
) -> tuple[Volume, tuple[np.ndarray, ...]]:
    """The volume carried on below (fat), as a CCTA goes on below the aortic root."""
    extra = round(extra_mm / volume.spacing_mm[0])
    footwards = volume.affine[2, 0] < 0  # axis 0 runs to the feet
    fat = np.random.default_rng(9).normal(-80.0, 15.0, (extra, *volume.shape[1:]))
    hu = [volume.hu, fat.astype(np.float32)]
    pad = [(0, extra)] if footwards else [(extra, 0)]
    affine = volume.affine.copy()
    if not footwards:
        hu.reverse()
        affine[:3, 3] -= extra * affine[:3, 0]
    padded = tuple(np.pad(m, [*pad, (0, 0), (0, 0)]) for m in masks)
    return Volume(np.concatenate(hu), affine), padded


def test_committed_model_finds_a_coronary_leaving_the_aorta() -> None:
    """The trained model and the HU-rule aorta on a vessel-on-aorta phantom (0.6 mm
    voxels, lumen 420 HU), the volume going on below the root as a CCTA does.
    Bounds measured with the committed weights (see docs/README.md)."""
    volume, lumen, aorta, ostium = coronary_on_aorta(steps_matrix((0.6, 0.5, 0.5)), seed=5)
    volume, (lumen, aorta) = _with_heart_below(volume, (lumen, aorta))
    result = segment_coronaries(volume, device="cpu")
    assert dice(result.lumen, lumen) >= 0.8
    assert dice(result.aorta, aorta) >= 0.8
    assert result.ostia_lps_mm is not None
    assert np.min(np.linalg.norm(result.ostia_lps_mm - ostium, axis=1)) < 3.0


def test_training_writes_weights_that_load(tmp_path: Path) -> None:
    from ccta_ai.training.data import scene_cases
    from ccta_ai.training.train import TrainOptions, train

    out = tmp_path / "trained"
    cases = list(scene_cases(7, 1, spacing_mm=0.8))
    assert (cases[0].labels == 1).any() and (cases[0].labels == 2).any()
    report = train(out, cases, TrainOptions(epochs=1, steps_per_epoch=2, batch=1, patch=32))
    assert len(report.losses) == 1 and np.isfinite(report.losses[0])
    metadata = json.loads((out / "configs" / "metadata.json").read_text())
    assert metadata[WEIGHTS_SHA256_KEY] == report.weights_sha256
    assert load_bundle(out).weights_sha256 == report.weights_sha256


def test_imagecas_case_lands_on_the_labelled_voxels(tmp_path: Path) -> None:
    """NIfTI (RAS) → Volume (LPS) → network grid: the label stays on its voxels."""
    from ccta_ai.training.data import imagecas_cases, read_nifti_volume

    image = np.full((40, 36, 32), -100.0, np.float32)
    label = np.zeros(image.shape, np.uint8)
    label[5:9, 30:34, 20:24] = 1  # near the +x, +y corner of the array
    image[label > 0] = 400.0
    affine_ras = np.diag([0.8, 0.8, 0.8, 1.0])
    nib.save(nib.Nifti1Image(image, affine_ras), tmp_path / "1.img.nii.gz")
    nib.save(nib.Nifti1Image(label, affine_ras), tmp_path / "1.label.nii.gz")
    volume = read_nifti_volume(tmp_path / "1.img.nii.gz")
    np.testing.assert_allclose(volume.affine_ras, affine_ras)
    (case,) = imagecas_cases(tmp_path, _inference())
    assert not case.has_aorta
    bright = case.image_hu[0] > 200
    assert torch.equal(bright, case.labels == 1)
    assert case.labels.shape == (40, 36, 32)  # RAS already: no axes moved
    assert torch.nonzero(case.labels)[:, 1].min() >= 30
