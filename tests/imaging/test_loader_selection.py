"""What the loader sets aside, chooses or refuses: duplicates, localizers, other series,
non-CT objects, broken files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    generate_uid,
)

from ccta_ai.dicom_out.ct import write_localizer
from ccta_ai.errors import GeometryError, MixedSeriesError, SeriesError, UnreadableFileError
from ccta_ai.imaging.loader import load_series
from ccta_ai.imaging.volume import Volume
from ct_samples import axial_affine, random_hu, sample_acquisition, sample_study, write_sample

MAIN_UID = "2.25.1000000000000000000000000003"
OTHER_UID = "2.25.2000000000000000000000000003"


def _write_localizer(out_dir: Path, series_uid: str = "2.25.77", series_number: int = 1) -> Path:
    acquisition = sample_acquisition(
        series_instance_uid=series_uid,
        series_number=series_number,
        series_description="Topogram",
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        ecg_gated=False,
        contrast_bolus_agent=None,
    )
    image = np.full((40, 32), -500.0, dtype=np.float32)
    return write_localizer(
        image,
        (1.0, 1.0),
        (-16.0, 0.0, 60.0),
        (1, 0, 0, 0, 0, -1),
        sample_study(),
        acquisition,
        out_dir,
    )


def test_exact_duplicates_are_kept_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    original, _ = write_sample(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b" / "copy")
    caplog.set_level(logging.INFO)
    loaded = load_series([tmp_path])
    np.testing.assert_array_equal(loaded.hu, original.hu)
    assert len(loaded.sop_instance_uids) == 8
    assert sum("duplicate" in r.message for r in caplog.records) == 8


def test_two_instances_at_one_position_is_an_error_naming_both(tmp_path: Path) -> None:
    _, paths = write_sample(tmp_path)
    datasets = [pydicom.dcmread(p) for p in paths]
    impostor = pydicom.dcmread(paths[4])
    impostor.SOPInstanceUID = "2.25.555"
    impostor.NominalPercentageOfCardiacPhase = 40.0
    with pytest.raises(GeometryError, match="same position") as caught:
        load_series([*datasets, impostor])
    message = str(caught.value)
    assert "2.25.555" in message and datasets[4].SOPInstanceUID in message
    assert "NominalPercentageOfCardiacPhase (75.0 vs 40.0)" in message
    assert MAIN_UID in message


def _mixed_folder(tmp_path: Path) -> tuple[Volume, Volume]:
    main, _ = write_sample(tmp_path / "main")
    other = Volume(random_hu((5, 32, 32), seed=9), axial_affine(spacing_mm=(2.0, 0.7, 0.7)))
    write_sample(
        tmp_path / "other",
        other,
        series_instance_uid=OTHER_UID,
        series_number=4,
        series_description="Calcium score 3 mm",
    )
    _write_localizer(tmp_path / "scout")
    return main, other


def test_several_series_and_none_chosen_lists_each(tmp_path: Path) -> None:
    _mixed_folder(tmp_path)
    with pytest.raises(MixedSeriesError) as caught:
        load_series([tmp_path])
    message = str(caught.value)
    assert "2 CT series" in message
    assert f"{MAIN_UID} 'CCTA 0.6 mm 75%' (8 images" in message
    assert f"{OTHER_UID} 'Calcium score 3 mm' (5 images" in message
    assert "Topogram" not in message  # the localizer is not a candidate


@pytest.mark.parametrize(("wanted", "slices"), [(MAIN_UID, 8), (OTHER_UID, 5)])
def test_the_chosen_series_is_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, wanted: str, slices: int
) -> None:
    main, other = _mixed_folder(tmp_path)
    caplog.set_level(logging.INFO)
    loaded = load_series([tmp_path], series_instance_uid=wanted)
    expected = main if wanted == MAIN_UID else other
    assert loaded.series_instance_uid == wanted and loaded.shape[0] == slices
    np.testing.assert_array_equal(loaded.hu, expected.hu)
    assert any("localizer" in r.message and "LOC0001" in r.message for r in caplog.records)


def test_a_localizer_alone_beside_the_series_is_dropped(tmp_path: Path) -> None:
    main, _ = write_sample(tmp_path)
    _write_localizer(tmp_path, series_uid=MAIN_UID, series_number=3)  # same series
    _write_localizer(tmp_path / "x", series_uid="2.25.78")  # own series
    loaded = load_series([tmp_path])
    np.testing.assert_array_equal(loaded.hu, main.hu)


def test_a_single_unflagged_image_of_another_orientation_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    main, paths = write_sample(tmp_path)
    scout = pydicom.dcmread(paths[0])
    scout.SOPInstanceUID, scout.InstanceNumber = "2.25.4242", 99
    scout.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    caplog.set_level(logging.INFO)
    loaded = load_series([*(pydicom.dcmread(p) for p in paths), scout])
    np.testing.assert_array_equal(loaded.hu, main.hu)
    assert any("another orientation" in r.message for r in caplog.records)


def test_an_unknown_series_uid_lists_what_is_present(tmp_path: Path) -> None:
    write_sample(tmp_path)
    with pytest.raises(SeriesError, match=f"2.25.404 is not among the sources.*{MAIN_UID}"):
        load_series([tmp_path], series_instance_uid="2.25.404")


def _pdf(path: Path) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = EncapsulatedPDFStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.SeriesInstanceUID = "DOC", "2.25.31"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_non_image_objects_and_non_dicom_files_in_a_folder_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    main, _ = write_sample(tmp_path)
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "sr.dcm")
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "plan.dcm")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm")
    _pdf(tmp_path / "report.dcm")
    (tmp_path / "README.txt").write_text("exported by a PACS")
    caplog.set_level(logging.INFO)
    loaded = load_series([tmp_path])
    np.testing.assert_array_equal(loaded.hu, main.hu)
    notes = " | ".join(r.message for r in caplog.records)
    for expected in (
        "sr.dcm: Comprehensive SR Storage is not a CT image",
        "report.dcm: Encapsulated PDF Storage is not a CT image",
        "mr.dcm: MR Image Storage is not a CT image",
        "README.txt: not a DICOM file",
    ):
        assert expected in notes


def test_no_ct_at_all_says_what_was_found(tmp_path: Path) -> None:
    shutil.copy(get_testdata_file("test-SR.dcm"), tmp_path / "sr.dcm")
    _pdf(tmp_path / "report.dcm")
    with pytest.raises(SeriesError, match=r"no CT image series.*1 Comprehensive SR Storage"):
        load_series([tmp_path])


@pytest.mark.parametrize(
    ("syntax", "keep_bytes"),
    [
        (ExplicitVRLittleEndian, 300),  # just after the File Meta Information
        (ExplicitVRLittleEndian, 1000),  # inside the header, before Rows
        (ExplicitVRLittleEndian, -100),  # inside the pixel data
        (JPEG2000Lossless, -100),  # inside a compressed frame
        (ExplicitVRLittleEndian, 0),  # empty file
    ],
)
def test_a_truncated_file_is_named(tmp_path: Path, syntax: str, keep_bytes: int) -> None:
    _, paths = write_sample(tmp_path, transfer_syntax_uid=syntax)
    victim = paths[3]
    data = victim.read_bytes()
    victim.write_bytes(data[:keep_bytes])
    with pytest.raises(UnreadableFileError, match=victim.name):
        load_series(paths)


def test_a_non_dicom_file_given_by_name_is_an_error(tmp_path: Path) -> None:
    _, paths = write_sample(tmp_path)
    stray = tmp_path / "notes.txt"
    stray.write_text("not DICOM")
    with pytest.raises(UnreadableFileError, match=r"notes\.txt"):
        load_series([*paths, stray])
