"""CT Image and Enhanced CT Image writers (PS3.3 A.3, A.38), and CT localizers.

Used to write the synthetic input studies (phantom) and the loader's test series, so
that every CT object the project makes passes ``dciodvfy``. The single-frame CT Image
(one file per slice) is built here; the Enhanced CT Image (one multi-frame file) in
:mod:`ccta_ai.dicom_out.enhanced_ct`; the modules both share in
:mod:`ccta_ai.dicom_out.ct_modules`.

Transfer syntaxes: Explicit and Implicit VR Little Endian, Deflated Explicit VR Little
Endian, RLE Lossless, JPEG-LS Lossless and JPEG 2000 Lossless (see
:data:`ccta_ai.dicom_out.ct_modules.SUPPORTED_SYNTAXES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import UID, CTImageStorage

from ccta_ai.dicom_out import ct_modules as modules
from ccta_ai.dicom_out.enhanced_ct import write_enhanced_ct
from ccta_ai.imaging.geometry import PlaneGeometry, plane_from_affine
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
    # Optional additions (defaults keep the fields above sufficient):
    acquisition_number: int = 1
    revolution_time_s: float = 0.28
    ctdi_vol_mgy: float | None = None
    data_collection_diameter_mm: float = 500.0
    table_height_mm: float = 150.0
    window_center_hu: float = 300.0
    window_width_hu: float = 800.0
    # Non-zero: write the slices as a tilted gantry acquires them. Slice k keeps the
    # in-plane orientation of ``volume`` but its position is shifted along the column
    # direction by k x (slice spacing) x tan(tilt): the images are sheared, and
    # ``volume.hu[k]`` is taken to be the image of that sheared slice.
    gantry_detector_tilt_deg: float = 0.0


def sop_instance_uid_for(series_instance_uid: str, index: int) -> str:
    """The deterministic SOP Instance UID of slice ``index`` (0-based) of a series."""
    return modules.derived_uid(series_instance_uid, str(index))


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

    Single-frame CT Image Storage by default (one file per slice, in axis-0 order,
    named ``CT<series number>_<instance number>.dcm``), Enhanced CT Image Storage
    with ``multiframe`` (one file ``ECT<series number>.dcm``). SOP Instance UIDs are
    derived deterministically from the series UID and the slice index.

    Raises:
        ValueError: an unsupported transfer syntax (the message lists the supported).
    """
    syntax = modules.check_transfer_syntax(transfer_syntax_uid)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stored, intercept = modules.encode_hu(volume.hu, acquisition)
    plane = plane_from_affine(volume.affine)
    positions = _slice_positions(volume, plane, acquisition.gantry_detector_tilt_deg)
    if multiframe:
        path = write_enhanced_ct(
            stored, intercept, plane, positions, study, acquisition, out_dir, syntax
        )
        return [path]
    paths = []
    for k in range(volume.shape[0]):
        ds = _ct_image_dataset(
            study,
            acquisition,
            sop_instance_uid_for(acquisition.series_instance_uid, k),
            instance_number=k + 1,
            plane=plane,
            position=positions[k],
            rows_columns=(volume.shape[1], volume.shape[2]),
            intercept=intercept,
            syntax=syntax,
        )
        path = out_dir / f"CT{acquisition.series_number:04d}_{k + 1:05d}.dcm"
        paths.append(modules.save(ds, stored[k], path, syntax))
    return paths


def _slice_positions(volume: Volume, plane: PlaneGeometry, tilt_deg: float) -> np.ndarray:
    """``(n_slices, 3)`` LPS positions of each slice's first pixel; with a gantry tilt,
    slice k is shifted along the column direction by k x spacing x tan(tilt)."""
    steps = np.arange(volume.shape[0], dtype=np.float64)[:, None]
    slice_step = volume.affine[:3, 0]
    shear_mm = np.tan(np.radians(tilt_deg)) * abs(float(slice_step @ plane.normal))
    return volume.affine[:3, 3] + steps * (slice_step + shear_mm * plane.column_cosine)


