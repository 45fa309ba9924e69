"""CT Image / Enhanced CT Image / localizer writers: content read back, and dciodvfy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_rescale
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from ccta_ai.dicom_out.ct import sop_instance_uid_for, write_ct_series, write_localizer
from ccta_ai.imaging.volume import Volume
from ct_samples import axial_affine, random_hu, sample_acquisition, sample_study, write_sample
from validators import dcmcjpeg_lossless

SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    RLELossless,
    JPEGLSLossless,
    JPEG2000Lossless,
]
Validator = Callable[[Path], list[str]]


@pytest.mark.parametrize("multiframe", [False, True], ids=["CT", "EnhancedCT"])
@pytest.mark.parametrize("syntax", SYNTAXES, ids=[s.name for s in SYNTAXES])
def test_every_syntax_passes_dciodvfy_and_keeps_pixels(
    tmp_path: Path, dciodvfy: Validator, syntax: str, multiframe: bool
) -> None:
    volume, paths = write_sample(tmp_path, transfer_syntax_uid=syntax, multiframe=multiframe)
    for path in (paths[0], paths[-1]):
        assert dciodvfy(path) == [], path
    datasets = [pydicom.dcmread(p) for p in paths]
    assert all(ds.file_meta.TransferSyntaxUID == syntax for ds in datasets)
    stored = np.concatenate([ds.pixel_array.reshape(-1, 32, 36) for ds in datasets])
    np.testing.assert_array_equal(stored, volume.hu)  # signed, intercept 0, slope 1


@pytest.mark.parametrize("multiframe", [False, True], ids=["CT", "EnhancedCT"])
def test_jpeg_lossless_sv1_from_dcmcjpeg_passes_dciodvfy(
    tmp_path: Path, dciodvfy: Validator, multiframe: bool
) -> None:
    volume, paths = write_sample(tmp_path / "in", multiframe=multiframe)
    converted = dcmcjpeg_lossless(paths[0], tmp_path / "jpeg.dcm")
    ds = pydicom.dcmread(converted)
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    assert dciodvfy(converted) == []
    np.testing.assert_array_equal(
        ds.pixel_array.reshape(-1, 32, 36), volume.hu[: 8 if multiframe else 1]
    )


def test_single_frame_geometry_and_identity_come_from_the_affine(tmp_path: Path) -> None:
    affine = axial_affine(spacing_mm=(0.5, 0.4, 0.35), origin_mm=(-10.0, -12.0, 40.0))
    volume = Volume(random_hu((4, 24, 20)), affine)
    paths = write_ct_series(volume, sample_study(), sample_acquisition(), tmp_path)
    datasets = [pydicom.dcmread(p) for p in paths]
    for k, ds in enumerate(datasets):
        assert ds.SOPClassUID == CTImageStorage
        assert ds.InstanceNumber == k + 1
        assert ds.SOPInstanceUID == sop_instance_uid_for(
            sample_acquisition().series_instance_uid, k
        )
        np.testing.assert_allclose(
            [float(v) for v in ds.ImagePositionPatient], [-10, -12, 40 - 0.5 * k]
        )
        assert float(ds.SliceLocation) == pytest.approx(40 - 0.5 * k)
    first = datasets[0]
    assert [float(v) for v in first.ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    assert [float(v) for v in first.PixelSpacing] == [0.4, 0.35]  # between rows, columns
    assert first.Rows == 24 and first.Columns == 20
    assert first.SpecificCharacterSet == "ISO_IR 192"
    assert (first.PatientName, first.PatientID, first.Modality) == (
        "Test^Patient",
        "CCTA-TEST-1",
        "CT",
    )
    assert first.FrameOfReferenceUID == sample_study().frame_of_reference_uid
    assert first.PatientPosition == "HFS"
    assert float(first.SliceThickness) == 0.6
    assert (first.ContrastBolusAgent, first.ContrastBolusRoute) == ("Iopromide 370", "IV")
    assert (first.HeartRate, first.NominalPercentageOfCardiacPhase) == (62, 75.0)
    assert first.ScanOptions == "CARDIAC" and first.ConvolutionKernel == "Bv36"
    assert len({ds.SOPInstanceUID for ds in datasets}) == 4


def test_uids_are_deterministic_and_depend_on_the_series(tmp_path: Path) -> None:
    _, first = write_sample(tmp_path / "a")
    _, again = write_sample(tmp_path / "b")
    _, other = write_sample(tmp_path / "c", series_instance_uid="2.25.99")
    uids = [[pydicom.dcmread(p).SOPInstanceUID for p in paths] for paths in (first, again, other)]
    assert uids[0] == uids[1]
    assert not set(uids[0]) & set(uids[2])
    assert all(uid.startswith("2.25.") and len(uid) <= 64 for uid in uids[0])


@pytest.mark.parametrize(
    ("signed", "slope", "hu", "expected_hu", "intercept", "dtype"),
    [
        (True, 1.0, [-1024, 0, 3071], [-1024, 0, 3071], 0.0, np.int16),
        (True, 1.0, [-40000, 40000, 0], [-32768, 32767, 0], 0.0, np.int16),  # clipped
        (True, 0.5, [-1024.5, 0.5, 100.25], [-1024.5, 0.5, 100.0], 0.0, np.int16),
        (False, 1.0, [-1024, -1025, 3071], [-1024, -1024, 3071], -1024.0, np.uint16),
        (False, 2.0, [-1024, 1, 64000], [-1024, 0, 64000], -1024.0, np.uint16),
    ],
)
def test_stored_values_rescale_back_to_hu(
    tmp_path: Path,
    signed: bool,
    slope: float,
    hu: list[float],
    expected_hu: list[float],
    intercept: float,
    dtype: type,
) -> None:
    plane = np.zeros((3, 2, 3), dtype=np.float32)
    plane[:, 0, :] = hu
    volume = Volume(plane, axial_affine())
    paths = write_ct_series(
        volume,
        sample_study(),
        sample_acquisition(signed_pixels=signed, rescale_slope=slope),
        tmp_path,
    )
    ds = pydicom.dcmread(paths[0])
    assert ds.PixelRepresentation == (1 if signed else 0)
    assert (float(ds.RescaleIntercept), float(ds.RescaleSlope)) == (intercept, slope)
    assert ds.RescaleType == "HU"
    assert ds.pixel_array.dtype == dtype
    np.testing.assert_allclose(apply_rescale(ds.pixel_array, ds)[0], expected_hu)


def test_enhanced_ct_functional_groups_and_highdicom_volume(tmp_path: Path) -> None:
    volume, paths = write_sample(tmp_path, multiframe=True, signed_pixels=False, rescale_slope=0.5)
    ds = pydicom.dcmread(paths[0])
    assert len(paths) == 1 and ds.SOPClassUID == EnhancedCTImageStorage
    assert ds.NumberOfFrames == 8
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "CARDIAC_GATED", "NONE"]
    shared = ds.SharedFunctionalGroupsSequence[0]
    assert [float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient] == [
        1,
        0,
        0,
        0,
        1,
        0,
    ]
    assert [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing] == [0.4, 0.4]
    transform = shared.PixelValueTransformationSequence[0]
    assert (float(transform.RescaleIntercept), float(transform.RescaleSlope)) == (-1024.0, 0.5)
    sync = shared.CardiacSynchronizationSequence[0]
    assert sync.NominalPercentageOfCardiacPhase == 75.0
    assert sync.RRIntervalTimeNominal == pytest.approx(60000 / 62)
    assert ds.CardiacSynchronizationTechnique == "RETROSPECTIVE"
    assert shared.CTImageFrameTypeSequence[0].FrameType[0] == "ORIGINAL"
    assert ds.ContrastBolusAgentSequence[0].ContrastBolusAgentNumber == 1
    for k, frame in enumerate(ds.PerFrameFunctionalGroupsSequence):
        position = [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient]
        np.testing.assert_allclose(position, volume.index_to_lps(np.array([k, 0, 0])))
        assert list(frame.FrameContentSequence[0].DimensionIndexValues) == [1, k + 1]
    image = hd.imread(paths[0])
    hd_volume = image.get_volume()
    assert hd_volume.spatial_shape == volume.shape
    # highdicom orders frames its own way: compare voxel by voxel in patient space.
    centre = hd_volume.map_indices_to_reference(np.array([[3, 5, 7]]))[0]
    ours = np.rint(volume.lps_to_index(centre)).astype(int)
    assert hd_volume.array[3, 5, 7] == volume.hu[tuple(ours)]


def test_single_frame_series_reads_back_in_highdicom(tmp_path: Path) -> None:
    volume, paths = write_sample(tmp_path)
    hd_volume = hd.get_volume_from_series([pydicom.dcmread(p) for p in paths])
    assert hd_volume.spatial_shape == volume.shape
    corner = hd_volume.map_indices_to_reference(np.array([[0, 0, 0]]))[0]
    k, r, c = np.rint(volume.lps_to_index(corner)).astype(int)
    assert hd_volume.array[0, 0, 0] == volume.hu[k, r, c]


def test_gantry_tilt_shears_positions_along_the_column_direction(tmp_path: Path) -> None:
    _, paths = write_sample(tmp_path, gantry_detector_tilt_deg=20.0)
    positions = np.array(
        [[float(v) for v in pydicom.dcmread(p).ImagePositionPatient] for p in paths]
    )
    steps = np.diff(positions, axis=0)
    np.testing.assert_allclose(steps[:, 2], -0.5, atol=1e-6)  # along the normal
    np.testing.assert_allclose(steps[:, 1], 0.5 * np.tan(np.radians(20.0)), atol=1e-6)
    assert float(pydicom.dcmread(paths[0]).GantryDetectorTilt) == 20.0


def test_localizer_is_a_valid_ct_image_with_its_own_plane(
    tmp_path: Path, dciodvfy: Validator
) -> None:
    acquisition = sample_acquisition(
        series_instance_uid="2.25.42",
        series_number=1,
        series_description="Topogram",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        ecg_gated=False,
        contrast_bolus_agent=None,
    )
    image = np.linspace(-1000, 500, 30 * 20, dtype=np.float32).reshape(30, 20)
    path = write_localizer(
        image,
        (1.5, 1.0),
        (-100.0, 0.0, 120.0),
        (1, 0, 0, 0, 0, -1),
        sample_study(),
        acquisition,
        tmp_path,
    )
    assert dciodvfy(path) == []
    ds = pydicom.dcmread(path)
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    assert [float(v) for v in ds.ImageOrientationPatient] == [1, 0, 0, 0, 0, -1]
    assert [float(v) for v in ds.ImagePositionPatient] == [-100, 0, 120]
    assert [float(v) for v in ds.PixelSpacing] == [1.5, 1.0]
    assert "RescaleType" not in ds and "ContrastBolusAgent" not in ds
    np.testing.assert_allclose(apply_rescale(ds.pixel_array, ds), np.rint(image))


@pytest.mark.parametrize(
    "syntax",
    ["1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.2", "not-a-uid"],
)
def test_unsupported_transfer_syntax_is_refused_with_the_value(tmp_path: Path, syntax: str) -> None:
    with pytest.raises(ValueError, match=syntax.replace(".", r"\.")):
        write_sample(tmp_path, transfer_syntax_uid=syntax)
    assert not list(tmp_path.glob("*.dcm"))


@pytest.mark.parametrize(
    ("rows", "columns", "ok"), [(32, 32, True), (31, 64, False), (64, 8, False)]
)
def test_jpeg_2000_needs_32_pixels_per_side(
    tmp_path: Path, rows: int, columns: int, ok: bool
) -> None:
    volume = Volume(random_hu((3, rows, columns)), axial_affine())
    if ok:
        _, paths = write_sample(tmp_path, volume, transfer_syntax_uid=JPEG2000Lossless)
        np.testing.assert_array_equal(pydicom.dcmread(paths[2]).pixel_array, volume.hu[2])
    else:
        with pytest.raises(ValueError, match=f"got {rows}x{columns}"):
            write_sample(tmp_path, volume, transfer_syntax_uid=JPEG2000Lossless)
