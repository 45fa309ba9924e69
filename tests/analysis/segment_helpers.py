"""Helpers of the segmentation tests: known-answer bundles and a vessel-on-aorta phantom."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from analysis_phantom import Tube, line, render

from ccta_ai.analysis.segment_bundle import default_bundle_dir, write_weights
from ccta_ai.imaging.volume import Volume

HALF_MAXIMUM_HU = 170.0  # between the tube phantom's lumen (420) and fat (-80)


def threshold_bundle(directory: Path, threshold_hu: float = HALF_MAXIMUM_HU) -> Path:
    """A bundle whose "network" is a 1x1x1 convolution: lumen where HU > threshold,
    background elsewhere, never aorta (a known answer for the whole pipeline)."""
    shutil.copytree(default_bundle_dir() / "configs", directory / "configs")
    inference_path = directory / "configs" / "inference.json"
    inference = json.loads(inference_path.read_text())
    inference["network_def"] = {
        "_target_": "torch.nn.Conv3d",
        "in_channels": 1,
        "out_channels": 3,
        "kernel_size": 1,
    }
    inference_path.write_text(json.dumps(inference))
    low_hu, high_hu = inference["preprocessing"]["window_hu"]
    x_threshold = (threshold_hu - low_hu) / (high_hu - low_hu)
    network = torch.nn.Conv3d(1, 3, kernel_size=1)
    slope = 200.0
    with torch.no_grad():
        network.weight.copy_(torch.tensor([0.0, slope, 0.0]).view(3, 1, 1, 1, 1))
        network.bias.copy_(torch.tensor([0.0, -slope * x_threshold, -1000.0]))
    write_weights(directory, network)
    return directory


def coronary_on_aorta(
    steps: np.ndarray, lumen_hu_scale: float = 1.0, seed: int = 0
) -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray]:
    """An aorta (radius 12 mm) with a coronary (radius 1.6 mm tapering to 1.0 mm)
    leaving its wall: the volume, the true coronary lumen, aorta and the ostium (LPS)."""
    aorta_axis = line(np.array([0.0, 0.0, -25.0]), np.array([0.0, 0.0, 25.0]), step_mm=0.2)
    aorta = Tube(aorta_axis, np.full(len(aorta_axis), 12.0))
    bend = np.array([24.0, 6.0, -8.0])
    end = np.array([30.0, 22.0, -20.0])
    path = np.concatenate([line(np.array([6.0, 0.0, 0.0]), bend), line(bend, end)[1:]])
    ostium = path[np.argmax(np.linalg.norm(path[:, :2], axis=1) >= 12.0)]  # axis meets wall
    radius = np.linspace(1.6, 1.0, len(path))
    coronary = Tube(path, radius)
    volume, inside_all = render([aorta, coronary], steps, margin_mm=4.0, noise_hu=15.0, seed=seed)
    index = np.argwhere(np.ones(volume.shape, dtype=bool))
    lps = volume.index_to_lps(index)
    on_axis = np.zeros_like(lps)
    on_axis[:, 2] = np.clip(lps[:, 2], -25.0, 25.0)
    in_aorta = np.linalg.norm(lps - on_axis, axis=1) <= 12.0  # a capsule, as render draws it
    aorta_mask = in_aorta.reshape(volume.shape)
    lumen = inside_all & ~aorta_mask
    return volume, lumen, aorta_mask, ostium


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float((a & b).sum()) / total