def write_localizer(
    image_hu: np.ndarray,
    pixel_spacing_mm: tuple[float, float],
    image_position_lps: tuple[float, float, float],
    image_orientation: tuple[float, float, float, float, float, float],
    study: StudyIdentity,
    acquisition: CtAcquisition,
    out_dir: Path,
    *,
    instance_number: int = 1,
    transfer_syntax_uid: str = "1.2.840.10008.1.2.1",
) -> Path:
    """Write one CT localizer (scout) image; ``acquisition.image_type`` should say
    ``LOCALIZER``.

    ``image_hu`` is ``(rows, columns)``; ``pixel_spacing_mm`` is (between rows,
    between columns) as DICOM Pixel Spacing. The file is named
    ``LOC<series number>_<instance number>.dcm``.
    """
    syntax = modules.check_transfer_syntax(transfer_syntax_uid)
    image = np.asarray(image_hu)
    if image.ndim != 2:
        raise ValueError(f"a localizer image must be 2D (rows, columns), got {image.shape}")
    orientation = np.asarray(image_orientation, dtype=np.float64)
    plane = PlaneGeometry(
        row_cosine=orientation[:3] / np.linalg.norm(orientation[:3]),
        column_cosine=orientation[3:] / np.linalg.norm(orientation[3:]),
        row_spacing_mm=float(pixel_spacing_mm[0]),
        column_spacing_mm=float(pixel_spacing_mm[1]),
    )
    stored, intercept = modules.encode_hu(image, acquisition)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = _ct_image_dataset(
        study,
        acquisition,
        sop_instance_uid_for(acquisition.series_instance_uid, instance_number - 1),
        instance_number=instance_number,
        plane=plane,
        position=np.asarray(image_position_lps, dtype=np.float64),
        rows_columns=(image.shape[0], image.shape[1]),
        intercept=intercept,
        syntax=syntax,
    )
    path = out_dir / f"LOC{acquisition.series_number:04d}_{instance_number:05d}.dcm"
    return modules.save(ds, stored, path, syntax)


def _ct_image_dataset(
    study: StudyIdentity,
    acquisition: CtAcquisition,
    sop_instance_uid: str,
    *,
    instance_number: int,
    plane: PlaneGeometry,
    position: np.ndarray,
    rows_columns: tuple[int, int],
    intercept: float,
    syntax: UID,
) -> Dataset:
    """One CT Image Storage instance without its pixel data (PS3.3 A.3.3 modules)."""
    ds = modules.new_dataset(CTImageStorage, sop_instance_uid, syntax)
    ds.ImageType = list(acquisition.image_type)
    ds.InstanceCreationDate = modules.da(acquisition.acquisition_datetime)
    ds.InstanceCreationTime = modules.tm(acquisition.acquisition_datetime)
    modules.add_patient_and_study(ds, study)
    modules.add_series(ds, acquisition, with_patient_position=True)
    modules.add_frame_of_reference_and_equipment(ds, study)
    # General Acquisition (C.7.10.1) and General Image (C.7.6.1).
    ds.AcquisitionDate = modules.da(acquisition.acquisition_datetime)
    ds.AcquisitionTime = modules.tm(acquisition.acquisition_datetime)
    ds.ContentDate = modules.da(acquisition.acquisition_datetime)
    ds.ContentTime = modules.tm(acquisition.acquisition_datetime)
    ds.InstanceNumber = instance_number
    ds.BurnedInAnnotation = "NO"
    # Image Plane (C.7.6.2).
    ds.PixelSpacing = [modules.ds_value(v) for v in plane.pixel_spacing_mm]
    ds.ImageOrientationPatient = [modules.ds_value(v) for v in plane.image_orientation]
    ds.ImagePositionPatient = [modules.ds_value(v) for v in position]
    ds.SliceThickness = modules.ds_value(acquisition.slice_thickness_mm)
    ds.SliceLocation = modules.ds_value(float(position @ plane.normal))
    modules.add_image_pixel(ds, rows_columns[0], rows_columns[1], acquisition.signed_pixels)
    modules.add_contrast_bolus(ds, acquisition)
    # CT Image (C.8.2.1).
    ds.RescaleIntercept = modules.ds_value(intercept)
    ds.RescaleSlope = modules.ds_value(acquisition.rescale_slope)
    if "LOCALIZER" not in acquisition.image_type:
        ds.RescaleType = "HU"  # dciodvfy: a localizer's values are not calibrated HU
    modules.add_ct_acquisition_details(ds, acquisition)
    ds.ReconstructionDiameter = modules.ds_value(
        max(rows_columns[0] * plane.row_spacing_mm, rows_columns[1] * plane.column_spacing_mm)
    )
    modules.add_cardiac_extended(ds, acquisition)
    modules.add_voi(ds, acquisition)
    return ds
