"""``ccta-ai train``: fit the bundle's network on synthetic (and the user's) cases.

Patches (``patch`` voxels a side, most centred on lumen) are cut from the cases on the
network grid and augmented: flips and axis swaps (the network must not learn one
orientation), contrast scale and shift (lumen 250-550 HU), extra noise. The loss is
cross-entropy plus a soft Dice of the lumen; cases without an aorta label (ImageCAS)
train lumen against everything else. The weights and their sha256 go into the bundle.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from ccta_ai.analysis.segment_bundle import (
    CLASS_LUMEN,
    build_network,
    default_bundle_dir,
    read_json,
    weights_path,
    write_weights,
)
from ccta_ai.analysis.segment_grid import window
from ccta_ai.training.data import Case

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 30
    steps_per_epoch: int = 40
    batch: int = 2
    patch: int = 48
    learning_rate: float = 3e-3
    lumen_centred_fraction: float = 0.7
    lumen_class_weight: float = 3.0
    seed: int = 0
    max_minutes: float = 18.0
    resume: bool = False  # start from the bundle's current weights


@dataclass
class TrainReport:
    options: dict[str, object]
    cases: list[str]
    losses: list[float] = field(default_factory=list)
    minutes: float = 0.0
    weights_sha256: str = ""


def prepare_bundle(out_dir: Path) -> dict[str, Any]:
    """Make ``out_dir`` a bundle (configs copied from the committed one when absent);
    returns its inference config."""
    configs = out_dir / "configs"
    template = default_bundle_dir()
    if not (configs / "inference.json").is_file():
        configs.mkdir(parents=True, exist_ok=True)
        for name in ("metadata.json", "inference.json"):
            shutil.copy(template / "configs" / name, configs / name)
    return read_json(configs / "inference.json", ("network_def", "preprocessing"))


def train(out_dir: Path, cases: Iterable[Case], options: TrainOptions | None = None) -> TrainReport:
    """Train the network of ``out_dir``'s bundle on ``cases`` and write its weights."""
    options = options or TrainOptions()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    inference = prepare_bundle(out_dir)
    low_hu, high_hu = inference["preprocessing"]["window_hu"]
    network = build_network(inference)
    if options.resume and weights_path(out_dir).is_file():
        network.load_state_dict(torch.load(weights_path(out_dir), weights_only=True))
    pool = [case for case in cases if min(case.labels.shape) >= 8]
    report = TrainReport(asdict(options), [case.name for case in pool])
    log.info("training on %d cases", len(pool))
    optimiser = torch.optim.AdamW(network.parameters(), lr=options.learning_rate, weight_decay=1e-4)
    total_steps = options.epochs * options.steps_per_epoch
    lumen_voxels = [torch.nonzero(case.labels == CLASS_LUMEN) for case in pool]
    started = time.perf_counter()
    network.train()
    step = 0
    for epoch in range(options.epochs):
        epoch_loss = 0.0
        for _ in range(options.steps_per_epoch):
            elapsed_min = (time.perf_counter() - started) / 60.0
            progress = max(step / total_steps, elapsed_min / options.max_minutes)
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(options.learning_rate, progress)
            step += 1
            images, labels, has_aorta = _batch(pool, lumen_voxels, rng, options)
            logits = network(window(images, float(low_hu), float(high_hu)))
            loss = segmentation_loss(logits, labels, has_aorta, options.lumen_class_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            epoch_loss += float(loss.detach())
        report.losses.append(round(epoch_loss / options.steps_per_epoch, 4))
        minutes = (time.perf_counter() - started) / 60.0
        log.info("epoch %d loss %.4f (%.1f min)", epoch + 1, report.losses[-1], minutes)
        print(f"epoch {epoch + 1}/{options.epochs} loss {report.losses[-1]:.4f} "
              f"({minutes:.1f} min)", flush=True)
        if minutes >= options.max_minutes:
            print(f"stopping: {options.max_minutes} min budget spent", flush=True)
            break
    report.minutes = round((time.perf_counter() - started) / 60.0, 2)
    network.eval()
    report.weights_sha256 = write_weights(out_dir, network)
    (out_dir / "docs").mkdir(exist_ok=True)
    (out_dir / "docs" / "training.json").write_text(
        json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8"
    )
    return report


def learning_rate(peak: float, progress: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then cosine decay to zero; ``progress`` runs from 0 to 1 (by
    steps or by the time budget, whichever is further)."""
    if progress < warmup:
        return peak * (0.1 + 0.9 * progress / warmup)
    fraction = min(1.0, (progress - warmup) / (1.0 - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * fraction))


def segmentation_loss(
    logits: torch.Tensor, labels: torch.Tensor, has_aorta: torch.Tensor, lumen_weight: float
) -> torch.Tensor:
    """Weighted cross-entropy (3 classes; lumen-vs-rest where the aorta is unknown)
    plus soft Dice of the lumen. ``logits (b, 3, x, y, z)``, ``labels (b, x, y, z)``."""
    log_p = F.log_softmax(logits, dim=1)
    weight = torch.tensor([1.0, lumen_weight, 1.0], device=logits.device)
    ce_full = F.nll_loss(log_p, labels.long(), weight=weight, reduction="none")
    lumen = (labels == CLASS_LUMEN).float()
    log_lumen = log_p[:, CLASS_LUMEN]
    log_rest = torch.log1p(-log_lumen.exp().clamp(max=1 - 1e-6))
    ce_binary = -(lumen_weight * lumen * log_lumen + (1 - lumen) * log_rest)
    known = has_aorta.view(-1, 1, 1, 1).float()
    ce = (known * ce_full + (1 - known) * ce_binary).mean()
    p_lumen = log_lumen.exp()
    dice = 1 - (2 * (p_lumen * lumen).sum() + 1) / (p_lumen.sum() + lumen.sum() + 1)
    return ce + dice


def _batch(
    pool: list[Case], lumen_voxels: list[torch.Tensor], rng: np.random.Generator,
    options: TrainOptions,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images, labels, has_aorta = [], [], []
    for _ in range(options.batch):
        index = int(rng.integers(len(pool)))
        case = pool[index]
        centre = None
        if len(lumen_voxels[index]) and rng.random() < options.lumen_centred_fraction:
            centre = lumen_voxels[index][int(rng.integers(len(lumen_voxels[index])))].numpy()
        image, label = _patch(case, centre, options.patch, rng)
        image, label = _augment(image, label, rng)
        images.append(image)
        labels.append(label)
        has_aorta.append(case.has_aorta)
    return torch.stack(images), torch.stack(labels), torch.tensor(has_aorta)


def _patch(
    case: Case, centre: np.ndarray | None, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size``-voxel cube (padded with air / background where the case is smaller)."""
    shape = np.array(case.labels.shape)
    if centre is None:
        centre = rng.integers(0, shape)
    jitter = rng.integers(-size // 4, size // 4 + 1, 3)
    low = np.asarray(centre) + jitter - size // 2
    image = torch.full((1, size, size, size), -1000.0)
    label = torch.zeros((size, size, size), dtype=torch.uint8)
    source_low = np.maximum(low, 0)
    source_high = np.minimum(low + size, shape)
    if np.any(source_high <= source_low):
        return image, label
    target_low = source_low - low
    target_high = target_low + (source_high - source_low)
    src = tuple(slice(int(a), int(b)) for a, b in zip(source_low, source_high, strict=True))
    dst = tuple(slice(int(a), int(b)) for a, b in zip(target_low, target_high, strict=True))
    image[(slice(None), *dst)] = case.image_hu[(slice(None), *src)]
    label[dst] = case.labels[src]
    return image, label


def _augment(
    image: torch.Tensor, label: torch.Tensor, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flips, an axis permutation, contrast scale/shift about fat, extra noise (HU)."""
    order = [int(a) for a in rng.permutation(3)]
    image = image.permute(0, *(1 + a for a in order))
    label = label.permute(*order)
    flips = [axis for axis in range(3) if rng.random() < 0.5]
    if flips:
        image = image.flip([1 + a for a in flips])
        label = label.flip(flips)
    scale = float(rng.uniform(0.75, 1.3))
    shift = float(rng.uniform(-40.0, 40.0))
    image = (image + 80.0) * scale - 80.0 + shift
    noise_hu = float(rng.uniform(0.0, 20.0))
    if noise_hu > 0:
        image = image + noise_hu * torch.randn_like(image)
    return image.contiguous(), label.contiguous()
