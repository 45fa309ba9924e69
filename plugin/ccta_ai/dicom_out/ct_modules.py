"""Module builders shared by the CT Image and Enhanced CT Image writers.

Each function fills one module of PS3.3 (named in its docstring) into a dataset; the
writers in :mod:`ccta_ai.dicom_out.ct` and :mod:`ccta_ai.dicom_out.enhanced_ct` compose
them. Nothing here decides geometry or file layout.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.codedict import codes
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)
from pydicom.valuerep import format_number_as_ds

if TYPE_CHECKING:
    from ccta_ai.dicom_out.ct import CtAcquisition, StudyIdentity

#: Transfer syntaxes the writers can produce: uncompressed ones are written directly,
#: the compressed ones through pydicom's encoders (RLE: pydicom/pylibjpeg-rle, JPEG-LS:
#: pyjpegls, JPEG 2000: pylibjpeg-openjpeg). All are lossless.
UNCOMPRESSED_SYNTAXES = frozenset(
    {ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
)
ENCAPSULATED_SYNTAXES = frozenset({RLELossless, JPEGLSLossless, JPEG2000Lossless})
SUPPORTED_SYNTAXES = UNCOMPRESSED_SYNTAXES | ENCAPSULATED_SYNTAXES

UNSIGNED_INTERCEPT_HU = -1024.0
J2K_MIN_SIZE = 32  # pylibjpeg-openjpeg always uses 6 resolution levels


def ds_value(value: float) -> str:
    """A decimal string (DS) of at most 16 characters keeping as many digits as fit."""
    text: str = format_number_as_ds(float(value) + 0.0)  # + 0.0 turns -0.0 into 0.0
    return text


def derived_uid(*parts: str) -> str:
    """A deterministic UID under the 2.25 root (PS3.5 B.2) from a name-based UUID of
    ``parts``. (``generate_uid(prefix=None, entropy_srcs=...)`` would ignore the entropy
    and return a random UID.)"""
    return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, chr(31).join(parts)).int}"


def da(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def tm(moment: datetime) -> str:
    return moment.strftime("%H%M%S") + (f".{moment.microsecond:06d}" if moment.microsecond else "")


def check_transfer_syntax(transfer_syntax_uid: str) -> UID:
    """Return the UID, or raise ``ValueError`` quoting it and the supported ones."""
    if transfer_syntax_uid not in SUPPORTED_SYNTAXES:
        supported = ", ".join(f"{s} ({s.name})" for s in sorted(SUPPORTED_SYNTAXES))
        raise ValueError(
            f"transfer syntax {transfer_syntax_uid!r} cannot be written; use one of "
            f"{supported} (JPEG Lossless SV1 needs an external encoder such as dcmcjpeg)"
        )
    return UID(transfer_syntax_uid)


def encode_hu(hu: np.ndarray, acquisition: CtAcquisition) -> tuple[np.ndarray, float]:
    """Stored values and the Rescale Intercept for ``hu`` (PS3.3 C.8.2.1.1.4).

    Signed storage uses intercept 0 (``int16``); unsigned storage uses intercept
    -1024 (``uint16``). Values outside the storable range are clipped.
    """
    slope = float(acquisition.rescale_slope)
    if not slope > 0:
        raise ValueError(f"rescale_slope must be > 0, got {slope!r}")
    intercept = 0.0 if acquisition.signed_pixels else UNSIGNED_INTERCEPT_HU
    dtype: type[np.integer] = np.int16 if acquisition.signed_pixels else np.uint16
    info = np.iinfo(dtype)
    stored = np.rint((np.asarray(hu, dtype=np.float64) - intercept) / slope)
    return np.clip(stored, info.min, info.max).astype(dtype), intercept


def new_dataset(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: UID) -> Dataset:
    """An empty dataset with its File Meta Information and the SOP Common Module
    (PS3.3 C.12.1) identity attributes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "CCTA_AI_0_1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    return ds


def add_patient_and_study(ds: Dataset, study: StudyIdentity) -> None:
    """Patient (C.7.1.1), General Study (C.7.2.1) and Patient Study (C.7.2.2)."""
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.patient_birth_date
    ds.PatientSex = study.patient_sex
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = da(study.study_datetime)
    ds.StudyTime = tm(study.study_datetime)
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyID = study.study_id
    ds.AccessionNumber = study.accession_number
    ds.StudyDescription = study.study_description
    if study.patient_weight_kg is not None:
        ds.PatientWeight = ds_value(study.patient_weight_kg)


def add_series(ds: Dataset, acquisition: CtAcquisition, *, with_patient_position: bool) -> None:
    """General Series (C.7.3.1); Patient Position is 2C (CT Image only)."""
    ds.Modality = "CT"
    ds.SeriesInstanceUID = acquisition.series_instance_uid
    ds.SeriesNumber = acquisition.series_number
    ds.SeriesDate = da(acquisition.acquisition_datetime)
    ds.SeriesTime = tm(acquisition.acquisition_datetime)
    ds.SeriesDescription = acquisition.series_description
    if acquisition.protocol_name:
        ds.ProtocolName = acquisition.protocol_name
    ds.BodyPartExamined = acquisition.body_part_examined
    if with_patient_position:
        ds.PatientPosition = acquisition.patient_position


def add_frame_of_reference_and_equipment(ds: Dataset, study: StudyIdentity) -> None:
    """Frame of Reference (C.7.4.1) and General Equipment (C.7.5.1)."""
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = study.manufacturer
    ds.InstitutionName = study.institution_name
    ds.StationName = study.station_name
    ds.ManufacturerModelName = study.manufacturer_model_name
    ds.DeviceSerialNumber = study.device_serial_number
    ds.SoftwareVersions = study.software_versions or "0.1.0"


