"""Identity and acquisition attributes of the phantom's three series (one patient, one
study, one frame of reference), written with :mod:`ccta_ai.dicom_out.ct`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ccta_ai import __version__
from ccta_ai.dicom_out.ct import CtAcquisition, StudyIdentity, write_ct_series, write_localizer
from ccta_ai.dicom_out.ct_modules import derived_uid
from ccta_ai.imaging.volume import Volume
from ccta_ai.phantom.params import PatientParams, ScanParams

SERIES_NUMBERS = {"localizer": 1, "calcium": 2, "ccta": 3}


def series_uids(seed: int, size: str) -> dict[str, str]:
    root = ("ccta-ai phantom", str(seed), size)
    return {
        "study": derived_uid(*root, "study"),
        "frame_of_reference": derived_uid(*root, "frame of reference"),
        **{name: derived_uid(*root, name) for name in SERIES_NUMBERS},
    }


def study_identity(seed: int, size: str, patient: PatientParams) -> StudyIdentity:
    uids = series_uids(seed, size)
    moment = datetime(2025, 1, 6, 8, 0, 0) + timedelta(days=seed % 365, minutes=17 * (seed % 29))
    birth = moment - timedelta(days=int(365.25 * patient.age_years) + seed % 300)
    return StudyIdentity(
        patient_name=f"PHANTOM^SEED{seed:05d}",
        patient_id=f"PH{seed:07d}",
        patient_birth_date=birth.strftime("%Y%m%d"),
        patient_sex=patient.sex,
        study_instance_uid=uids["study"],
        study_datetime=moment,
        accession_number=f"A{seed:08d}"[:16],
        study_id=f"{seed % 100000}",
        study_description="CT CORONARY ANGIOGRAPHY",
        frame_of_reference_uid=uids["frame_of_reference"],
        referring_physician_name="REFERRER^SYNTHETIC",
        software_versions=f"ccta-ai {__version__}",
        patient_weight_kg=patient.weight_kg,
    )


def acquisitions(
    seed: int, size: str, scan: ScanParams, kvp: float, study: StudyIdentity
) -> dict[str, CtAcquisition]:
    uids = series_uids(seed, size)
    t0 = study.study_datetime
    phase = scan.cardiac_phase_pct
    ccta = CtAcquisition(
        series_instance_uid=uids["ccta"],
        series_number=SERIES_NUMBERS["ccta"],
        series_description=f"CCTA {scan.slice_thickness_mm:g}mm {scan.kernel} {phase:.0f}%",
        image_type=("ORIGINAL", "PRIMARY", "AXIAL"),
        acquisition_datetime=t0 + timedelta(minutes=7),
        patient_position=scan.patient_position,
        slice_thickness_mm=scan.slice_thickness_mm,
        kvp=kvp,
        tube_current_ma=scan.tube_current_ma,
        exposure_time_ms=scan.exposure_time_ms,
        convolution_kernel=scan.kernel,
        contrast_bolus_agent=scan.contrast_agent,
        contrast_bolus_volume_ml=scan.contrast_volume_ml,
        ecg_gated=True,
        cardiac_phase_pct=phase,
        heart_rate_bpm=scan.heart_rate_bpm,
        body_part_examined="HEART",
        protocol_name="Cardiac CTA prospective",
        signed_pixels=scan.signed_pixels,
        window_center_hu=300.0,
        window_width_hu=900.0,
    )
    calcium = replace(
        ccta,
        series_instance_uid=uids["calcium"],
        series_number=SERIES_NUMBERS["calcium"],
        series_description=f"Calcium Score {scan.calcium_slice_mm:g}mm Qr36",
        acquisition_datetime=t0 + timedelta(minutes=3),
        slice_thickness_mm=scan.calcium_slice_mm,
        kvp=120.0,
        convolution_kernel="CALCIUM_QR36",
        contrast_bolus_agent=None,
        contrast_bolus_volume_ml=None,
        signed_pixels=scan.calcium_signed_pixels,
        window_center_hu=40.0,
        window_width_hu=400.0,
    )
    localizer = replace(
        ccta,
        series_instance_uid=uids["localizer"],
        series_number=SERIES_NUMBERS["localizer"],
        series_description="Topogram 0.6 T20s",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        acquisition_datetime=t0,
        slice_thickness_mm=0.6,
        kvp=120.0,
        tube_current_ma=35.0,
        exposure_time_ms=2600.0,
        convolution_kernel="T20s",
        contrast_bolus_agent=None,
        contrast_bolus_volume_ml=None,
        ecg_gated=False,
        cardiac_phase_pct=None,
        heart_rate_bpm=None,
        signed_pixels=True,
        window_center_hu=50.0,
        window_width_hu=1500.0,
    )
    return {"localizer": localizer, "calcium": calcium, "ccta": ccta}


def write_all(
    out_dir: Path,
    study: StudyIdentity,
    acq: dict[str, CtAcquisition],
    ccta: Volume,
    calcium: Volume,
    localizer: tuple[np.ndarray, float, np.ndarray],
) -> dict[str, list[Path]]:
    """Write the three series into ``out_dir/{ccta,calcium,localizer}``."""
    image, spacing_mm, position = localizer
    return {
        "ccta": write_ct_series(ccta, study, acq["ccta"], out_dir / "ccta"),
        "calcium": write_ct_series(calcium, study, acq["calcium"], out_dir / "calcium"),
        "localizer": [
            write_localizer(
                image,
                (spacing_mm, spacing_mm),
                tuple(float(v) for v in position),  # type: ignore[arg-type]
                (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
                study,
                acq["localizer"],
                out_dir / "localizer",
            )
        ],
    }
