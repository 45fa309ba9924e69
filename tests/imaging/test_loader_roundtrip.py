"""Volume → write → shuffle → load gives the same HU and affine; real files load."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_rescale
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from ccta_ai.imaging.loader import benchmark_loader, load_series
from ccta_ai.imaging.volume import Volume
from ct_samples import axial_affine, random_hu, write_sample
from validators import dcmcjpeg_lossless


def _rotation(x_deg: float, z_deg: float) -> np.ndarray:
    a, b = np.radians(x_deg), np.radians(z_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    return rz @ rx


def _oblique_affine() -> np.ndarray:
    affine = axial_affine()
    affine[:3, :3] = _rotation(25.0, -35.0) @ affine[:3, :3]
    return affine


def _feet_first_affine() -> np.ndarray:
    # FFS axial: rows run to the patient's right (-x), columns posterior (+y).
    affine = axial_affine(slice_sign=1.0)
    affine[:3, 2] = (-0.4, 0.0, 0.0)
    return affine


GEOMETRIES = {
    "HFS head-to-feet": (axial_affine(slice_sign=-1.0), "HFS"),
    "HFS feet-to-head": (axial_affine(slice_sign=1.0), "HFS"),
    "FFS": (_feet_first_affine(), "FFS"),
    "oblique": (_oblique_affine(), "HFS"),
}
STORAGE = [  # signed, slope: HU must come back within slope / 2
    (True, 1.0),
    (False, 1.0),
    (True, 0.5),
    (False, 2.0),
]


def _shuffled(paths: list[Path], seed: int = 1) -> list[Path]:
    shuffled = list(paths)
    random.Random(seed).shuffle(shuffled)
    return shuffled


@pytest.mark.parametrize(("signed", "slope"), STORAGE)
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_round_trip_keeps_hu_and_affine(
    tmp_path: Path, geometry: str, signed: bool, slope: float
) -> None:
    affine, position = GEOMETRIES[geometry]
    hu = random_hu((7, 32, 36), seed=3) + 0.25  # off-grid values test the rounding
    original = Volume(hu, affine)
    _, paths = write_sample(
        tmp_path, original, patient_position=position, signed_pixels=signed, rescale_slope=slope
    )
    loaded = load_series(_shuffled(paths))
    np.testing.assert_allclose(loaded.affine, affine, atol=1e-6)
    np.testing.assert_allclose(loaded.hu, original.hu, atol=slope / 2 + 1e-4)
    assert loaded.hu.dtype == np.float32
    assert loaded.series_instance_uid == "2.25.1000000000000000000000000003"
    assert loaded.frame_of_reference_uid == "2.25.1000000000000000000000000002"
    assert loaded.sop_instance_uids == tuple(pydicom.dcmread(p).SOPInstanceUID for p in paths)
    assert loaded.frame_numbers == (1,) * 7


SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
]


@pytest.mark.parametrize("multiframe", [False, True], ids=["CT", "EnhancedCT"])
@pytest.mark.parametrize("syntax", SYNTAXES, ids=[s.name for s in SYNTAXES])
def test_each_transfer_syntax_decodes_to_the_same_volume(
    tmp_path: Path, syntax: str, multiframe: bool
) -> None:
    original, paths = write_sample(
        tmp_path, transfer_syntax_uid=syntax, multiframe=multiframe, signed_pixels=False
    )
    loaded = load_series([tmp_path])
    np.testing.assert_array_equal(loaded.hu, original.hu)
    np.testing.assert_allclose(loaded.affine, original.affine, atol=1e-6)
    if multiframe:
        uid = pydicom.dcmread(paths[0], stop_before_pixels=True).SOPInstanceUID
        assert loaded.sop_instance_uids == (uid,) * 8
        assert loaded.frame_numbers == tuple(range(1, 9))


@pytest.mark.parametrize("multiframe", [False, True], ids=["CT", "EnhancedCT"])
def test_jpeg_lossless_sv1_written_by_dcmcjpeg_loads(tmp_path: Path, multiframe: bool) -> None:
    original, paths = write_sample(tmp_path / "raw", multiframe=multiframe)
    (tmp_path / "jpeg").mkdir()
    for path in paths:
        dcmcjpeg_lossless(path, tmp_path / "jpeg" / path.name)
    loaded = load_series(_shuffled(list((tmp_path / "jpeg").iterdir())))
    np.testing.assert_array_equal(loaded.hu, original.hu)


def test_datasets_in_memory_load_like_files(tmp_path: Path) -> None:
    original, paths = write_sample(tmp_path)
    loaded = load_series([pydicom.dcmread(p) for p in _shuffled(paths)])
    np.testing.assert_array_equal(loaded.hu, original.hu)
    np.testing.assert_allclose(loaded.affine, original.affine, atol=1e-6)


def test_enhanced_ct_per_frame_rescale_overrides_the_shared_one(tmp_path: Path) -> None:
    original, paths = write_sample(tmp_path, multiframe=True)
    ds = pydicom.dcmread(paths[0])
    transform = ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0]
    frame = ds.PerFrameFunctionalGroupsSequence[2]
    frame.PixelValueTransformationSequence = pydicom.Sequence([pydicom.Dataset()])
    override = frame.PixelValueTransformationSequence[0]
    override.RescaleSlope, override.RescaleIntercept = "2", "-100"
    override.RescaleType = transform.RescaleType
    loaded = load_series([ds])
    np.testing.assert_array_equal(loaded.hu[2], original.hu[2] * 2 - 100)
    np.testing.assert_array_equal(loaded.hu[3], original.hu[3])


def test_pydicom_ct_small_loads_as_a_one_slice_volume() -> None:
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    volume = load_series([path], min_slices=1)
    assert volume.shape == (1, 128, 128)
    np.testing.assert_array_equal(volume.hu[0], apply_rescale(ds.pixel_array, ds))
    np.testing.assert_allclose(volume.affine[:3, 3], [float(v) for v in ds.ImagePositionPatient])
    np.testing.assert_allclose(volume.spacing_mm, [5.0, 0.661468, 0.661468])
    assert volume.series_instance_uid == ds.SeriesInstanceUID


def test_pydicom_ct_small_copies_stack_into_a_volume() -> None:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    copies = []
    for k in range(4):
        copy = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        copy.SOPInstanceUID = f"{ds.SOPInstanceUID}.{k}"
        copy.InstanceNumber = k + 1
        copy.ImagePositionPatient[2] = float(ds.ImagePositionPatient[2]) - 2.5 * k
        copies.append(copy)
    volume = load_series(reversed(copies))
    assert volume.shape == (4, 128, 128)
    np.testing.assert_allclose(volume.affine[:3, 0], [0, 0, -2.5], atol=1e-6)


def test_pydicom_jpeg_2000_ct_decodes() -> None:
    path = get_testdata_file("693_J2KI.dcm")  # irreversible JPEG 2000, 512 x 512
    ds = pydicom.dcmread(path)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"
    volume = load_series([path], min_slices=1)
    assert volume.shape == (1, 512, 512)
    np.testing.assert_array_equal(volume.hu[0], apply_rescale(ds.pixel_array, ds))


def test_benchmark_reports_slices_per_second(tmp_path: Path) -> None:
    write_sample(tmp_path / "series", transfer_syntax_uid=RLELossless)
    report = benchmark_loader(tmp_path / "series")
    assert report["slices"] == 8
    assert report["shape"] == "8x32x36"
    assert isinstance(report["slices_per_s"], float) and report["slices_per_s"] > 0
    assert "RLE Lossless" in str(report["transfer_syntax"])
    shutil.rmtree(tmp_path / "series")
