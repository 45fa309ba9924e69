"""CT Image and Enhanced CT Image writers (PS3.3 A.3, A.38), and CT localizers.

Used to write the synthetic input studies (phantom) and the loader's test series, so
that every CT object the project makes passes ``dciodvfy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ccta_ai.imaging.volume import Volume


@dataclass(frozen=True)
class StudyIdentity:
    """Patient, study and equipment attributes shared by every series of a study."""

    patient_name: str
    patient_id: str
    patient_birth_date: str  # YYYYMMDD
    patient_sex: str  # "M", "F" or "O"
    study_instance_uid: str
    study_datetime: datetime
    accession_number: str
    study_id: str
    study_description: str
    frame_of_reference_uid: str
    referring_physician_name: str = ""
    institution_name: str = "CCTA AI Synthetic Hospital"
    manufacturer: str = "CCTA AI phantom"
    manufacturer_model_name: str = "Synthetic CT"
    station_name: str = "PHANTOM"
    device_serial_number: str = "0000"
    software_versions: str = ""
    patient_weight_kg: float | None = None


@dataclass(frozen=True)
class CtAcquisition:
    """Per-series acquisition and reconstruction attributes, as a scanner sets them."""

    series_instance_uid: str
    series_number: int
    series_description: str
    image_type: tuple[str, ...]  # e.g. ("ORIGINAL", "PRIMARY", "AXIAL")
    acquisition_datetime: datetime
    patient_position: str  # "HFS", "FFS", ...
    slice_thickness_mm: float
    kvp: float
    tube_current_ma: float
    exposure_time_ms: float
    convolution_kernel: str
    contrast_bolus_agent: str | None  # None: no contrast
    contrast_bolus_route: str = "IV"
    contrast_bolus_volume_ml: float | None = None
    ecg_gated: bool = False
    cardiac_phase_pct: float | None = None  # nominal percentage of the R-R interval
    heart_rate_bpm: int | None = None
    body_part_examined: str = "HEART"
    protocol_name: str = ""
    signed_pixels: bool = True  # False: unsigned storage with a negative intercept
    rescale_slope: float = 1.0


def write_ct_series(
    volume: Volume,
    study: StudyIdentity,
    acquisition: CtAcquisition,
    out_dir: Path,
    *,
    transfer_syntax_uid: str = "1.2.840.10008.1.2.1",
    multiframe: bool = False,
) -> list[Path]:
    """Write ``volume`` as one CT series into ``out_dir`` and return the file paths.

    Single-frame CT Image Storage by default (one file per slice, in axis-0 order),
    Enhanced CT Image Storage with ``multiframe``. SOP Instance UIDs are derived
    deterministically from the series UID and the slice index.
    """
    raise NotImplementedError("being written")


def write_localizer(
    image_hu: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    image_position_lps: tuple[float, float, float],
    image_orientation: tuple[float, float, float, float, float, float],
    study: StudyIdentity,
    acquisition: CtAcquisition,
    out_dir: Path,
) -> Path:
    """Write one CT localizer (scout) image; ``acquisition.image_type`` should say
    ``LOCALIZER``."""
    raise NotImplementedError("being written")
