"""Everything the phantom draws per seed: patient, anatomy, contrast, scanner settings.

Each concern draws from its own random stream (``stream(seed, name)``), so adding a
draw to one concern does not change the others: the anatomy of seed 7 stays the same
when, say, the noise model gains a parameter. Anatomy does not depend on the study
size; only the sampling grid does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from ccta_ai.errors import ConfigError

SIZES = ("small", "full")


def stream(seed: int, name: str) -> np.random.Generator:
    """The random generator of one concern (``name``) of one seed."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("ascii"))])


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ConfigError(f"phantom size must be one of {SIZES}, got {size!r}")
    return size


def check_seed(seed: int) -> int:
    if not isinstance(seed, int | np.integer) or not 0 <= int(seed) < 2**31:
        raise ConfigError(f"phantom seed must be an integer in [0, 2**31), got {seed!r}")
    return int(seed)


@dataclass(frozen=True)
class PatientParams:
    sex: str  # "M" or "F"
    age_years: int
    weight_kg: float
    chest_width_mm: float  # outer, at the level of the heart
    subcutaneous_fat_mm: float
    muscle_mm: float


@dataclass(frozen=True)
class HeartParams:
    scale: float  # chamber size factor
    azimuth_deg: float  # long axis in the axial plane, from anterior towards the left
    elevation_deg: float  # long axis below the axial plane (apex inferior)
    roll_deg: float  # rotation about the long axis
    base_offset_mm: tuple[float, float, float]  # jitter of the base centre
    epicardial_fat_mm: float
    dominance: str  # "right", "left", "co"
    ramus: bool
    caliber_scale: float  # coronary diameters
    tortuosity: float  # amplitude factor of the coronary meanders
    left_main_length_mm: float
    diagonal_count: int
    marginal_count: int
    septal_count: int
    acute_marginal: bool


@dataclass(frozen=True)
class ContrastParams:
    """Hounsfield units of the materials, contrast-enhanced (CCTA) and plain (calcium)."""

    kvp: float
    aorta_hu: float
    lv_factor: float
    la_factor: float
    coronary_factor: float
    coronary_distal_drop: float  # fraction lost from ostium to the distal ends
    rv_factor: float
    ra_factor: float
    svc_factor: float
    ivc_hu: float
    myocardium_hu: float
    fat_hu: float
    muscle_hu: float
    lung_hu: float
    lung_gradient_hu: float  # denser posteriorly (dependent lung)
    cortical_bone_hu: float
    cancellous_bone_hu: float
    cartilage_hu: float
    liver_hu: float
    plain_blood_hu: float
    plain_myocardium_hu: float
    plain_liver_hu: float


@dataclass(frozen=True)
class ScanParams:
    """Acquisition and reconstruction of the three series (depends on the size)."""

    size: str
    patient_position: str  # "HFS" or "FFS"
    superior_first: bool  # slice 0 is the most superior one
    pixel_spacing_mm: float  # wish; the grid may widen it to fit the heart
    slice_thickness_mm: float
    slice_increment_mm: float
    matrix: int  # 0: sized to the heart (small studies)
    top_margin_mm: float
    bottom_margin_mm: float
    fov_jitter_mm: tuple[float, float]
    psf_fwhm_mm: float
    psf_z_fwhm_mm: float
    bloom_fwhm_mm: float
    noise_sd_hu: float
    noise_grain_mm: float
    kernel: str
    tube_current_ma: float
    exposure_time_ms: float
    heart_rate_bpm: int
    cardiac_phase_pct: float
    signed_pixels: bool
    contrast_agent: str
    contrast_volume_ml: float
    calcium_slice_mm: float
    calcium_noise_sd_hu: float
    calcium_psf_fwhm_mm: float
    calcium_signed_pixels: bool
    localizer_spacing_mm: float
    table_offset_mm: tuple[float, float, float]  # body frame -> DICOM LPS


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def draw_patient(seed: int) -> PatientParams:
    rng = stream(seed, "patient")
    sex = "M" if rng.random() < 0.6 else "F"
    weight = _u(rng, 62, 110) if sex == "M" else _u(rng, 48, 95)
    width = (325.0 if sex == "M" else 300.0) + 0.6 * (weight - 70.0) + _u(rng, -12, 12)
    return PatientParams(
        sex=sex,
        age_years=int(rng.integers(38, 82)),
        weight_kg=round(weight, 1),
        chest_width_mm=width,
        subcutaneous_fat_mm=float(np.clip(6.0 + 0.35 * (weight - 55.0) + _u(rng, -4, 6), 5, 32)),
        muscle_mm=_u(rng, 7, 14),
    )


def draw_heart(seed: int) -> HeartParams:
    rng = stream(seed, "heart")
    dominance = str(rng.choice(["right", "left", "co"], p=[0.78, 0.1, 0.12]))
    return HeartParams(
        scale=_u(rng, 0.88, 1.12),
        azimuth_deg=_u(rng, 36, 54),
        elevation_deg=_u(rng, 26, 42),
        roll_deg=_u(rng, -12, 12),
        base_offset_mm=(_u(rng, -8, 8), _u(rng, -6, 6), _u(rng, -5, 5)),
        epicardial_fat_mm=_u(rng, 2.5, 7.0),
        dominance=dominance,
        ramus=bool(rng.random() < 0.25),
        caliber_scale=_u(rng, 0.9, 1.12),
        tortuosity=_u(rng, 0.4, 1.3),
        left_main_length_mm=_u(rng, 6, 15),
        diagonal_count=1 if rng.random() < 0.2 else 2,
        marginal_count=1 if rng.random() < 0.2 else 2,
        septal_count=int(rng.integers(2, 5)),
        acute_marginal=bool(rng.random() < 0.6),
    )


