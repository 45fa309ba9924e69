"""Training of the lumen-under-calcium regressor (:mod:`ccta_ai.analysis.calcium_lumen`).

Data: the project's phantom studies (seeds 1000-1999; the benchmarks use seeds >=
100000). Along each vessel's true centreline (resampled every 0.5 mm), the sections
within every calcified or mixed lesion (and 2 mm beyond its ends) are taken four
times, three of them with the centre moved up to ``jitter_mm`` (1.8 mm) in the section
plane (a centreline traced in a segmentation that the bloom pushed aside runs 1-2 mm
off the lumen's centre, often through the calcium; model 0.1.0, trained with 0.9 mm,
misread such sections by tens of points); a few percent of the other sections, once.
Sections are ``2 HALF_WIDTH_MM`` = 8 mm across, so that a left main's 4 mm lumen, 2 mm
off centre, still lies within them. Each is normalised as at inference, with the HU the
cross-section rule itself measures along that vessel (:func:`ccta_ai.analysis.lumen.measure_lumen`):
its blood HU and each section's surrounding tissue. The target is the true lumen's
diameter there (the phantom's lumen is a disc of the truth's radius on its centreline).

Network: MONAI's :class:`monai.networks.nets.Regressor` (4 residual conv stages),
L1 loss (calcium-lesion sections weighted twice), Adam with a cosine schedule, random
quarter turns and flips. A few minutes on two CPU cores.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PIXEL_MM = 0.2
HALF_WIDTH_MM = 4.0
SIDE = 2 * round(HALF_WIDTH_MM / PIXEL_MM) + 1  # pixels across a section
CLIP = (-1.0, 4.0)
CALCIUM_KINDS = {"calcified": 1, "mixed": 2, "non-calcified": 3}

INFERENCE: dict[str, Any] = {
    "network_def": {
        "_target_": "monai.networks.nets.Regressor",
        "in_shape": [1, SIDE, SIDE],
        "out_shape": [1],
        "channels": [16, 32, 64, 64],
        "strides": [2, 2, 2, 1],
    },
    "preprocessing": {
        "pixel_mm": PIXEL_MM,
        "half_width_mm": HALF_WIDTH_MM,
        "normalisation": "(HU - background) / (blood - background), the vessel's own HU",
        "clip": list(CLIP),
    },
    "postprocessing": {
        "output": "lumen area-equivalent diameter, mm",
        "test_time_turns": 4,
        "applied_where": "the cross-section rule finds calcium in the section",
    },
}


@dataclass(frozen=True)
class CalciumLumenTraining:
    """What to train on and how long."""

    first_seed: int = 1000
    cases: int = 96
    epochs: int = 16
    workers: int = 2
    jitter_mm: float = 1.8
    drawn: int = 20000  # sections drawn directly in the plane (:func:`drawn_sections`)
    other_fraction: float = 0.06
    batch: int = 256
    learning_rate: float = 1e-3
    seed: int = 0


def extract_sections(
    volume: Any, truth: dict[str, Any], rng: np.random.Generator, options: CalciumLumenTraining
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, kind)``: normalised sections (float16), true diameters (mm), lesion
    kind per section (0 none, 1 calcified, 2 mixed, 3 non-calcified)."""
    from ccta_ai.analysis.geometry import rotation_minimizing_frames
    from ccta_ai.analysis.lumen import (
        measure_lumen,
        normalise,
        sample_cross_sections,
        section_grid,
    )

    offsets = section_grid(HALF_WIDTH_MM, PIXEL_MM)
    xs, ys, kinds = [], [], []
    for vessel in truth["vessels"]:
        points, radius, s_mm = _resampled(vessel)
        if len(points) < 4:
            continue
        measured = measure_lumen(volume, points, radius)
        if not np.isfinite(measured.lumen_hu).any():
            continue
        blood = float(np.nanmax(measured.lumen_hu))
        kind = np.zeros(len(points), dtype=int)
        for lesion in truth["lesions"]:
            if lesion["vessel"] != vessel["name"]:
                continue
            centre = np.asarray(lesion["center_lps_mm"])
            k = int(np.argmin(np.linalg.norm(points - centre, axis=1)))
            near = np.abs(s_mm - s_mm[k]) <= 0.5 * lesion["length_mm"] + 2.0
            kind[near] = CALCIUM_KINDS[lesion["plaque_type"]]
        pick = (kind > 0) | (rng.random(len(points)) < options.other_fraction)
        index = np.flatnonzero(pick & measured.valid)
        if len(index) == 0:
            continue
        _, normals_u, normals_v = rotation_minimizing_frames(points)
        copies = np.where(np.isin(kind[index], [1, 2]), 4, 1)
        at = np.repeat(index, copies)
        angle = rng.uniform(0.0, 2.0 * np.pi, len(at))
        shift = options.jitter_mm * np.sqrt(rng.uniform(0.0, 1.0, len(at)))
        shift[np.r_[0, np.flatnonzero(np.diff(at) != 0) + 1]] = 0.0  # one copy on centre
        moved = (
            points[at]
            + (np.cos(angle) * shift)[:, None] * normals_u[at]
            + (np.sin(angle) * shift)[:, None] * normals_v[at]
        )
        sections = sample_cross_sections(volume, moved, normals_u[at], normals_v[at], offsets)
        x = normalise(sections, measured.background_hu[at], blood)
        ok = np.isfinite(x).all(axis=(1, 2))
        xs.append(x[ok].astype(np.float16))
        ys.append((2.0 * radius[at][ok]).astype(np.float32))
        kinds.append(kind[at][ok])
    if not xs:
        side = len(offsets)
        return np.zeros((0, side, side), np.float16), np.zeros(0, np.float32), np.zeros(0, int)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(kinds)


