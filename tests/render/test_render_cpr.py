"""CPR geometry with known answers: tubes of known radius on oblique grids."""

from __future__ import annotations

import numpy as np
import pytest
from render_tubes import (
    HALF_HU,
    arc_length,
    helix,
    line,
    resample,
    tube_findings,
    tube_volume,
)

from ccta_ai.render.cpr import straightened_cpr, stretched_cpr
from ccta_ai.render.cross_section import orthogonal_plane
from ccta_ai.render.path import rotation_minimising_frame, vessel_path

RADIUS_MM = 1.5


def _band(hu: np.ndarray, pixel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Width (mm) and centre column of the bright band in each row."""
    bright = hu > HALF_HU
    columns = np.arange(hu.shape[1])
    width = bright.sum(axis=1) * pixel_mm
    centre = (bright * columns).sum(axis=1) / np.maximum(bright.sum(axis=1), 1)
    return width, centre


@pytest.fixture(scope="module")
def straight() -> tuple:
    points = line([-10.0, 5.0, 20.0], [15.0, -8.0, -5.0])
    radius = np.full(len(points), RADIUS_MM)
    return tube_volume(points, radius), tube_findings(points, radius)


@pytest.mark.parametrize("angle_deg", [0.0, 45.0, 90.0, 135.0])
def test_straightened_tube_is_a_centred_band_of_its_diameter(straight: tuple, angle_deg: float
                                                             ) -> None:
    volume, findings = straight
    path = vessel_path(findings, findings.vessels[0], step_mm=0.1)
    cpr = straightened_cpr(volume, path, angle_deg, half_width_mm=6.0, pixel_mm=0.1)
    length = arc_length(np.asarray(findings.vessels[0].centerline.points_lps_mm))[-1]
    assert abs(cpr.hu.shape[0] * 0.1 - length) < 0.2
    assert cpr.hu.shape[1] == 121
    width, centre = _band(cpr.hu[20:-20], 0.1)  # ends: the tube's caps
    assert np.all(np.abs(width - 2 * RADIUS_MM) < 0.35)
    assert np.all(np.abs(centre - 60.0) < 2.0)  # within 0.2 mm of the middle column
    outside = np.concatenate([cpr.hu[20:-20, :30], cpr.hu[20:-20, -30:]])
    assert outside.max() < HALF_HU


def test_helical_tube_stays_centred_and_untwisted() -> None:
    points = helix(radius_mm=9.0, pitch_mm=25.0, turns=1.2)
    radius = np.full(len(points), 1.2)
    findings = tube_findings(points, radius)
    volume = tube_volume(points, radius)
    path = vessel_path(findings, findings.vessels[0], step_mm=0.1)
    cpr = straightened_cpr(volume, path, 0.0, half_width_mm=5.0, pixel_mm=0.1)
    width, centre = _band(cpr.hu[20:-20], 0.1)
    assert np.all(np.abs(width - 2.4) < 0.4)
    assert np.all(np.abs(centre - 50.0) < 2.5)
    # the frame is orthonormal everywhere
    tangents, normals, binormals = rotation_minimising_frame(path.points_lps_mm)
    assert np.allclose(np.einsum("ij,ij->i", tangents, normals), 0.0, atol=1e-6)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert np.allclose(np.linalg.norm(binormals, axis=1), 1.0)


def test_frame_of_a_straight_line_does_not_rotate() -> None:
    points = line([0.0, 0.0, 0.0], [3.0, 4.0, 12.0], step_mm=0.5)
    _, normals, _ = rotation_minimising_frame(points)
    assert np.allclose(normals, normals[0], atol=1e-9)
    # a vessel running head-feet is seen from the front at 0°: first normal anterior (-y)
    _, normals, _ = rotation_minimising_frame(line([0.0, 0.0, 0.0], [0.0, 0.0, -20.0]))
    assert np.allclose(normals[0], [0.0, -1.0, 0.0])


def test_narrowing_shows_where_it_is() -> None:
    points = line([-12.0, 0.0, 10.0], [12.0, 6.0, -10.0])
    s = arc_length(points)
    centre_mm = 18.0
    radius = RADIUS_MM * (1.0 - 0.6 * np.exp(-(((s - centre_mm) / 1.5) ** 2)))
    findings = tube_findings(points, radius)
    volume = tube_volume(points, radius)
    path = vessel_path(findings, findings.vessels[0], step_mm=0.1)
    for cpr in (straightened_cpr(volume, path, 45.0, 6.0, 0.1),
                stretched_cpr(volume, path, 0.0, 6.0, 0.1)):
        width, _ = _band(cpr.hu, 0.1)
        inner = slice(20, len(width) - 20)
        narrowest = inner.start + int(np.argmin(width[inner]))
        assert abs(cpr.row_s_mm[narrowest] - centre_mm) < 1.0, cpr.kind
        assert abs(cpr.row_of(centre_mm) - narrowest) <= 10
        assert width[narrowest] < 0.6 * 2 * RADIUS_MM
        assert np.median(width[inner]) > 0.85 * 2 * RADIUS_MM


def test_stretched_cpr_keeps_the_path_and_its_curvature() -> None:
    angle = np.linspace(0.0, np.pi / 2, 2000)
    arc = np.stack([20.0 * np.cos(angle), 20.0 * np.sin(angle), 3.0 * angle], axis=1)
    points = resample(arc, 0.1)  # a quarter circle rising 4.7 mm
    radius = np.full(len(points), RADIUS_MM)
    findings = tube_findings(points, radius)
    volume = tube_volume(points, radius)
    path = vessel_path(findings, findings.vessels[0], step_mm=0.1)
    cpr = stretched_cpr(volume, path, 0.0, margin_mm=5.0, pixel_mm=0.1)
    width, centre = _band(cpr.hu[20:-20], 0.1)
    assert np.all(np.abs(centre - cpr.centre_column[20:-20]) < 2.5)
    # a row cuts the tube at the angle of the path in the image: wider by 1 / cos
    slope = np.gradient(cpr.centre_column)[20:-20]
    assert np.all(np.abs(width - 2 * RADIUS_MM * np.sqrt(1.0 + slope**2)) < 0.35)
    drift_mm = (cpr.centre_column.max() - cpr.centre_column.min()) * 0.1
    assert drift_mm > 3.0  # the arc bends in the image, unlike a straightened CPR
    assert np.all(np.diff(cpr.row_s_mm) >= 0)  # rows run proximal to distal


def test_cross_section_is_a_disc_of_the_lumen(straight: tuple) -> None:
    volume, findings = straight
    path = vessel_path(findings, findings.vessels[0], step_mm=0.1)
    plane = orthogonal_plane(volume, path, 15.0, half_width_mm=4.0, pixel_mm=0.05)
    area_mm2 = float((plane > HALF_HU).sum()) * 0.05**2
    assert abs(area_mm2 - np.pi * RADIUS_MM**2) < 0.15 * np.pi * RADIUS_MM**2
    rows, cols = np.nonzero(plane > HALF_HU)
    assert abs(rows.mean() - 80) < 3 and abs(cols.mean() - 80) < 3
