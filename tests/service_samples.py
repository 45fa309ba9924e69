"""Small CT series for the service tests, written with pydicom alone (independent of
the project's writers, so the service tests do not move with them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid

from ccta_ai.service.selection import SeriesFacts

IMPLEMENTATION_UID = UID("2.25.33466207052839591372373512937541318110")


def write_ct_series(
    out_dir: Path,
    *,
    study_uid: str,
    series_uid: str,
    n_slices: int = 20,
    thickness_mm: float = 0.6,
    description: str = "CCTA 0.6 mm 75%",
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    contrast_agent: str | None = "Iopromide 370",
    series_number: int = 3,
    size: int = 16,
    patient_id: str = "CCTA-SVC-1",
    manufacturer: str = "Test Scanner",
) -> list[Path]:
    """Write an axial CT series (one file per slice) and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame_uid = generate_uid(entropy_srcs=[study_uid, "frame"])
    paths = []
    for index in range(n_slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = UID(generate_uid(entropy_srcs=[series_uid, str(index)]))
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = IMPLEMENTATION_UID
        path = out_dir / f"{series_number:03d}-{index:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = "Service^Test"
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19600101"
        ds.PatientSex = "M"
        ds.StudyDate = "20240501"
        ds.StudyTime = "103000"
        ds.StudyID = "1"
        ds.AccessionNumber = "SVC1"
        ds.StudyDescription = "Cardiac"
        ds.ReferringPhysicianName = ""
        ds.Modality = "CT"
        ds.Manufacturer = manufacturer
        ds.SeriesNumber = series_number
        ds.SeriesDescription = description
        ds.InstanceNumber = index + 1
        ds.ImageType = list(image_type)
        ds.SliceThickness = thickness_mm
        ds.KVP = 100
        if contrast_agent is not None:
            ds.ContrastBolusAgent = contrast_agent
        ds.ImagePositionPatient = [-4.0, -4.0, 40.0 - index * thickness_mm]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        pixels = np.full((size, size), -100 + index, dtype=np.int16)
        pixels[size // 4: size // 2, size // 4: size // 2] = 400
        ds.PixelData = pixels.tobytes()
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_localizer(out_dir: Path, *, study_uid: str, series_uid: str) -> list[Path]:
    """A two-image scout series, flagged LOCALIZER as scanners do."""
    return write_ct_series(out_dir, study_uid=study_uid, series_uid=series_uid, n_slices=2,
                           thickness_mm=5.0, description="Topogram 0.6 T20f",
                           image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
                           contrast_agent=None, series_number=1)


def ccta_facts(**changes: object) -> SeriesFacts:
    """Facts of a series that passes every default rule."""
    values: dict[str, object] = dict(
        orthanc_series_id="s1", orthanc_study_id="st1", series_uid="1.2.3.4",
        study_uid="1.2.3", modality="CT", sop_class_uid=str(CTImageStorage),
        manufacturer="SIEMENS", series_description="CorCTA 0.6 Bv40 75%",
        protocol_name="CCTA", study_description="Cardiac", image_type=("ORIGINAL",
        "PRIMARY", "AXIAL"), slice_thickness_mm=0.6, n_instances=256, n_slices=256,
        contrast_agent="Iopromide",
    )
    values.update(changes)
    return SeriesFacts(**values)  # type: ignore[arg-type]
