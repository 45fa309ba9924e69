"""Secondary Capture images (PS3.3 A.8.1) of the rendered pictures, with highdicom.

Each kind of picture (CPR, cross-section, profile, overview, film page) is its own
series (:data:`ccta_ai.dicom_out.common.OUTPUT_SERIES`), one single-frame RGB
``hd.sc.SCImage`` per picture. Image Type DERIVED\\SECONDARY, Burned In Annotation YES,
Conversion Type WSD (workstation); what the picture shows (vessel, view, angle) is in
Image Comments and Derivation Description. Patient and study are copied from the
source, UIDs and dates are deterministic (a re-run replaces, see ``common``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import DA, TM

from ccta_ai.analysis.findings import Findings
from ccta_ai.dicom_out.common import (
    MANUFACTURER,
    add_equipment,
    algorithm_version,
    content_datetime,
    copy_patient_and_study,
    instance_uid,
    output_series,
    series_uid,
    stamp_dates,
)
from ccta_ai.dicom_out.ct_modules import da, tm
from ccta_ai.errors import InputError
from ccta_ai.imaging.volume import Volume
from ccta_ai.render.film import FILM_DPI, compose_film
from ccta_ai.render.keyimages import KeyImage, build_key_images
from ccta_ai.report.content import build_content, study_info

#: Order of the kinds in the output (one series each).
SC_KINDS = ("cpr", "cross-section", "profile", "overview", "film")


def source_series_uid(findings: Findings, source: Dataset) -> str:
    uid = findings.series_instance_uid or str(source.get("SeriesInstanceUID", ""))
    if not uid:
        raise InputError("neither the findings nor the source name a SeriesInstanceUID")
    return uid


def sc_image(key: KeyImage, index: int, source: Dataset, findings: Findings,
             transfer_syntax_uid: str = ExplicitVRLittleEndian) -> hd.sc.SCImage:
    """The ``index``-th (0-based) image of its kind's series, uncompressed by default
    (RLE Lossless and JPEG-LS Lossless make the files about 6 to 15 times smaller)."""
    if key.kind not in SC_KINDS:
        raise ValueError(f"key image kind {key.kind!r} is not one of {SC_KINDS}")
    if key.pixels.ndim != 3 or key.pixels.shape[2] != 3 or key.pixels.dtype.name != "uint8":
        raise ValueError(f"{key.description}: pixels must be (rows, columns, 3) uint8, "
                         f"got {key.pixels.shape} {key.pixels.dtype}")
    series = output_series(key.kind)
    version = algorithm_version(findings)
    source_uid = source_series_uid(findings, source)
    moment = content_datetime(source)
    spacing = (key.pixel_spacing_mm, key.pixel_spacing_mm) if key.pixel_spacing_mm else None
    image = hd.sc.SCImage(
        pixel_array=key.pixels,
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        study_instance_uid=str(source.StudyInstanceUID),
        series_instance_uid=series_uid(source_uid, key.kind, version),
        series_number=series.series_number,
        sop_instance_uid=instance_uid(source_uid, key.kind, index, version),
        instance_number=index + 1,
        manufacturer=MANUFACTURER,
        pixel_spacing=spacing,
        patient_orientation=("L", "F"),  # replaced below: a reformation has none
        transfer_syntax_uid=transfer_syntax_uid,
        series_description=series.description,
    )
    copy_patient_and_study(image, source)
    add_equipment(image, version)
    stamp_dates(image, moment)
    del image.PatientOrientation  # type 2C: present but empty, no single orientation
    image.add_new(0x00200020, "CS", None)
    image.BodyPartExamined = "HEART"  # unpaired: Laterality (type 2C) stays absent
    image.ImageType = ["DERIVED", "SECONDARY"]
    image.ConversionType = "WSD"
    image.DateOfSecondaryCapture = DA(da(moment))
    image.InstanceCreationDate = DA(da(moment))  # highdicom stamps "now": re-runs identical
    image.InstanceCreationTime = TM(tm(moment))
    for item in image.get("ContributingEquipmentSequence", []):
        item.ContributionDateTime = da(moment) + tm(moment)
    image.TimeOfSecondaryCapture = TM(tm(moment))
    image.BurnedInAnnotation = "YES"
    image.RecognizableVisualFeatures = "NO"
    image.LossyImageCompression = "00"
    image.ImageComments = key.description
    image.DerivationDescription = f"{key.description}; {findings.algorithm.name} {version}"
    image.SecondaryCaptureDeviceManufacturer = MANUFACTURER
    image.SecondaryCaptureDeviceManufacturerModelName = findings.algorithm.name or "ccta-ai"
    image.SecondaryCaptureDeviceSoftwareVersions = version
    return image


def render_all(findings: Findings, volume: Volume, source: Dataset, language: str = "zh"
               ) -> list[KeyImage]:
    """Every picture including the film page (the last), in ``language``."""
    study = study_info(source, language)
    images = build_key_images(findings, volume, study, language)
    content = build_content(findings, source, volume.shape[0], language)
    film = compose_film(images, content)
    pixel_mm = 25.4 / FILM_DPI
    images.append(KeyImage("film", film, f"film page 14x17 in at {FILM_DPI} dpi "
                           f"({pixel_mm:.3f} mm per printed pixel)"))
    return images


def write_images(
    findings: Findings,
    volume: Volume,
    source_datasets: Sequence[Dataset],
    out_dir: Path,
    *,
    language: str = "zh",
    key_images: list[KeyImage] | None = None,
    transfer_syntax_uid: str = ExplicitVRLittleEndian,
) -> list[Path]:
    """Render (unless ``key_images`` are given, e.g. from :func:`render_all`) and write
    every Secondary Capture image into ``out_dir``; return the files' paths."""
    if not source_datasets:
        raise InputError("write_images needs at least one source dataset")
    source = source_datasets[0]
    images = key_images if key_images is not None else render_all(findings, volume, source,
                                                                  language)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    counters: dict[str, int] = {}
    for key in images:
        index = counters.get(key.kind, 0)
        counters[key.kind] = index + 1
        image = sc_image(key, index, source, findings, transfer_syntax_uid)
        number = output_series(key.kind).series_number
        path = out_dir / f"sc_{number}_{key.kind}_{index + 1:03d}.dcm"
        image.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
