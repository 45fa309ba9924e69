"""Slice geometry: gaps, jitter, uneven spacing, gantry tilt, inconsistent slices."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from ccta_ai.errors import GeometryError, UnreadableFileError
from ccta_ai.imaging.geometry import affine_from_plane, plane_from_affine
from ccta_ai.imaging.loader import load_series
from ccta_ai.imaging.volume import Volume
from ct_samples import axial_affine, write_sample

SPACING_MM = 0.5  # axial_affine's slice spacing; slices run head → feet (z decreasing)
FIRST_Z_MM = 40.0


def _datasets(tmp_path: Path, **changes: object) -> tuple[Volume, list[Dataset]]:
    volume, paths = write_sample(tmp_path, **changes)
    return volume, [pydicom.dcmread(p) for p in paths]


def _move_z(ds: Dataset, delta_mm: float) -> None:
    x, y, z = (float(v) for v in ds.ImagePositionPatient)
    ds.ImagePositionPatient = [x, y, z + delta_mm]


@pytest.mark.parametrize(
    ("step_factor", "outcome"),
    [
        (1.0, "same"),
        (1.04, "same"),  # within 5 % of a spacing: used as is
        (1.3, "interpolated"),
        (1.49, "interpolated"),
        (1.51, "gap"),
        (2.0, "gap"),  # one missing slice
        (3.0, "gap"),  # two missing slices
        (0.6, "interpolated"),
        (0.45, "uneven"),
    ],
)
def test_one_irregular_step(tmp_path: Path, step_factor: float, outcome: str) -> None:
    """Steps 4→5 onward move by (factor - 1) x spacing; tolerance 0.5 x the median."""
    original, datasets = _datasets(tmp_path)
    for ds in datasets[5:]:
        _move_z(ds, -(step_factor - 1.0) * SPACING_MM)
    if outcome in ("gap", "uneven"):
        with pytest.raises(GeometryError) as caught:
            load_series(datasets)
        message = str(caught.value)
        step = step_factor * SPACING_MM
        assert f"{step:.3f} mm" in message and "median" in message
        z_mm = FIRST_Z_MM - 4 * SPACING_MM
        assert f"between dataset #4 at {z_mm:.3f} mm and dataset #5 at {z_mm - step:.3f}" in message
        assert "along the slice normal (LPS [-10, -12, 38] →" in message
        if outcome == "gap":
            missing = round(step_factor) - 1
            assert f"gap of {step:.3f} mm" in message
            assert f"about {missing} slice(s) are missing" in message
        return
    loaded = load_series(datasets)
    first_to_last = 7 * SPACING_MM + (step_factor - 1.0) * SPACING_MM
    np.testing.assert_allclose(loaded.spacing_mm[0], first_to_last / 7, atol=1e-6)
    if outcome == "same":
        np.testing.assert_array_equal(loaded.hu, original.hu)
    else:
        assert not np.array_equal(loaded.hu[3:7], original.hu[3:7])
        np.testing.assert_array_equal(loaded.hu[[0, 7]], original.hu[[0, 7]])


def test_a_wider_tolerance_accepts_a_missing_slice(tmp_path: Path) -> None:
    _, datasets = _datasets(tmp_path)
    del datasets[4]
    assert load_series(datasets, max_gap_fraction=1.1).shape[0] == 7


def test_slight_jitter_is_tolerated_without_resampling(tmp_path: Path) -> None:
    original, datasets = _datasets(tmp_path)
    rng = np.random.default_rng(5)
    for ds in datasets[1:-1]:
        _move_z(ds, rng.uniform(-0.04, 0.04) * SPACING_MM)
    loaded = load_series(datasets)
    np.testing.assert_array_equal(loaded.hu, original.hu)
    np.testing.assert_allclose(loaded.affine, original.affine, atol=1e-6)


def test_uneven_slices_are_interpolated_at_their_true_positions(tmp_path: Path) -> None:
    z_index = np.arange(8, dtype=np.float32)[:, None, None]
    ramp = Volume(np.broadcast_to(z_index * 100.0, (8, 32, 36)), axial_affine())
    _, paths = write_sample(tmp_path, ramp)
    datasets = [pydicom.dcmread(p) for p in paths]
    _move_z(datasets[3], -0.3 * SPACING_MM)  # slice 3 really lies at index 3.3
    loaded = load_series(datasets)
    # On the regular grid, index 3 lies between slice 2 (200 HU, index 2) and slice 3
    # (300 HU, true index 3.3): 200 + 100 x (1 / 1.3).
    np.testing.assert_allclose(loaded.hu[3], 200 + 100 / 1.3, rtol=1e-5)
    np.testing.assert_allclose(
        loaded.hu[[0, 1, 2, 4, 5, 6, 7]][:, 0, 0], [0, 100, 200, 400, 500, 600, 700]
    )


def _sheared_sphere(
    tilt_deg: float, centre_lps: np.ndarray, radius_mm: float
) -> tuple[Volume, np.ndarray]:
    """The images a tilted gantry takes of a sphere: slice k is displaced along the
    column direction by k x spacing x tan(tilt) (as ``write_ct_series`` places it)."""
    shape = (36, 48, 48)
    affine = axial_affine(spacing_mm=(1.0, 1.0, 1.0), origin_mm=(-24.0, -24.0, 18.0))
    k, r, c = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij")
    points = np.stack([k, r, c], axis=-1) @ affine[:3, :3].T + affine[:3, 3]
    points[..., 1] += k * 1.0 * np.tan(np.radians(tilt_deg))  # column direction is +y
    inside = np.linalg.norm(points - centre_lps, axis=-1) <= radius_mm
    return Volume(np.where(inside, 1000.0, 0.0), affine), affine


@pytest.mark.parametrize("tilt_deg", [-12.0, 15.0, 25.0])
def test_gantry_tilt_is_resampled_onto_an_orthogonal_grid(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tilt_deg: float
) -> None:
    centre = np.array([2.0, -3.0, 0.5])
    sheared, grid_affine = _sheared_sphere(tilt_deg, centre, radius_mm=7.0)
    write_sample(tmp_path, sheared, gantry_detector_tilt_deg=tilt_deg)
    caplog.set_level(logging.WARNING)
    loaded = load_series([tmp_path])
    np.testing.assert_allclose(loaded.affine, grid_affine, atol=1e-6)  # orthogonal
    bright = np.argwhere(loaded.hu > 500)
    found_centre = loaded.index_to_lps(bright.mean(axis=0))
    np.testing.assert_allclose(found_centre, centre, atol=0.25)
    # Without the resampling the sphere would be smeared along y by the shear.
    assert np.ptp(loaded.index_to_lps(bright)[:, 1]) <= 14.0 + 1e-6
    assert any(f"{abs(tilt_deg):.2f} degrees" in r.message for r in caplog.records)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("rows", r"Rows x Columns: 32x36 \(5 slices\), 30x36 \(3 slices\)"),
        ("orientation", r"Image Orientation \(Patient\).*\[1, 0, 0, 0, 0.9998, 0.01745\]"),
        ("spacing", r"Pixel Spacing.*\[0.41, 0.4\] mm"),
    ],
)
def test_inconsistent_slices_are_refused(tmp_path: Path, change: str, expected: str) -> None:
    _, datasets = _datasets(tmp_path)
    for ds in datasets[5:]:
        if change == "rows":
            ds.Rows = 30
        elif change == "orientation":
            angle = np.radians(1.0)
            ds.ImageOrientationPatient = [1, 0, 0, 0, np.cos(angle), np.sin(angle)]
        else:
            ds.PixelSpacing = [0.41, 0.4]
    with pytest.raises(GeometryError, match=expected):
        load_series(datasets)


@pytest.mark.parametrize(
    ("slices", "min_slices", "ok"), [(2, 3, False), (3, 3, True), (1, 2, False)]
)
def test_too_few_slices(tmp_path: Path, slices: int, min_slices: int, ok: bool) -> None:
    _, datasets = _datasets(tmp_path)
    if ok:
        assert load_series(datasets[:slices], min_slices=min_slices).shape[0] == slices
        return
    with pytest.raises(GeometryError, match=f"only {slices} slice.*at least {min_slices}"):
        load_series(datasets[:slices], min_slices=min_slices)


def test_non_numeric_position_is_a_geometry_error_naming_the_value(tmp_path: Path) -> None:
    _, datasets = _datasets(tmp_path)
    datasets[2].ImagePositionPatient = [1.0, 2.0]
    with pytest.raises(GeometryError, match=r"ImagePositionPatient must be 3 finite numbers"):
        load_series(datasets)


def test_enhanced_ct_frame_without_a_position_is_named(tmp_path: Path) -> None:
    _, paths = write_sample(tmp_path, multiframe=True)
    ds = pydicom.dcmread(paths[0])
    del ds.PerFrameFunctionalGroupsSequence[5].PlanePositionSequence
    ds.save_as(paths[0])
    with pytest.raises(UnreadableFileError, match=r"ECT0003.dcm frame 6: ImagePositionPatient"):
        load_series(paths)


def test_plane_geometry_round_trips_an_oblique_affine() -> None:
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))[0]
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.45, 0.3])
    affine[:3, 3] = (5.0, -7.0, 11.0)
    plane = plane_from_affine(affine)
    assert plane.pixel_spacing_mm == pytest.approx([0.45, 0.3])
    np.testing.assert_allclose(affine_from_plane(plane, affine[:3, 3], affine[:3, 0]), affine)
    np.testing.assert_allclose(abs(plane.normal @ rotation[:, 0]), 1.0)
