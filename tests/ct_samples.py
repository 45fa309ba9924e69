"""Small CT samples for the writer and loader tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import numpy as np

from ccta_ai.dicom_out.ct import CtAcquisition, StudyIdentity, write_ct_series
from ccta_ai.imaging.volume import Volume


def sample_study() -> StudyIdentity:
    return StudyIdentity(
        patient_name="Test^Patient",
        patient_id="CCTA-TEST-1",
        patient_birth_date="19600101",
        patient_sex="M",
        study_instance_uid="2.25.1000000000000000000000000001",
        study_datetime=datetime(2024, 5, 1, 10, 30, 0),
        accession_number="ACC1",
        study_id="S1",
        study_description="CCTA",
        frame_of_reference_uid="2.25.1000000000000000000000000002",
        patient_weight_kg=80.0,
    )


def sample_acquisition(**changes: object) -> CtAcquisition:
    acquisition = CtAcquisition(
        series_instance_uid="2.25.1000000000000000000000000003",
        series_number=3,
        series_description="CCTA 0.6 mm 75%",
        image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        acquisition_datetime=datetime(2024, 5, 1, 10, 35, 12),
        patient_position="HFS",
        slice_thickness_mm=0.6,
        kvp=100.0,
        tube_current_ma=400.0,
        exposure_time_ms=280.0,
        convolution_kernel="Bv36",
        contrast_bolus_agent="Iopromide 370",
        contrast_bolus_volume_ml=60.0,
        ecg_gated=True,
        cardiac_phase_pct=75.0,
        heart_rate_bpm=62,
        protocol_name="CCTA",
        ctdi_vol_mgy=12.5,
    )
    return dataclasses.replace(acquisition, **changes)  # type: ignore[arg-type]


def axial_affine(
    spacing_mm: tuple[float, float, float] = (0.5, 0.4, 0.4),
    origin_mm: tuple[float, float, float] = (-10.0, -12.0, 40.0),
    slice_sign: float = -1.0,
) -> np.ndarray:
    """Axial HFS-style affine: rows along +y (posterior), columns along +x (left),
    slices along ``slice_sign`` x z (head→feet by default, as scanners number them)."""
    affine = np.eye(4)
    affine[:3, 0] = (0.0, 0.0, slice_sign * spacing_mm[0])
    affine[:3, 1] = (0.0, spacing_mm[1], 0.0)
    affine[:3, 2] = (spacing_mm[2], 0.0, 0.0)
    affine[:3, 3] = origin_mm
    return affine


def random_hu(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Integer HU in a CT range, as float32."""
    rng = np.random.default_rng(seed)
    return rng.integers(-1024, 3000, size=shape).astype(np.float32)


def write_sample(
    out_dir: Path,
    volume: Volume | None = None,
    *,
    transfer_syntax_uid: str = "1.2.840.10008.1.2.1",
    multiframe: bool = False,
    **changes: object,
) -> tuple[Volume, list[Path]]:
    """Write a small series (default 8 x 32 x 36 random HU) and return it with its files."""
    if volume is None:
        volume = Volume(random_hu((8, 32, 36)), axial_affine())
    paths = write_ct_series(
        volume,
        sample_study(),
        sample_acquisition(**changes),
        out_dir,
        transfer_syntax_uid=transfer_syntax_uid,
        multiframe=multiframe,
    )
    return volume, paths
