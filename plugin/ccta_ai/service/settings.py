"""Our settings: the ``CctaAi`` section of Orthanc's configuration, validated.

Standard library only: this module runs inside Orthanc's embedded interpreter as well
as in the worker. Every key has a default (see ``orthanc_config/orthanc.json`` and
docs/orthanc.md); a wrong value is a :class:`~ccta_ai.errors.ConfigError` that names
the key, quotes the value and says what is allowed.

Paths: Orthanc resolves ``StorageDirectory`` and ``IndexDirectory`` relative to the
directory of its configuration file, and so do we, for every path of ours.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ccta_ai.errors import ConfigError

SECTION = "CctaAi"
#: Environment variable through which the plugin hands its REST token to the workers
#: (never on the command line, where ``ps`` would show it).
TOKEN_ENV = "CCTA_AI_ORTHANC_TOKEN"
#: The project's source root (``plugin/``) and checkout (the repository root).
SOURCE_ROOT = Path(__file__).resolve().parents[2]
REPO_ROOT = SOURCE_ROOT.parent

_LANGUAGES = ("en", "zh")
#: The pipeline function used when ``CctaAi.Workers.Pipeline`` is empty (as in the
#: embedded configuration). Switch to the analysis here, in this one line, when it lands.
DEFAULT_PIPELINE = "ccta_ai.pipeline:run"


@dataclass(frozen=True)
class SelectionRules:
    """What makes a series a CCTA to analyse (see :mod:`ccta_ai.service.selection`)."""

    modalities: tuple[str, ...] = ("CT",)
    sop_class_uids: tuple[str, ...] = (
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
        "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    )
    min_slices: int = 64
    max_slice_thickness_mm: float = 1.0
    require_contrast: bool = True
    contrast_description_patterns: tuple[str, ...] = (
        r"angio", r"\bcta\b", r"ccta", r"coronar", r"cardiac", r"contrast", r"\+\s?c\b",
        r"冠脉", r"冠状", r"增强", r"造影",
    )
    reject_image_type_values: tuple[str, ...] = ("LOCALIZER", "DERIVED", "SECONDARY")
    reject_description_patterns: tuple[str, ...] = (
        r"scout", r"topogram", r"localizer", r"surview", r"scanogram", r"bolus",
        r"monitoring", r"smart\s?prep", r"calcium", r"ca\s?score", r"dose\s?report",
        r"定位",
    )


@dataclass(frozen=True)
class OwnOutputs:
    """How our own outputs are recognised (never analysed, the only ones ever deleted).

    ``manufacturer`` must equal the Manufacturer the DICOM writers put in every object
    we make; ``series_description_prefix`` starts their SeriesDescription.
    """

    manufacturer: str = "CCTA AI"
    series_description_prefix: str = "CCTA AI"
    private_creator: str = "CCTA AI"


@dataclass(frozen=True)
class DicomWebDestination:
    """A DICOMweb server the worker itself sends results to (STOW-RS)."""

    url: str
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class Forwarding:
    """Where results go after they are stored (see :mod:`ccta_ai.service.forwarding`).

    ``modalities``, ``peers`` and ``dicomweb_servers`` are names from Orthanc's
    ``DicomModalities``, ``OrthancPeers`` and ``DicomWeb.Servers``: Orthanc sends
    (C-STORE, its peer protocol, STOW-RS). ``dicomweb`` are servers the worker sends to
    itself with STOW-RS (the only kind available in DICOMweb mode). Each destination is
    tried ``attempts`` times, ``retry_delay_s`` apart (doubling).
    """

    modalities: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()
    dicomweb_servers: tuple[str, ...] = ()
    dicomweb: tuple[DicomWebDestination, ...] = ()
    attempts: int = 3
    retry_delay_s: float = 2.0

    @property
    def enabled(self) -> bool:
        return bool(self.modalities or self.peers or self.dicomweb_servers or self.dicomweb)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forwarding:
        return cls(
            modalities=tuple(data.get("modalities", ())),
            peers=tuple(data.get("peers", ())),
            dicomweb_servers=tuple(data.get("dicomweb_servers", ())),
            dicomweb=tuple(DicomWebDestination(**d) for d in data.get("dicomweb", ())),
            attempts=int(data.get("attempts", 3)),
            retry_delay_s=float(data.get("retry_delay_s", 2.0)),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the plugin and the workers need, paths absolute."""

    enabled: bool = True
    orthanc_url: str = "http://127.0.0.1:8042"
    orthanc_username: str = ""
    orthanc_password: str = ""
    state_dir: Path = Path("ccta-ai")
    job_store_path: Path = Path("ccta-ai/jobs.sqlite")
    venv_site_packages: Path | None = None
    worker_python: Path = Path(sys.executable)
    workers: int = 1
    start_workers: bool = True
    pipeline: str = DEFAULT_PIPELINE
    #: Keep the next job's pipeline process started (imports and model loaded).
    prestart_pipeline: bool = True
    lease_s: float = 60.0
    heartbeat_s: float = 10.0
    poll_s: float = 1.0
    restart_backoff_s: tuple[float, float] = (1.0, 60.0)
    job_timeout_s: float = 900.0
    max_attempts: int = 3
    max_instances_per_series: int = 3000
    output_language: str = "zh"
    selection: SelectionRules = field(default_factory=SelectionRules)
    own_outputs: OwnOutputs = field(default_factory=OwnOutputs)
    forwarding: Forwarding = field(default_factory=Forwarding)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (what the plugin hands to its workers)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, Path):
                data[key] = str(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        """Inverse of :meth:`to_json`."""
        values = dict(data)
        for key in ("state_dir", "job_store_path", "worker_python"):
            values[key] = Path(values[key])
        if values.get("venv_site_packages"):
            values["venv_site_packages"] = Path(values["venv_site_packages"])
        values["restart_backoff_s"] = tuple(values["restart_backoff_s"])
        rules: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values["selection"].items()
        }
        values["selection"] = SelectionRules(**rules)
        values["own_outputs"] = OwnOutputs(**values["own_outputs"])
        values["forwarding"] = Forwarding.from_json(values["forwarding"])
        return cls(**values)


