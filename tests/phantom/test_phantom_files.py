"""The written study: DICOM conformance, loading onto the same grid, one patient/study/
frame of reference, NIfTI label maps, reproducibility, truth.json as documented."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from phantom_measure import nearest_voxel

from ccta_ai.imaging.loader import load_series
from ccta_ai.phantom.study import PhantomStudy

DOCS = Path(__file__).resolve().parents[2] / "docs" / "truth.md"
Written = tuple[Path, dict[str, Any]]


def test_every_series_passes_dciodvfy(written_a: Written, dciodvfy: Callable) -> None:
    out, _ = written_a
    for series in ("ccta", "calcium", "localizer"):
        files = sorted((out / series).glob("*.dcm"))
        assert files, series
        for path in {files[0], files[len(files) // 2], files[-1]}:
            assert dciodvfy(path) == [], path


def test_series_share_patient_study_and_frame_of_reference(written_a: Written) -> None:
    out, truth = written_a
    heads = {
        s: pydicom.dcmread(sorted((out / s).glob("*.dcm"))[0], stop_before_pixels=True)
        for s in ("ccta", "calcium", "localizer")
    }
    for name in (
        "PatientID",
        "PatientName",
        "StudyInstanceUID",
        "FrameOfReferenceUID",
        "AccessionNumber",
    ):
        assert len({str(ds.get(name)) for ds in heads.values()}) == 1, name
    assert heads["ccta"].StudyInstanceUID == truth["study_instance_uid"]
    assert heads["ccta"].FrameOfReferenceUID == truth["frame_of_reference_uid"]
    for s, ds in heads.items():
        assert ds.SeriesInstanceUID == truth["series"][s]
        assert ds.Modality == "CT"
    assert len({ds.SeriesInstanceUID for ds in heads.values()}) == 3
    assert "LOCALIZER" in heads["localizer"].ImageType
    assert heads["ccta"].ContrastBolusAgent
    assert "ContrastBolusAgent" not in heads["calcium"]
    assert float(heads["calcium"].SliceThickness) >= 2.5
    assert float(heads["ccta"].SliceThickness) <= 1.0
    assert heads["ccta"].PatientPosition == truth["image"]["patient_position"]
    assert heads["ccta"].NominalPercentageOfCardiacPhase is not None


def test_ccta_loads_onto_the_same_grid_with_the_same_pixels(
    written_a: Written, study_a: PhantomStudy
) -> None:
    out, truth = written_a
    loaded = load_series([out / "ccta"])
    assert loaded.shape == study_a.ccta.shape
    assert loaded.series_instance_uid == truth["series"]["ccta"]
    np.testing.assert_allclose(loaded.affine, study_a.ccta.affine, atol=1e-3)
    # Written as integers: the same pixels as the in-memory study (another run of the
    # same seed), up to rounding.
    assert np.max(np.abs(loaded.hu - np.clip(study_a.ccta.hu, -1024, 3071))) <= 0.5 + 1e-3
    calcium = load_series([out / "calcium"])
    np.testing.assert_allclose(calcium.affine, study_a.calcium.affine, atol=1e-3)
    assert truth["image"]["slices"] == loaded.shape[0]
    assert truth["image"]["pixel_spacing_mm"] == pytest.approx(loaded.spacing_mm[1:], abs=1e-3)


def test_same_seed_gives_the_same_truth_bytes(written_a: Written, study_a: PhantomStudy) -> None:
    out, truth = written_a
    text = (out / "truth.json").read_text()
    assert text == json.dumps(study_a.truth, indent=1) + "\n"
    assert json.loads(text) == truth


def test_different_seeds_differ(study_a: PhantomStudy, study_b: PhantomStudy) -> None:
    a, b = study_a.truth, study_b.truth
    assert a["dominance"] != b["dominance"]
    assert a["image"]["patient_position"] != b["image"]["patient_position"]
    assert a["image"]["pixel_spacing_mm"] != b["image"]["pixel_spacing_mm"]
    assert a["ostia_lps_mm"] != b["ostia_lps_mm"]
    assert a["study_instance_uid"] != b["study_instance_uid"]


def test_nifti_label_maps_are_in_ras_on_the_ccta_grid(
    written_a: Written, study_a: PhantomStudy
) -> None:
    out, truth = written_a
    lumen = nib.load(out / "lumen_labels.nii.gz")
    anatomy = nib.load(out / "anatomy_labels.nii.gz")
    assert isinstance(lumen, nib.Nifti1Image) and isinstance(anatomy, nib.Nifti1Image)
    for image, expected in ((lumen, study_a.lumen_labels), (anatomy, study_a.anatomy_labels)):
        assert image.shape == study_a.ccta.shape
        np.testing.assert_array_equal(np.asarray(image.dataobj), expected)
    # RAS affine: an LPS truth point, negated in x and y, maps to a voxel of its segment.
    lad = next(v for v in truth["vessels"] if v["name"] == "LAD")
    point_lps = np.array(lad["points_lps_mm"][40])
    point_ras = point_lps * [-1.0, -1.0, 1.0]
    index = np.rint(np.linalg.solve(lumen.affine[:3, :3], point_ras - lumen.affine[:3, 3]))
    assert np.asarray(lumen.dataobj)[tuple(index.astype(int))] == lad["segment"][40]
    k, r, c = nearest_voxel(study_a.ccta, point_lps[None])
    assert tuple(index.astype(int)) == (int(k[0]), int(r[0]), int(c[0]))


def test_previews_are_written(written_a: Written) -> None:
    out, _ = written_a
    names = {p.name for p in (out / "preview").glob("*.png")}
    assert {"axial_ostia.png", "mip_tree_coronal.png", "coronal.png"} <= names


def _documented_keys() -> set[str]:
    """Keys in the first column of the tables of the ``truth.json`` section."""
    keys = set()
    section = DOCS.read_text().split("## `truth.json`", 1)[1].split("\n#", 1)[0]
    for line in section.splitlines():
        match = re.match(r"^\| `([a-z_][a-z0-9_.\[\]]*)` \|", line)
        if match:
            keys.add(match.group(1))
    return keys


def _key_paths(value: Any, prefix: str = "") -> set[str]:
    paths = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= _key_paths(sub, path)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for item in value:
            paths |= _key_paths(item, f"{prefix}[]")
    return paths


@pytest.mark.parametrize("name", ["study_a", "study_b"])
def test_truth_has_exactly_the_documented_keys(name: str, request: pytest.FixtureRequest) -> None:
    study: PhantomStudy = request.getfixturevalue(name)
    documented = _documented_keys()
    assert "lesions[].pct_diameter_stenosis" in documented  # the parser works
    found = _key_paths(study.truth)
    assert found <= documented, found - documented
    if study.truth["lesions"]:
        assert documented == found, documented - found
    for lesion in study.truth["lesions"]:
        assert lesion["plaque_type"] in ("calcified", "non-calcified", "mixed")
        assert set(lesion["high_risk_features"]) <= {
            "positive_remodelling",
            "low_attenuation",
            "spotty_calcification",
            "napkin_ring",
        }
    for vessel in study.truth["vessels"]:
        n = len(vessel["points_lps_mm"])
        assert len(vessel["radius_mm"]) == n == len(vessel["segment"])
        assert set(vessel["segment"]) <= set(range(1, 20))
