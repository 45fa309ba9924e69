"""SEG conformance and content: dciodvfy, highdicom ``segread`` round trip, frames on
the right source images, deterministic identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest

from ccta_ai.dicom_out import coding
from ccta_ai.dicom_out.seg import build_seg
from ccta_ai.errors import InputError
from ccta_ai.phantom.labels import OTHER_BRANCH
from findings_samples import MODEL_SHA256, SampleCase, sample_case


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> SampleCase:
    return sample_case(tmp_path_factory.mktemp("seg-case"))


@pytest.fixture(scope="module")
def seg_path(case: SampleCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    seg = build_seg(
        case.findings, case.volume, case.datasets, case.segment_labels, case.plaque_labels
    )
    path = tmp_path_factory.mktemp("seg") / "seg.dcm"
    seg.save_as(path)
    return path


@pytest.fixture(scope="module")
def seg(seg_path: Path) -> hd.seg.Segmentation:
    return hd.seg.segread(seg_path)


def _numbers_by_label(seg: hd.seg.Segmentation) -> dict[str, int]:
    return {item.SegmentLabel: int(item.SegmentNumber) for item in seg.SegmentSequence}


def test_seg_passes_dciodvfy(seg_path: Path, dciodvfy: Callable[[Path], list[str]]) -> None:
    assert dciodvfy(seg_path) == []


def test_one_segment_per_scct_segment_coded_from_cid_3014(
    seg: hd.seg.Segmentation, case: SampleCase
) -> None:
    present = sorted(int(v) for v in np.unique(case.segment_labels) if v not in (0, OTHER_BRANCH))
    lumen = [
        item
        for item in seg.SegmentSequence
        if item.SegmentedPropertyCategoryCodeSequence[0].CodeValue
        == coding.ANATOMICAL_STRUCTURE.value
    ]
    scct = [item for item in lumen if "SCCT" in item.SegmentLabel]
    assert [int(item.SegmentLabel.split("SCCT ")[1].rstrip(")")) for item in scct] == present
    for item in scct:
        number = int(item.SegmentLabel.split("SCCT ")[1].rstrip(")"))
        typed = item.SegmentedPropertyTypeCodeSequence[0]
        expected = coding.SCCT_SEGMENT_CODES[number]
        assert (typed.CodeValue, typed.CodingSchemeDesignator) == (expected.value, "SCT")
        assert expected.value in {c.value for c in _cid3014()}
    others = [item for item in lumen if "SCCT" not in item.SegmentLabel]
    assert [o.SegmentedPropertyTypeCodeSequence[0].CodeValue for o in others] == [
        coding.CORONARY_ARTERY.value
    ]


# PS3.16 CID 3014 values for SCCT segments (reference table, typed from the standard).
@pytest.mark.parametrize(
    ("scct", "snomed", "meaning"),
    [
        (1, "91083009", "Proximal Right Coronary Artery"),
        (2, "450960006", "Mid Right Coronary Artery"),
        (5, "3227004", "Left Main Coronary Artery"),
        (6, "68787002", "Proximal Left Anterior Descending Coronary Artery"),
        (9, "91750005", "1st Diagonal Coronary Artery"),
        (11, "52433000", "Proximal Circumflex Coronary Artery"),
        (13, "6511003", "Distal Circumflex Coronary Artery"),
        (17, "244252004", "Intermediate Artery (Ramus)"),
    ],
)
def test_scct_segment_codes_match_the_standard(scct: int, snomed: str, meaning: str) -> None:
    code = coding.segment_code(scct)
    assert (code.value, code.scheme_designator, code.meaning) == (snomed, "SCT", meaning)


def _cid3014() -> list[coding.Code]:
    cid = coding.codes.cid3014
    return [getattr(cid, name) for name in cid.dir()]


def test_plaque_segments_are_abnormal_structures(seg: hd.seg.Segmentation) -> None:
    numbers = _numbers_by_label(seg)
    for label, code in (
        ("calcified plaque", coding.CALCIFIED_PLAQUE),
        ("non-calcified plaque", coding.NON_CALCIFIED_PLAQUE),
    ):
        item = seg.get_segment_description(numbers[label])
        assert item.segmented_property_category == coding.ABNORMAL_STRUCTURE
        assert item.segmented_property_type == code


def test_frames_lie_on_their_source_images(seg: hd.seg.Segmentation, case: SampleCase) -> None:
    positions = {ds.SOPInstanceUID: [float(x) for x in ds.ImagePositionPatient]
                 for ds in case.datasets}  # fmt: skip
    assert seg.NumberOfFrames < len(case.datasets) * len(seg.SegmentSequence)  # empty omitted
    for frame in seg.PerFrameFunctionalGroupsSequence:
        source = frame.DerivationImageSequence[0].SourceImageSequence[0]
        position = frame.PlanePositionSequence[0].ImagePositionPatient
        np.testing.assert_allclose(
            [float(x) for x in position], positions[source.ReferencedSOPInstanceUID], atol=1e-3
        )
    assert seg.FrameOfReferenceUID == case.datasets[0].FrameOfReferenceUID


def test_pixels_per_source_image_match_the_label_maps(
    seg: hd.seg.Segmentation, case: SampleCase
) -> None:
    numbers = _numbers_by_label(seg)
    uids = [str(ds.SOPInstanceUID) for ds in case.datasets]
    checks = {
        numbers["pLAD (SCCT 6)"]: case.segment_labels == 6,
        numbers["mRCA (SCCT 2)"]: case.segment_labels == 2,
        numbers["other coronary branches"]: case.segment_labels == OTHER_BRANCH,
        numbers["calcified plaque"]: case.plaque_labels == 1,
        numbers["non-calcified plaque"]: case.plaque_labels == 2,
    }
    for number, expected in checks.items():
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=uids, segment_numbers=[number]
        )
        assert pixels.shape == (*case.volume.shape, 1)
        np.testing.assert_array_equal(pixels[..., 0] > 0, expected)
        assert expected.any()


def test_algorithm_identification_names_the_model(seg: hd.seg.Segmentation) -> None:
    for item in seg.SegmentSequence:
        algorithm = item.SegmentationAlgorithmIdentificationSequence[0]
        assert algorithm.AlgorithmName == "ccta-ai"
        assert algorithm.AlgorithmVersion == "0.1.0"
        assert MODEL_SHA256 in algorithm.AlgorithmParameters
        family = algorithm.AlgorithmFamilyCodeSequence[0]
        assert family.CodeValue == coding.ALGORITHM_FAMILY.value
        assert item.SegmentAlgorithmType == "AUTOMATIC"


def test_patient_study_and_series_identity(seg: hd.seg.Segmentation, case: SampleCase) -> None:
    source = case.datasets[0]
    assert seg.StudyInstanceUID == source.StudyInstanceUID
    assert seg.PatientID == source.PatientID
    assert seg.PatientName == source.PatientName
    assert seg.AccessionNumber == source.AccessionNumber
    assert seg.SeriesNumber == 901
    assert seg.SeriesDescription.startswith("CCTA AI")
    assert seg.Manufacturer == "CCTA AI"


def _uids(ds: hd.seg.Segmentation) -> list[str]:
    return [str(e.value) for e in ds.iterall() if e.VR == "UI"]


def test_rerun_gives_identical_uids_and_a_new_version_new_ones(
    seg: hd.seg.Segmentation, case: SampleCase
) -> None:
    args = (case.volume, case.datasets, case.segment_labels, case.plaque_labels)
    again = build_seg(case.findings, *args)
    assert _uids(again) == _uids(seg)
    assert str(again.ContentDate) == str(seg.ContentDate)
    assert str(again.ContentTime) == str(seg.ContentTime)
    newer = replace(case.findings, algorithm=replace(case.findings.algorithm, version="0.2.0"))
    other = build_seg(newer, *args)
    assert other.SOPInstanceUID != seg.SOPInstanceUID
    assert other.SeriesInstanceUID != seg.SeriesInstanceUID


def test_mismatched_labels_are_refused(case: SampleCase) -> None:
    with pytest.raises(InputError, match="shape"):
        build_seg(
            case.findings, case.volume, case.datasets, case.segment_labels[:-1], case.plaque_labels
        )
    with pytest.raises(InputError, match="integers 0-255"):
        build_seg(
            case.findings,
            case.volume,
            case.datasets,
            case.segment_labels.astype(np.float32),
            case.plaque_labels,
        )
    wrong = case.plaque_labels.copy()
    wrong[0, 0, 0] = 7
    with pytest.raises(InputError, match="plaque_labels holds"):
        build_seg(case.findings, case.volume, case.datasets, case.segment_labels, wrong)
