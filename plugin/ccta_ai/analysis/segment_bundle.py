"""The coronary segmentation model as a MONAI bundle: read, check, build.

Layout (``models/coronary_seg/``)::

    configs/metadata.json    MONAI bundle metadata + ``ccta_ai_weights_sha256``
    configs/inference.json   pre-processing, network definition, post-processing
    models/model.pt          the network's state dict
    docs/README.md           the model card

The network is built from ``inference.json``'s ``network_def`` with MONAI's
:class:`monai.bundle.ConfigParser`; the weights load only after their sha256 matches
the one recorded in the metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import ccta_ai
from ccta_ai.errors import ModelError

BUNDLE_NAME = "coronary_seg"
WEIGHTS_SHA256_KEY = "ccta_ai_weights_sha256"
METADATA_KEYS = (
    "version",
    "changelog",
    "monai_version",
    "pytorch_version",
    "numpy_version",
    "task",
    "description",
    "authors",
    "copyright",
    "license",
    "network_data_format",
    "intended_use",
    WEIGHTS_SHA256_KEY,
)
INFERENCE_KEYS = ("network_def", "preprocessing", "sliding_window", "postprocessing")
CLASS_BACKGROUND, CLASS_LUMEN, CLASS_AORTA = 0, 1, 2
_RETRAIN = "train one with `ccta-ai train`"  # how error messages end


def default_bundle_dir() -> Path:
    """The committed bundle: ``models/coronary_seg`` at the repository root."""
    return Path(ccta_ai.__file__).resolve().parents[2] / "models" / BUNDLE_NAME


@dataclass(frozen=True)
class CheckedBundle:
    """A checked MONAI bundle: its configuration and the network with its weights
    loaded (see :func:`load_checked`)."""

    directory: Path
    metadata: dict[str, Any]
    inference: dict[str, Any]
    network: torch.nn.Module
    weights_sha256: str

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", self.directory.name))

    @property
    def version(self) -> str:
        return str(self.metadata["version"])


@dataclass(frozen=True)
class Bundle(CheckedBundle):
    """The segmentation bundle."""

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", BUNDLE_NAME))

    @property
    def spacing_mm(self) -> float:
        return float(self.inference["preprocessing"]["spacing_mm"])

    @property
    def window_hu(self) -> tuple[float, float]:
        low, high = self.inference["preprocessing"]["window_hu"]
        return float(low), float(high)


def weights_path(bundle_dir: Path) -> Path:
    return bundle_dir / "models" / "model.pt"


def read_json(path: Path, required: tuple[str, ...], retrain: str = _RETRAIN) -> dict[str, Any]:
    """A bundle config file, with its required keys checked."""
    if not path.is_file():
        raise ModelError(
            f"model bundle file {path} is missing; restore the bundle from the "
            f"repository or {retrain}"
        )
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"model bundle file {path} is not readable JSON: {error}") from error
    missing = [key for key in required if key not in content]
    if missing:
        raise ModelError(f"model bundle file {path} lacks the keys {missing}")
    return dict(content)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_network(inference: dict[str, Any]) -> torch.nn.Module:
    """The untrained network described by ``inference["network_def"]``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser({"network_def": inference["network_def"]})
    try:
        network = parser.get_parsed_content("network_def")
    except Exception as error:  # MONAI raises many kinds for a bad definition
        raise ModelError(f"cannot build the network from network_def: {error}") from error
    if not isinstance(network, torch.nn.Module):
        raise ModelError(f"network_def built a {type(network).__name__}, not a torch module")
    return network


def load_bundle(bundle_dir: Path | None = None, device: torch.device | None = None) -> Bundle:
    """Read and check a bundle and load its network (in eval mode) onto ``device``.

    Raises:
        ModelError: a file is missing or unreadable, a key is missing, the weights'
            sha256 differs from the metadata's, or they do not fit the network.
    """
    directory = Path(bundle_dir) if bundle_dir is not None else default_bundle_dir()
    checked = load_checked(directory, INFERENCE_KEYS, _RETRAIN, device)
    return Bundle(**vars(checked))


def load_checked(
    directory: Path,
    inference_keys: tuple[str, ...],
    retrain: str,
    device: torch.device | None = None,
) -> CheckedBundle:
    """Read a bundle's configs (``METADATA_KEYS``, ``inference_keys``), check its
    weights' sha256 against the metadata and load them into ``network_def``'s network
    (eval mode, on ``device``). ``retrain`` ends the error messages (how to make one).

    Raises:
        ModelError: a file is missing or unreadable, a key is missing, the weights'
            sha256 differs from the metadata's, or they do not fit the network.
    """
    metadata = read_json(directory / "configs" / "metadata.json", METADATA_KEYS, retrain)
    inference = read_json(directory / "configs" / "inference.json", inference_keys, retrain)
    path = weights_path(directory)
    if not path.is_file():
        raise ModelError(f"model weights {path} are missing; restore them from the "
                         f"repository or {retrain}")  # fmt: skip
    expected = str(metadata[WEIGHTS_SHA256_KEY]).lower()
    actual = sha256_of(path)
    if actual != expected:
        raise ModelError(
            f"model weights {path} have sha256 {actual}, but "
            f"{directory / 'configs' / 'metadata.json'} expects {expected}; the file is "
            f"damaged or from another training: restore both files from the same commit "
            f"or {retrain}"
        )
    network = build_network(inference)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (RuntimeError, OSError, ValueError) as error:
        raise ModelError(f"model weights {path} do not fit network_def: {error}") from error
    network.to(device or torch.device("cpu")).eval()
    return CheckedBundle(directory, metadata, inference, network, actual)


def write_weights(bundle_dir: Path, network: torch.nn.Module) -> str:
    """Save ``network``'s state dict into the bundle and record its sha256 in the
    metadata; returns the sha256."""
    path = weights_path(bundle_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().clone() for key, value in network.state_dict().items()}
    torch.save(state, path)
    digest = sha256_of(path)
    metadata_path = bundle_dir / "configs" / "metadata.json"
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata[WEIGHTS_SHA256_KEY] = digest
    metadata_path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return digest
