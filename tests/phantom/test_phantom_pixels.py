"""The phantom's truth agrees with its pixels: centrelines in bright lumen with the
right segment label, stenoses as narrowings of the stated size, plaque where stated."""

from __future__ import annotations

import numpy as np
import pytest
from phantom_measure import lumen_area_mm2, nearest_voxel, sample

from ccta_ai.phantom.geometry import cumulative_length, tangents
from ccta_ai.phantom.labels import Anatomy
from ccta_ai.phantom.study import PhantomStudy

STUDIES = ["study_a", "study_b"]
DARK = [
    Anatomy.EPICARDIAL_FAT,
    Anatomy.LV_MYOCARDIUM,
    Anatomy.RV_MYOCARDIUM,
    Anatomy.MEDIASTINAL_FAT,
    Anatomy.PERICARDIUM,
]


def _vessel(study: PhantomStudy, name: str) -> dict:
    return next(v for v in study.truth["vessels"] if v["name"] == name)


def _origins(study: PhantomStudy) -> np.ndarray:
    return np.array([v["points_lps_mm"][0] for v in study.truth["vessels"]])


@pytest.mark.parametrize("name", STUDIES)
def test_centreline_points_sit_in_bright_lumen(name: str, request: pytest.FixtureRequest) -> None:
    study: PhantomStudy = request.getfixturevalue(name)
    contrast_hu = study.truth["image"]["contrast_hu"]
    checked = 0
    for vessel in study.truth["vessels"]:
        points = np.array(vessel["points_lps_mm"])
        radius = np.array(vessel["radius_mm"])
        wide = radius >= 0.75  # 1.5 mm lumen: the smallest vessel SCCT grades
        if wide.sum() < 5:
            continue
        hu = sample(study.ccta.hu, study.ccta.affine, points[wide])
        assert np.median(hu) > 0.65 * contrast_hu, vessel["name"]
        assert np.percentile(hu, 5) > 0.45 * contrast_hu, vessel["name"]
        # 3 mm beyond the lumen, sideways, where that is fat or myocardium: far darker.
        side = np.cross(tangents(points), [0.0, 0.0, 1.0])
        side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-6)
        outside = (points + side * (radius + 3.0)[:, None])[wide]
        tissue = np.isin(study.anatomy_labels[nearest_voxel(study.ccta, outside)], DARK)
        if tissue.sum() >= 5:
            hu_out = sample(study.ccta.hu, study.ccta.affine, outside[tissue])
            assert np.median(hu) - np.median(hu_out) > 0.4 * contrast_hu, vessel["name"]
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("name", STUDIES)
def test_lumen_labels_at_centreline_points_equal_their_segment(
    name: str, request: pytest.FixtureRequest
) -> None:
    study: PhantomStudy = request.getfixturevalue(name)
    origins = _origins(study)
    for vessel in study.truth["vessels"]:
        points = np.array(vessel["points_lps_mm"])
        segment = np.array(vessel["segment"])
        radius = np.array(vessel["radius_mm"])
        # Away from branch origins (where two lumens merge) and from narrowings.
        near_origin = np.min(np.linalg.norm(points[:, None] - origins[None], axis=2), axis=1) < 3.5
        keep = (radius >= 0.75) & ~near_origin
        if keep.sum() < 5:
            continue
        labels = study.lumen_labels[nearest_voxel(study.ccta, points[keep])]
        agree = np.mean(labels == segment[keep])
        assert agree >= 0.93, (vessel["name"], agree, np.unique(labels))
    # Every SCCT segment named in the truth is present in the label map, and vice versa.
    in_truth = {s for v in study.truth["vessels"] for s in v["segment"]}
    in_map = set(np.unique(study.lumen_labels).tolist()) - {0}
    assert in_map == in_truth


