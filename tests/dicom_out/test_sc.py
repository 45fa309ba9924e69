"""Secondary Capture images: conformance (dciodvfy), identity and content read back."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from ccta_ai.dicom_out.common import OUTPUT_SERIES, series_uid
from ccta_ai.dicom_out.sc import render_all, sc_image, write_images
from findings_samples import sample_case


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("sc")
    case = sample_case(root)
    images = render_all(case.findings, case.volume, case.datasets[0], "zh")
    paths = write_images(case.findings, case.volume, case.datasets, root / "out",
                         key_images=images)
    return case, images, paths, root


def test_every_image_passes_dciodvfy(written: tuple,
                                     dciodvfy: Callable[[Path], list[str]]) -> None:
    _, _, paths, _ = written
    kinds = {pydicom.dcmread(p, stop_before_pixels=True).SeriesNumber for p in paths}
    assert kinds == {903, 904, 905, 906, 907}
    for path in paths:
        assert dciodvfy(path) == [], path.name


def test_series_identity_and_patient_are_right(written: tuple) -> None:
    case, _, paths, _ = written
    source = case.datasets[0]
    datasets = [pydicom.dcmread(p) for p in paths]
    per_series = Counter(int(ds.SeriesNumber) for ds in datasets)
    assert per_series == {903: 18, 904: 3, 905: 3, 906: 1, 907: 1}
    by_number = {s.series_number: s for s in OUTPUT_SERIES.values()}
    for ds in datasets:
        series = by_number[int(ds.SeriesNumber)]
        assert ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage
        assert ds.SeriesDescription == series.description
        assert ds.SeriesInstanceUID == series_uid(source.SeriesInstanceUID, series.kind, "0.1.0")
        assert list(ds.ImageType) == ["DERIVED", "SECONDARY"]
        assert ds.BurnedInAnnotation == "YES"
        assert ds.ConversionType == "WSD"
        assert ds.Manufacturer == "CCTA AI"
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                        "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber",
                        "StudyID"):
            assert ds[keyword].value == source[keyword].value, keyword
        assert ds.ContentDate == source.AcquisitionDate
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 5
    comments = [str(ds.ImageComments) for ds in datasets if ds.SeriesNumber == 903]
    assert "LAD straightened CPR 45 deg" in comments
    assert "RCA stretched CPR 90 deg" in comments


def test_pixels_and_spacing_round_trip(written: tuple) -> None:
    _, images, paths, _ = written
    for key, path in zip(images, paths, strict=True):
        ds = pydicom.dcmread(path)
        assert ds.PhotometricInterpretation == "RGB"
        assert np.array_equal(ds.pixel_array, key.pixels)
        if key.pixel_spacing_mm:
            assert [float(v) for v in ds.PixelSpacing] == pytest.approx(
                [key.pixel_spacing_mm] * 2)
        else:
            assert "PixelSpacing" not in ds


def test_rerun_gives_identical_files_and_new_version_new_uids(written: tuple) -> None:
    case, images, paths, root = written
    again = write_images(case.findings, case.volume, case.datasets, root / "again",
                         key_images=images)
    assert [p.name for p in again] == [p.name for p in paths]
    for first, second in zip(paths, again, strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
    newer = dataclasses.replace(case.findings, algorithm=dataclasses.replace(
        case.findings.algorithm, version="0.2.0"))
    old = sc_image(images[0], 0, case.datasets[0], case.findings)
    new = sc_image(images[0], 0, case.datasets[0], newer)
    assert old.SOPInstanceUID != new.SOPInstanceUID
    assert old.SeriesInstanceUID != new.SeriesInstanceUID
    assert new.SoftwareVersions == "0.2.0"


def test_rle_lossless_round_trip(written: tuple, tmp_path: Path,
                                 dciodvfy: Callable[[Path], list[str]]) -> None:
    case, images, _, _ = written
    overview = next(key for key in images if key.kind == "overview")
    path = tmp_path / "rle.dcm"
    sc_image(overview, 0, case.datasets[0], case.findings, RLELossless).save_as(path)
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    assert np.array_equal(ds.pixel_array, overview.pixels)
    assert len(path.read_bytes()) < overview.pixels.nbytes / 4
    assert dciodvfy(path) == []


def test_dcentvfy_finds_source_and_images_consistent(written: tuple) -> None:
    case, _, paths, _ = written
    dcentvfy = shutil.which("dcentvfy")
    if dcentvfy is None:
        pytest.fail("dcentvfy is not installed (apt-get install dicom3tools)")
    result = subprocess.run([dcentvfy, *map(str, case.paths), *map(str, paths)],
                            capture_output=True, text=True, check=False)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]
    assert errors == []