def _random_offset(rng: np.random.Generator, most_mm: float) -> np.ndarray:
    """An in-plane offset up to ``most_mm``, uniform over the disc."""
    turn = rng.uniform(0.0, 2.0 * np.pi)
    return most_mm * np.sqrt(rng.uniform()) * np.array([np.cos(turn), np.sin(turn)])


def drawn_sections(
    count: int, rng: np.random.Generator, jitter_mm: float = CalciumLumenTraining.jitter_mm
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, y, kind)`` like :func:`extract_sections`, of sections drawn directly in the
    plane: a lumen disc inside a plaque (concentric or eccentric) with calcium over an
    arc of it, in fat, blurred and, at random, bloomed (calcium's excess spread by a
    wider kernel, or not at all) and noised. The phantom's imaging blooms every calcium
    the same way; these vary it, so the network reads the blooming in the image rather
    than assuming it (0.2 mm pixels, 4x supersampled, as the product samples them)."""
    from scipy import ndimage

    side = 2 * round(HALF_WIDTH_MM / PIXEL_MM) + 1
    fine = 4
    step = PIXEL_MM / fine
    axis = (np.arange(side * fine) - (side * fine - 1) / 2.0) * step
    u, v = np.meshgrid(axis, axis, indexing="xy")
    xs = np.empty((count, side, side), dtype=np.float16)
    ys = np.empty(count, dtype=np.float32)
    for n in range(count):
        r_ref = rng.uniform(0.6, 2.0)
        stenosis = rng.choice([0.0, rng.uniform(0.0, 0.9)], p=[0.15, 0.85])
        r_lumen = r_ref * (1.0 - stenosis)
        outer = max(r_ref + 0.3, r_lumen + 0.3) * np.sqrt(rng.uniform(1.0, 1.6))
        shift = (outer - r_lumen - 0.3) * rng.choice([0.0, rng.uniform(0.3, 0.9)])
        turn = rng.uniform(0.0, 2.0 * np.pi)
        direction = np.array([np.cos(turn), np.sin(turn)])
        radius = np.hypot(u, v)
        wall = np.hypot(u + shift * direction[0], v + shift * direction[1])
        angle = np.arctan2(v, u) - turn
        sector = np.deg2rad(rng.uniform(40.0, 360.0))
        lumen_hu, fat_hu = rng.uniform(250.0, 550.0), rng.uniform(-110.0, -60.0)
        calcium_hu = rng.uniform(600.0, 1400.0)
        scene = np.full(u.shape, fat_hu)
        plaque = wall <= outer
        scene[plaque] = rng.uniform(20.0, 90.0)
        calcium = plaque & (radius > r_lumen) & (np.abs(np.angle(np.exp(1j * angle))) <= sector / 2)
        calcium &= rng.random() < 0.9  # a few plaques without calcium
        scene[calcium] = calcium_hu
        scene[radius <= r_lumen] = lumen_hu
        sigma = rng.uniform(0.5, 0.8) / 2.355 / step
        image = ndimage.gaussian_filter(scene, sigma)
        if rng.random() < 0.75:
            bloom = rng.uniform(0.8, 1.6) / 2.355 / step
            excess = np.where(calcium, max(calcium_hu - 150.0, 0.0), 0.0)
            extra = ndimage.gaussian_filter(excess, bloom) - ndimage.gaussian_filter(excess, sigma)
            image += rng.uniform(0.6, 1.3) * extra
        noise = ndimage.gaussian_filter(rng.normal(size=u.shape), rng.uniform(0.3, 0.5) / step)
        image += noise * rng.uniform(10.0, 45.0) / max(float(noise.std()), 1e-6)
        pixels = image.reshape(side, fine, side, fine).mean(axis=(1, 3))
        # the centreline off the lumen's centre: a little, or (where calcium's bloom
        # pushed the segmented lumen aside) up to jitter_mm
        off = rng.normal(0.0, 0.35, 2) if rng.random() < 0.5 else _random_offset(rng, jitter_mm)
        centre = off / PIXEL_MM
        pixels = ndimage.shift(pixels, centre, order=1, mode="nearest")
        blood = lumen_hu * rng.uniform(0.92, 1.05)
        xs[n] = ((pixels - fat_hu) / (blood - fat_hu)).astype(np.float16)
        ys[n] = 2.0 * r_lumen
    return xs, ys, np.full(count, 4)


def _resampled(vessel: dict[str, Any], step_mm: float = 0.5) -> tuple[np.ndarray, ...]:
    from ccta_ai.analysis.geometry import cumulative_length_mm, interpolate_along

    points = np.asarray(vessel["points_lps_mm"], dtype=np.float64)
    radius = np.asarray(vessel["radius_mm"], dtype=np.float64)
    if len(points) < 2:
        return points, radius, np.zeros(len(points))
    arc = cumulative_length_mm(points)
    s_mm = np.arange(0.0, arc[-1], step_mm)
    return interpolate_along(arc, points, s_mm), interpolate_along(arc, radius, s_mm), s_mm


def _study_sections(
    seed: int, options: CalciumLumenTraining, cache: Path | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ccta_ai.phantom.truth import GENERATOR_REVISION

    # the targets are the truth's radii: a cache of another generator revision is stale
    name = (
        f"calcium-lumen-{seed}-r{GENERATOR_REVISION}"
        f"-w{2 * HALF_WIDTH_MM:g}-j{options.jitter_mm:g}.npz"
    )
    if cache is not None and (cache / name).is_file():
        with np.load(cache / name) as saved:
            return saved["x"], saved["y"], saved["kind"]
    from ccta_ai.phantom.study import generate_study

    study = generate_study(seed, "full")
    found = extract_sections(study.ccta, study.truth, np.random.default_rng(seed), options)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache / name, x=found[0], y=found[1], kind=found[2])
    return found


def gather(
    options: CalciumLumenTraining, cache: Path | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sections of ``options.cases`` phantom studies, ``options.workers`` at a time."""
    seeds = range(options.first_seed, options.first_seed + options.cases)
    if options.workers > 1:
        with ProcessPoolExecutor(options.workers) as pool:
            parts = list(pool.map(_study_sections, seeds, [options] * len(seeds),
                                  [cache] * len(seeds)))  # fmt: skip
    else:
        parts = [_study_sections(seed, options, cache) for seed in seeds]
    x, y, kind = (np.concatenate(column) for column in zip(*parts, strict=True))
    return x, y, kind