def save_settings(settings: Settings, path: Path) -> None:
    """Write ``settings`` for a worker (``0600``: it may hold a password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings.to_json(), indent=2, ensure_ascii=False), "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def load_settings(path: Path) -> Settings:
    """Read a file written by :func:`save_settings`, or an Orthanc configuration file
    (JSON without comments) whose ``CctaAi`` section is then resolved."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read settings {path}: {error}") from error
    if "job_store_path" in data:
        return Settings.from_json(data)
    return settings_from_orthanc(data, config_dir=Path(path).resolve().parent)


# --- parsing Orthanc's configuration ---------------------------------------------------


class _Section:
    """Typed reads from one JSON object, with the key path in every error."""

    def __init__(self, data: Any, where: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a JSON object, got {data!r}")
        self.data = data
        self.where = where

    def section(self, key: str) -> _Section:
        return _Section(self.data.get(key), f"{self.where}.{key}")

    def _get(self, key: str, default: Any, types: tuple[type, ...], kind: str) -> Any:
        value = self.data.get(key, default)
        if isinstance(value, bool) and bool not in types:
            raise ConfigError(f"{self.where}.{key} must be {kind}, got {value!r}")
        if not isinstance(value, types):
            raise ConfigError(f"{self.where}.{key} must be {kind}, got {value!r}")
        return value

    def get_str(self, key: str, default: str) -> str:
        return str(self._get(key, default, (str,), "a string"))

    def get_bool(self, key: str, default: bool) -> bool:
        return bool(self._get(key, default, (bool,), "true or false"))

    def get_number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = float(self._get(key, default, (int, float), "a number"))
        if value < minimum:
            raise ConfigError(f"{self.where}.{key} must be ≥ {minimum}, got {value!r}")
        return value

    def get_int(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._get(key, default, (int,), "an integer")
        if value < minimum:
            raise ConfigError(f"{self.where}.{key} must be ≥ {minimum}, got {value!r}")
        return int(value)

    def get_strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where}.{key} must be a list of strings, got {value!r}")
        return tuple(value)


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def settings_from_orthanc(config: dict[str, Any], config_dir: Path) -> Settings:
    """Resolve our settings from Orthanc's whole configuration (as
    ``orthanc.GetConfiguration()`` returns it) and the directory of its file."""
    root = _Section(config, "configuration")
    ours = root.section(SECTION)
    storage = _path(root.get_str("StorageDirectory", "OrthancStorage"), config_dir)
    index = _path(root.get_str("IndexDirectory", str(storage)), config_dir)

    state_dir = _path(ours.get_str("StateDirectory", "") or str(index / "ccta-ai"), config_dir)
    store = ours.section("JobStore")
    job_store_path = _path(store.get_str("Path", "") or str(state_dir / "jobs.sqlite"), config_dir)

    venv = ours.get_str("Venv", "") or str(REPO_ROOT / ".venv")
    venv_path = _path(venv, config_dir)
    site = ours.get_str("VenvSitePackages", "")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site_path = _path(site, config_dir) if site else venv_path / "lib" / version / "site-packages"

    orthanc = ours.section("Orthanc")
    scheme = "https" if root.get_bool("SslEnabled", False) else "http"
    default_url = f"{scheme}://127.0.0.1:{root.get_int('HttpPort', 8042, minimum=1)}"

    workers = ours.section("Workers")
    python = workers.get_str("Python", "") or str(venv_path / "bin" / "python")
    backoff = workers.data.get("RestartBackoffSeconds", [1, 60])
    if (
        not isinstance(backoff, list)
        or len(backoff) != 2
        or not all(isinstance(v, int | float) and v > 0 for v in backoff)
        or backoff[0] > backoff[1]
    ):
        raise ConfigError(
            f"{workers.where}.RestartBackoffSeconds must be [first, max] seconds with "
            f"0 < first ≤ max, got {backoff!r}"
        )
    lease_s = workers.get_number("LeaseSeconds", 60.0, minimum=1.0)
    heartbeat_s = workers.get_number("HeartbeatSeconds", 10.0, minimum=0.1)
    if heartbeat_s * 2 > lease_s:
        raise ConfigError(
            f"{workers.where}.HeartbeatSeconds ({heartbeat_s}) must be at most half of "
            f"LeaseSeconds ({lease_s}), or a live worker would lose its job"
        )

    limits = ours.section("Limits")
    language = ours.get_str("OutputLanguage", "zh")
    if language not in _LANGUAGES:
        raise ConfigError(f"{ours.where}.OutputLanguage must be one of {_LANGUAGES}, "
                          f"got {language!r}")
    pipeline = workers.get_str("Pipeline", "") or DEFAULT_PIPELINE
    if ":" not in pipeline:
        raise ConfigError(f"{workers.where}.Pipeline must be 'module:function', got {pipeline!r}")

    return Settings(
        enabled=ours.get_bool("Enabled", True),
        orthanc_url=(orthanc.get_str("Url", "") or default_url).rstrip("/"),
        orthanc_username=orthanc.get_str("Username", ""),
        orthanc_password=orthanc.get_str("Password", ""),
        state_dir=state_dir,
        job_store_path=job_store_path,
        venv_site_packages=site_path,
        worker_python=_path(python, config_dir),
        workers=workers.get_int("Count", 1),
        start_workers=workers.get_bool("Start", True),
        pipeline=pipeline,
        prestart_pipeline=workers.get_bool("PrestartPipeline", True),
        lease_s=lease_s,
        heartbeat_s=heartbeat_s,
        poll_s=workers.get_number("PollSeconds", 1.0, minimum=0.05),
        restart_backoff_s=(float(backoff[0]), float(backoff[1])),
        job_timeout_s=limits.get_number("JobTimeoutSeconds", 900.0, minimum=1.0),
        max_attempts=limits.get_int("MaxAttempts", 3, minimum=1),
        max_instances_per_series=limits.get_int("MaxInstancesPerSeries", 3000, minimum=1),
        output_language=language,
        selection=_selection(ours.section("Selection")),
        own_outputs=_own_outputs(ours.section("OwnOutputs")),
        forwarding=_forwarding(ours.section("Forwarding")),
    )


def _forwarding(section: _Section) -> Forwarding:
    destinations = []
    raw = section.data.get("DicomWeb", [])
    if not isinstance(raw, list):
        raise ConfigError(f"{section.where}.DicomWeb must be a list, got {raw!r}")
    for index, item in enumerate(raw):
        where = f"{section.where}.DicomWeb[{index}]"
        if isinstance(item, str):
            item = {"Url": item}
        entry = _Section(item, where)
        url = entry.get_str("Url", "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.Url must be an http(s) URL, got {url!r}")
        destinations.append(DicomWebDestination(
            url=url.rstrip("/"), username=entry.get_str("Username", ""),
            password=entry.get_str("Password", "")))
    return Forwarding(
        modalities=section.get_strings("Modalities", ()),
        peers=section.get_strings("Peers", ()),
        dicomweb_servers=section.get_strings("DicomWebServers", ()),
        dicomweb=tuple(destinations),
        attempts=section.get_int("Attempts", 3, minimum=1),
        retry_delay_s=section.get_number("RetryDelaySeconds", 2.0),
    )


def _selection(section: _Section) -> SelectionRules:
    default = SelectionRules()
    return SelectionRules(
        modalities=section.get_strings("Modalities", default.modalities),
        sop_class_uids=section.get_strings("SopClassUids", default.sop_class_uids),
        min_slices=section.get_int("MinSlices", default.min_slices, minimum=1),
        max_slice_thickness_mm=section.get_number(
            "MaxSliceThicknessMm", default.max_slice_thickness_mm, minimum=0.01
        ),
        require_contrast=section.get_bool("RequireContrast", default.require_contrast),
        contrast_description_patterns=section.get_strings(
            "ContrastDescriptionPatterns", default.contrast_description_patterns
        ),
        reject_image_type_values=section.get_strings(
            "RejectImageTypeValues", default.reject_image_type_values
        ),
        reject_description_patterns=section.get_strings(
            "RejectDescriptionPatterns", default.reject_description_patterns
        ),
    )


def _own_outputs(section: _Section) -> OwnOutputs:
    default = OwnOutputs()
    own = OwnOutputs(
        manufacturer=section.get_str("Manufacturer", default.manufacturer),
        series_description_prefix=section.get_str(
            "SeriesDescriptionPrefix", default.series_description_prefix
        ),
        private_creator=section.get_str("PrivateCreator", default.private_creator),
    )
    if not own.manufacturer.strip():
        raise ConfigError(f"{section.where}.Manufacturer must not be empty: it is how our "
                          "outputs are told apart from the input")
    return own