@pytest.mark.parametrize("name", STUDIES)
def test_stenosis_shows_as_a_narrowing_of_the_stated_size(
    name: str, request: pytest.FixtureRequest
) -> None:
    study: PhantomStudy = request.getfixturevalue(name)
    lesions = study.truth["lesions"]
    assert lesions
    for lesion in lesions:
        vessel = _vessel(study, lesion["vessel"])
        points = np.array(vessel["points_lps_mm"])
        tan = tangents(points)
        s = cumulative_length(points)
        j = int(np.argmin(np.linalg.norm(points - lesion["mld_lps_mm"], axis=1)))
        reach = lesion["reference_diameter_mm"] + 2.0

        def diameter(
            k: int, points: np.ndarray = points, tan: np.ndarray = tan, reach: float = reach
        ) -> float:
            area = lumen_area_mm2(study.lumen_labels, study.ccta.affine, points[k], tan[k], reach)
            return 2.0 * float(np.sqrt(area / np.pi))

        core = [k for k in range(j - 3, j + 4) if 0 <= k < len(points)]
        measured_mld = float(np.mean([diameter(k) for k in core]))
        if lesion["occlusion"]:
            assert measured_mld == 0.0, lesion
            continue
        pct = 100.0 * (1.0 - measured_mld / lesion["reference_diameter_mm"])
        assert abs(pct - lesion["pct_diameter_stenosis"]) <= 14.0, (lesion, measured_mld)
        assert abs(measured_mld - lesion["mld_mm"]) <= 0.45, (lesion, measured_mld)
        # Beyond the lesion the lumen widens again.
        beyond = int(np.searchsorted(s, s[j] + 0.5 * lesion["length_mm"] + 3.0))
        if lesion["pct_diameter_stenosis"] >= 40.0 and beyond < len(points) - 3:
            assert diameter(beyond) > measured_mld * 1.3, lesion


@pytest.mark.parametrize("name", STUDIES)
def test_plaque_composition_matches_truth(name: str, request: pytest.FixtureRequest) -> None:
    study: PhantomStudy = request.getfixturevalue(name)
    for lesion in study.truth["lesions"]:
        kind = lesion["plaque_type"]
        calcified = lesion["calcified_volume_mm3"]
        soft = lesion["non_calcified_volume_mm3"]
        assert (calcified > 0) == (kind in ("calcified", "mixed")), lesion
        assert (soft > 0) == (kind in ("non-calcified", "mixed")), lesion
        assert (lesion["low_attenuation_volume_mm3"] > 0) == (
            "low_attenuation" in lesion["high_risk_features"]
        ), lesion
        centre = np.array(lesion["center_lps_mm"])
        k, r, c = nearest_voxel(study.ccta, centre[None])
        box = tuple(slice(max(int(i[0]) - 8, 0), int(i[0]) + 9) for i in (k, r, c))
        peak_hu = float(study.ccta.hu[box].max())
        if kind == "calcified" and calcified > 2.0:
            assert peak_hu > 500.0, lesion  # bloomed calcium is bright
        labels = study.anatomy_labels[box]
        if calcified > 0:
            assert np.any(labels == Anatomy.PLAQUE_CALCIFIED), lesion


def test_calcium_series_shows_calcium_and_no_contrast(study_a: PhantomStudy) -> None:
    aorta = Anatomy.AORTA
    labels = study_a.anatomy_labels
    hu_plain = sample(
        study_a.calcium.hu,
        study_a.calcium.affine,
        study_a.ccta.index_to_lps(np.argwhere(labels == aorta)[::500]),
    )
    assert 0.0 < np.median(hu_plain) < 80.0  # unenhanced blood
    calcified = [les for les in study_a.truth["lesions"] if les["calcified_volume_mm3"] > 5.0]
    assert calcified
    for lesion in calcified:
        centre = np.array(lesion["center_lps_mm"])
        k, r, c = nearest_voxel(study_a.calcium, centre[None])
        box = (
            slice(max(int(k[0]) - 1, 0), int(k[0]) + 2),
            slice(int(r[0]) - 8, int(r[0]) + 9),
            slice(int(c[0]) - 8, int(c[0]) + 9),
        )
        assert study_a.calcium.hu[box].max() > 130.0  # Agatston threshold
