"""The lumen under calcium: a small MONAI regressor of the lumen's diameter.

Calcium blooms: blurred wider than the rest of the image, a plaque of 650-1,300 HU
spreads into the lumen it rings, and a half-maximum contour then finds no lumen at all
or takes the calcium for lumen. On the true centrelines of 40 phantom studies the
cross-section rule (:mod:`.lumen`) read 22 of 28 calcified lesions wrongly by 25-90
points (mean absolute error 22.6). Where a section holds calcium, this network reads
the lumen's area-equivalent diameter from the section itself instead.

Layout (``models/calcium_lumen/``, a MONAI bundle like ``coronary_seg``)::

    configs/metadata.json    MONAI bundle metadata + ``ccta_ai_weights_sha256``
    configs/inference.json   the network (``network_def``), the section it reads
                             (``preprocessing``) and what it returns (``postprocessing``)
    models/model.pt          the network's state dict
    docs/README.md           the model card

Input: the section orthogonal to the centreline, ``pixel_mm`` pixels over
``half_width_mm`` each way, as ``(HU - background) / (blood - background)`` (the
vessel's surrounding-tissue and blood HU of :mod:`.lumen`), clipped to ``clip``.
Output: the lumen's area-equivalent diameter (mm), averaged over the section's four
quarter turns (the lumen's area does not depend on how the section is turned).
Trained by ``ccta-ai train-calcium-lumen`` (:mod:`ccta_ai.training.calcium_lumen`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import ccta_ai
from ccta_ai.analysis.segment_bundle import CheckedBundle, load_checked
from ccta_ai.errors import ModelError

BUNDLE_NAME = "calcium_lumen"
INFERENCE_KEYS = ("network_def", "preprocessing", "postprocessing")
_RETRAIN = "train one with `ccta-ai train-calcium-lumen --out DIR`"


def default_bundle_dir() -> Path:
    """The committed bundle: ``models/calcium_lumen`` at the repository root."""
    return Path(ccta_ai.__file__).resolve().parents[2] / "models" / BUNDLE_NAME


@dataclass(frozen=True)
class CalciumLumenModel(CheckedBundle):
    """The checked calcium_lumen bundle with its network loaded (eval mode, CPU)."""

    @property
    def pixel_mm(self) -> float:
        return float(self.inference["preprocessing"]["pixel_mm"])

    @property
    def half_width_mm(self) -> float:
        return float(self.inference["preprocessing"]["half_width_mm"])

    @property
    def clip(self) -> tuple[float, float]:
        low, high = self.inference["preprocessing"]["clip"]
        return float(low), float(high)

    @property
    def identity(self) -> str:
        """How findings name it: name, version and the weights' sha256."""
        return f"{self.name} {self.version} (weights sha256 {self.weights_sha256})"

    def diameters_mm(self, normalised: np.ndarray, batch: int = 512) -> np.ndarray:
        """Lumen diameters (mm) of ``(n, m, m)`` normalised sections."""
        count = len(normalised)
        out = np.empty(count, dtype=np.float64)
        low, high = self.clip
        with torch.no_grad():
            for start in range(0, count, batch):
                chunk = np.clip(normalised[start : start + batch], low, high)
                x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))[:, None]
                turns = [self.network(torch.rot90(x, k, (2, 3)))[:, 0] for k in range(4)]
                out[start : start + len(chunk)] = torch.stack(turns).mean(0).numpy()
        return np.clip(out, 0.0, None)


def load_calcium_lumen(bundle_dir: Path | None = None) -> CalciumLumenModel:
    """Read and check the bundle and load its network.

    Raises:
        ModelError: a file is missing or unreadable, a key is missing, the weights'
            sha256 differs from the metadata's, or they do not fit the network.
    """
    directory = Path(bundle_dir) if bundle_dir is not None else default_bundle_dir()
    checked = load_checked(directory, INFERENCE_KEYS, _RETRAIN)
    for key in ("pixel_mm", "half_width_mm", "clip"):
        if key not in checked.inference["preprocessing"]:
            raise ModelError(f"{directory / 'configs' / 'inference.json'}: preprocessing "
                             f"lacks {key!r}")  # fmt: skip
    return CalciumLumenModel(**vars(checked))