def draw_contrast(seed: int) -> ContrastParams:
    rng = stream(seed, "contrast")
    kvp = float(rng.choice([80.0, 100.0, 120.0], p=[0.15, 0.5, 0.35]))
    aorta = {80.0: _u(rng, 380, 550), 100.0: _u(rng, 300, 500), 120.0: _u(rng, 250, 420)}[kvp]
    rv = _u(rng, 0.45, 0.85)
    return ContrastParams(
        kvp=kvp,
        aorta_hu=aorta,
        lv_factor=_u(rng, 0.95, 1.02),
        la_factor=_u(rng, 0.9, 1.0),
        coronary_factor=_u(rng, 0.9, 1.0),
        coronary_distal_drop=_u(rng, 0.03, 0.15),
        rv_factor=rv,
        ra_factor=rv * _u(rng, 0.8, 1.05),
        svc_factor=_u(rng, 0.2, 0.9),
        ivc_hu=_u(rng, 60, 140),
        myocardium_hu=_u(rng, 90, 130),
        fat_hu=_u(rng, -115, -85),
        muscle_hu=_u(rng, 40, 65),
        lung_hu=_u(rng, -890, -830),
        lung_gradient_hu=_u(rng, 20, 70),
        cortical_bone_hu=_u(rng, 700, 1100),
        cancellous_bone_hu=_u(rng, 180, 320),
        cartilage_hu=_u(rng, 80, 160),
        liver_hu=_u(rng, 65, 105),
        plain_blood_hu=_u(rng, 35, 50),
        plain_myocardium_hu=_u(rng, 35, 50),
        plain_liver_hu=_u(rng, 50, 65),
    )


def draw_scan(seed: int, size: str) -> ScanParams:
    size = check_size(size)
    rng = stream(seed, "scan")  # the same draws for both sizes, then size-specific ones
    position = "HFS" if rng.random() < 0.75 else "FFS"
    superior_first = bool(rng.random() < 0.6)
    full_spacing = _u(rng, 0.34, 0.49)
    full_thickness = float(rng.choice([0.5, 0.6, 0.625, 0.75]))
    psf = _u(rng, 0.5, 0.7)
    noise = _u(rng, 15, 45)
    grain = _u(rng, 0.6, 1.0)
    hr = int(rng.integers(48, 86))
    phase = _u(rng, 70, 78) if hr < 68 else _u(rng, 38, 46)
    kernel = "CARDIAC_SHARP" if psf < 0.56 else "CARDIAC_MEDIUM" if psf < 0.64 else "CARDIAC_SMOOTH"
    agent = str(rng.choice(["Iopamidol 370", "Iohexol 350", "Iodixanol 320", "Iomeprol 400"]))
    shared = dict(
        patient_position=position,
        superior_first=superior_first,
        fov_jitter_mm=(_u(rng, -8, 8), _u(rng, -8, 8)),
        psf_fwhm_mm=psf,
        bloom_fwhm_mm=_u(rng, 1.0, 1.5),
        noise_sd_hu=noise,
        noise_grain_mm=grain,
        kernel=kernel,
        tube_current_ma=round(_u(rng, 150, 650)),
        exposure_time_ms=round(_u(rng, 250, 350)),
        heart_rate_bpm=hr,
        cardiac_phase_pct=round(phase, 1),
        signed_pixels=bool(rng.random() < 0.5),
        contrast_agent=agent,
        contrast_volume_ml=round(_u(rng, 45, 85)),
        calcium_slice_mm=float(rng.choice([2.5, 3.0], p=[0.3, 0.7])),
        calcium_noise_sd_hu=_u(rng, 15, 30),
        calcium_psf_fwhm_mm=_u(rng, 0.7, 0.95),
        calcium_signed_pixels=bool(rng.random() < 0.5),
        table_offset_mm=(_u(rng, -10, 10), _u(rng, -40, 20), _u(rng, -250, 150)),
    )
    top, bottom = _u(rng, 15, 35), _u(rng, 8, 20)
    if size == "full":
        return ScanParams(
            size=size,
            pixel_spacing_mm=full_spacing,
            slice_thickness_mm=full_thickness,
            slice_increment_mm=full_thickness,
            matrix=512,
            top_margin_mm=top,
            bottom_margin_mm=bottom,
            psf_z_fwhm_mm=full_thickness * _u(rng, 1.0, 1.2),
            localizer_spacing_mm=2.0,
            **shared,  # type: ignore[arg-type]
        )
    small_thickness = float(rng.choice([0.75, 0.8]))
    return ScanParams(
        size=size,
        pixel_spacing_mm=_u(rng, 0.7, 0.8),
        slice_thickness_mm=small_thickness,
        slice_increment_mm=small_thickness,
        matrix=0,
        top_margin_mm=5.0,
        bottom_margin_mm=4.0,
        psf_z_fwhm_mm=small_thickness * _u(rng, 1.0, 1.2),
        localizer_spacing_mm=3.0,
        **shared,  # type: ignore[arg-type]
    )