def add_image_pixel(ds: Dataset, rows: int, columns: int, signed: bool) -> None:
    """Image Pixel (C.7.6.3) description of 16-bit monochrome pixels."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0


def contrast_agent_code_item() -> Dataset:
    """Contrast/Bolus Agent Sequence item (CID 12): iodine, as every CCTA agent is."""
    item = Dataset()
    item.CodeValue = codes.SCT.Iodine.value
    item.CodingSchemeDesignator = codes.SCT.Iodine.scheme_designator
    item.CodeMeaning = codes.SCT.Iodine.meaning
    return item


def ctdi_phantom_item() -> Dataset:
    """CTDI Phantom Type (CID 4052): the 32 cm body phantom cardiac CTDIvol refers to."""
    item = Dataset()
    item.CodeValue = codes.DCM.IECBodyDosimetryPhantom.value
    item.CodingSchemeDesignator = codes.DCM.IECBodyDosimetryPhantom.scheme_designator
    item.CodeMeaning = codes.DCM.IECBodyDosimetryPhantom.meaning
    return item


def add_contrast_bolus(ds: Dataset, acquisition: CtAcquisition) -> None:
    """Contrast/Bolus (C.7.6.4), present only when contrast was given."""
    if acquisition.contrast_bolus_agent is None:
        return
    ds.ContrastBolusAgent = acquisition.contrast_bolus_agent
    ds.ContrastBolusRoute = acquisition.contrast_bolus_route
    if acquisition.contrast_bolus_volume_ml is not None:
        ds.ContrastBolusVolume = ds_value(acquisition.contrast_bolus_volume_ml)


def add_ct_acquisition_details(ds: Dataset, acquisition: CtAcquisition) -> None:
    """The scanner attributes of the CT Image Module (C.8.2.1) a CCTA scanner sets."""
    ds.KVP = ds_value(acquisition.kvp)
    ds.AcquisitionNumber = acquisition.acquisition_number
    ds.ScanOptions = "CARDIAC" if acquisition.ecg_gated else "HELICAL"
    ds.DataCollectionDiameter = ds_value(acquisition.data_collection_diameter_mm)
    ds.DistanceSourceToDetector = ds_value(1085.6)
    ds.DistanceSourceToPatient = ds_value(595.0)
    ds.GantryDetectorTilt = ds_value(acquisition.gantry_detector_tilt_deg)
    ds.TableHeight = ds_value(acquisition.table_height_mm)
    ds.RotationDirection = "CW"
    ds.ExposureTime = round(acquisition.exposure_time_ms)
    ds.XRayTubeCurrent = round(acquisition.tube_current_ma)
    ds.Exposure = round(acquisition.tube_current_ma * acquisition.exposure_time_ms / 1000.0)
    ds.FilterType = "BODY"
    ds.FocalSpots = [ds_value(1.2)]
    ds.ConvolutionKernel = acquisition.convolution_kernel
    ds.RevolutionTime = acquisition.revolution_time_s
    if acquisition.ctdi_vol_mgy is not None:
        ds.CTDIvol = acquisition.ctdi_vol_mgy
        ds.CTDIPhantomTypeCodeSequence = [ctdi_phantom_item()]


def add_cardiac_extended(ds: Dataset, acquisition: CtAcquisition) -> None:
    """Heart Rate and Nominal Percentage of Cardiac Phase, which ECG-gated scanners add
    to single-frame CT images as Standard Extended attributes (the CT Image IOD has no
    cardiac module; Cardiac Synchronization Technique is left to Enhanced CT)."""
    if not acquisition.ecg_gated:
        return
    if acquisition.heart_rate_bpm is not None:
        ds.HeartRate = acquisition.heart_rate_bpm
    if acquisition.cardiac_phase_pct is not None:
        ds.NominalPercentageOfCardiacPhase = acquisition.cardiac_phase_pct


def add_voi(ds: Dataset, acquisition: CtAcquisition) -> None:
    """VOI LUT (C.11.2): a default window for viewers."""
    ds.WindowCenter = ds_value(acquisition.window_center_hu)
    ds.WindowWidth = ds_value(acquisition.window_width_hu)
    ds.WindowCenterWidthExplanation = "CCTA"


def save(ds: Dataset, pixels: np.ndarray, path: Path, transfer_syntax: UID) -> Path:
    """Attach ``pixels`` (``(rows, columns)`` or ``(frames, rows, columns)``) in
    ``transfer_syntax`` and write ``ds`` to ``path`` as a DICOM file."""
    if transfer_syntax == JPEG2000Lossless and min(pixels.shape[-2:]) < J2K_MIN_SIZE:
        raise ValueError(
            f"JPEG 2000 needs images of at least {J2K_MIN_SIZE}x{J2K_MIN_SIZE} pixels (the "
            f"encoder's 6 resolution levels); got {pixels.shape[-2]}x{pixels.shape[-1]}"
        )
    if transfer_syntax in ENCAPSULATED_SYNTAXES:
        ds.compress(transfer_syntax, pixels, generate_instance_uid=False)
    else:
        ds.PixelData = np.ascontiguousarray(pixels).astype(pixels.dtype.newbyteorder("<")).tobytes()
        ds["PixelData"].VR = "OW"
        ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.save_as(path, enforce_file_format=True)
    return path