def train_network(
    x: np.ndarray, y: np.ndarray, kind: np.ndarray, options: CalciumLumenTraining
) -> tuple[Any, list[float]]:
    """The trained network and its loss per epoch."""
    import torch

    from ccta_ai.analysis.segment_bundle import build_network

    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    network = build_network(INFERENCE)
    inputs = torch.from_numpy(np.clip(x.astype(np.float32), *CLIP))[:, None]
    targets = torch.from_numpy(y.astype(np.float32))
    weights = torch.from_numpy(np.where(np.isin(kind, [1, 2]), 1.0, 0.5).astype(np.float32))
    optimiser = torch.optim.Adam(network.parameters(), lr=options.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(options.epochs, 1))
    losses = []
    for _ in range(options.epochs):
        network.train()
        order = torch.from_numpy(rng.permutation(len(inputs)))
        total = 0.0
        for start in range(0, len(order), options.batch):
            pick = order[start : start + options.batch]
            batch = torch.rot90(inputs[pick], int(rng.integers(4)), (2, 3))
            if rng.random() < 0.5:
                batch = torch.flip(batch, (3,))
            loss = (torch.abs(network(batch)[:, 0] - targets[pick]) * weights[pick]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(pick)
        schedule.step()
        losses.append(total / max(len(order), 1))
    network.eval()
    return network, losses


def write_bundle(
    out_dir: Path, network: Any, options: CalciumLumenTraining, sections: int, version: str
) -> str:
    """The bundle's configs and weights; returns the weights' sha256."""
    import monai
    import torch

    from ccta_ai.analysis.calcium_lumen import BUNDLE_NAME
    from ccta_ai.analysis.segment_bundle import write_weights

    configs = out_dir / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    seeds = f"{options.first_seed}-{options.first_seed + options.cases - 1}"
    metadata = {
        "name": BUNDLE_NAME,
        "version": version,
        "changelog": {
            version: f"trained {options.epochs} epochs on {sections} sections: phantom seeds "
            f"{seeds} and {options.drawn} drawn in the plane with varied blooming"
        },
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "task": "Lumen diameter in CCTA cross-sections that hold calcium (blooming)",
        "description": "A small MONAI Regressor reading the lumen's area-equivalent diameter "
        f"from an {2 * HALF_WIDTH_MM:g} mm cross-section orthogonal to the centreline, used "
        "where calcium blooms over the lumen and the half-maximum contour fails.",
        "authors": "ccta-ai contributors",
        "copyright": "Copyright (c) ccta-ai contributors",
        "license": "AGPL-3.0-or-later",
        "data_source": f"synthetic CCTA phantoms of ccta_ai.phantom (seeds {seeds}) and "
        "cross-sections drawn by ccta_ai.training.calcium_lumen.drawn_sections",
        "network_data_format": {
            "inputs": {
                "section": {
                    "type": "image",
                    "num_channels": 1,
                    "spatial_shape": [SIDE, SIDE],
                    "pixdim_mm": [PIXEL_MM, PIXEL_MM],
                    "value_range": list(CLIP),
                }
            },
            "outputs": {"diameter_mm": {"type": "scalar", "num_channels": 1}},
        },
        "intended_use": "Research and development only; not a medical device. Estimates the "
        "lumen where calcium hides it; a physician confirms every stenosis grade.",
        "ccta_ai_weights_sha256": "",
    }
    (configs / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n", "utf-8")
    (configs / "inference.json").write_text(json.dumps(INFERENCE, indent=2) + "\n", "utf-8")
    return write_weights(out_dir, network)


def run_training(
    out_dir: Path, options: CalciumLumenTraining, cache: Path | None, version: str
) -> str:
    """Gather, train, write; prints progress; returns the weights' sha256."""
    started = time.perf_counter()
    x, y, kind = gather(options, cache)
    calcium = int(np.isin(kind, [1, 2]).sum())
    if options.drawn:
        rng = np.random.default_rng(options.seed)
        drawn = drawn_sections(options.drawn, rng, options.jitter_mm)
        x, y, kind = (np.concatenate([a, b]) for a, b in zip((x, y, kind), drawn, strict=True))
    seconds = time.perf_counter() - started
    print(f"{len(x)} sections ({calcium} at calcified or mixed lesions) from "
          f"{options.cases} studies and {options.drawn} drawn, in {seconds:.0f} s",
          flush=True)  # fmt: skip
    network, losses = train_network(x, y, kind, options)
    for epoch, loss in enumerate(losses):
        print(f"  epoch {epoch}: L1 {loss:.4f} mm", flush=True)
    digest = write_bundle(out_dir, network, options, len(x), version)
    print(f"wrote {out_dir} in {time.perf_counter() - started:.0f} s; weights sha256 {digest}")
    return digest


def add_arguments(parser: Any) -> None:
    """``ccta-ai train-calcium-lumen`` options."""
    defaults = CalciumLumenTraining()
    parser.add_argument("--out", required=True, help="bundle folder (models/calcium_lumen)")
    parser.add_argument("--cases", type=int, default=defaults.cases, help="phantom studies")
    parser.add_argument("--first-seed", type=int, default=defaults.first_seed)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--workers", type=int, default=defaults.workers,
                        help="studies generated at a time")  # fmt: skip
    parser.add_argument("--version", default="0.2.0", help="the bundle's version")
    parser.add_argument("--cache", default=None, help="folder keeping extracted sections")


def run(args: Any) -> int:
    from ccta_ai.errors import ConfigError
    from ccta_ai.training.command import BENCHMARK_FIRST_SEED

    if args.first_seed + args.cases > BENCHMARK_FIRST_SEED:
        raise ConfigError(
            f"training seeds {args.first_seed}..{args.first_seed + args.cases - 1} reach the "
            f"benchmark seeds (>= {BENCHMARK_FIRST_SEED}); pick seeds in 1000-1999"
        )
    options = CalciumLumenTraining(
        first_seed=args.first_seed, cases=args.cases, epochs=args.epochs, workers=args.workers
    )
    run_training(Path(args.out), options, Path(args.cache) if args.cache else None, args.version)
    return 0
