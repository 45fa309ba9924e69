"""Lumen cross-sections: known radii, and calcium that narrows the lumen instead of widening it."""

from __future__ import annotations

import numpy as np
from analysis_phantom import (
    AXIAL,
    LUMEN_HU,
    OBLIQUE_FEET_FIRST,
    Tube,
    circle_overlap_area,
    line,
    profile_values,
    render,
    unit,
)

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.geometry import perpendicular_unit, rotation_minimizing_frames
from ccta_ai.analysis.lumen import measure_lumen, sample_cross_sections, section_grid
from ccta_ai.imaging.volume import Volume


def test_cross_sections_are_orthogonal_to_the_vessel() -> None:
    direction = unit([0.3, -0.5, 0.8])
    axis = line(-10 * direction, 10 * direction)
    volume, _ = render([Tube(axis, np.full(len(axis), 1.5))], OBLIQUE_FEET_FIRST, noise_hu=0.0)
    points = line(-5 * direction, 5 * direction, 1.0)
    _, u, v = rotation_minimizing_frames(points)
    offsets = section_grid(3.0, 0.1)
    sections = sample_cross_sections(volume, points, u, v, offsets)
    radial = np.hypot(*np.meshgrid(offsets, offsets, indexing="ij"))
    for section in sections:  # rotationally symmetric: bright inside 1 mm, dark beyond 2.2 mm
        assert section[radial < 1.0].min() > 300.0
        assert section[radial > 2.2].max() < 0.0


def test_radius_of_tubes_is_measured_within_a_tenth_of_a_millimetre() -> None:
    for radius_mm, steps in ((1.0, AXIAL), (1.6, OBLIQUE_FEET_FIRST), (2.2, OBLIQUE_FEET_FIRST)):
        direction = unit([0.3, -0.5, 0.8])
        axis = line(-15 * direction, 15 * direction)
        volume, _ = render([Tube(axis, np.full(len(axis), radius_mm))], steps, seed=2)
        points = line(-10 * direction, 10 * direction, 0.5)
        measured = measure_lumen(volume, points, np.full(len(points), radius_mm))
        assert measured.valid.all()
        error = measured.equivalent_diameter_mm / 2.0 - radius_mm
        assert np.abs(error).max() < 0.15, (radius_mm, error)
        assert abs(float(np.median(error))) < 0.08
        assert np.abs(measured.min_diameter_mm - 2 * radius_mm).max() < 0.3
        assert np.abs(measured.max_diameter_mm - 2 * radius_mm).max() < 0.3
        assert np.all(measured.calcium_area_mm2 == 0.0)


def _tube_with_calcium(
    radius_mm: float,
    calcium_radius_mm: float,
    offset_mm: float,
    half_length_mm: float,
    plaque_half_mm: float,
    seed: int,
) -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A straight oblique tube with a calcium capsule ``offset_mm`` off its axis at its
    middle; returns the volume, the lumen mask, the axis, its centre and direction."""
    direction = unit([0.0, 0.3, 1.0])
    centre = np.array([0.0, 0.0, 40.0])
    axis = line(centre - half_length_mm * direction, centre + half_length_mm * direction)
    plaque_centre = centre + offset_mm * perpendicular_unit(direction)
    plaque = (
        plaque_centre - plaque_half_mm * direction,
        plaque_centre + plaque_half_mm * direction,
        calcium_radius_mm,
    )
    tube = Tube(axis, np.full(len(axis), radius_mm))
    volume, mask = render([tube], AXIAL, calcium=[plaque], seed=seed)
    return volume, mask, axis, centre, direction


def test_eccentric_calcified_plaque_narrows_the_lumen() -> None:
    radius_mm, calcium_radius_mm, offset_mm = 1.75, 1.5, 1.3
    volume, mask, axis, centre, _ = _tube_with_calcium(
        radius_mm, calcium_radius_mm, offset_mm, half_length_mm=20.0, plaque_half_mm=2.0, seed=3
    )
    vessel_area = np.pi * radius_mm**2
    lumen_area = vessel_area - circle_overlap_area(radius_mm, calcium_radius_mm, offset_mm)
    true_area_stenosis = 100.0 * (1.0 - lumen_area / vessel_area)  # 43 %

    result = analyse_coronaries(volume, mask, ostia_lps_mm=axis[:1])
    (vessel,) = result.vessels
    assert vessel.profile is not None
    area = profile_values(vessel.profile.area_mm2)
    calcium = profile_values(vessel.profile.calcium_area_mm2)
    (lesion,) = result.lesions
    assert np.linalg.norm(np.array(lesion.mld_position_lps_mm) - centre) < 3.0
    assert abs(lesion.pct_area_stenosis - true_area_stenosis) < 10.0
    assert lesion.mla_mm2 < lumen_area + 0.5  # calcium is not lumen
    assert abs(lesion.reference_diameter_mm - 2 * radius_mm) < 0.2
    at_plaque = np.abs(np.array(vessel.profile.s_mm) - lesion.mld_s_mm) < 1.0
    assert np.nanmin(calcium[at_plaque]) > 3.0
    assert np.nanmax(area[at_plaque]) < lumen_area + 1.0
    away = np.abs(np.array(vessel.profile.s_mm) - lesion.mld_s_mm) > 8.0
    assert np.nanmax(calcium[away]) == 0.0


def test_a_long_calcified_plaque_does_not_raise_the_lumen_hu() -> None:
    """Calcium blooming into a narrowed lumen is not lumen: over a plaque nearly as
    long as the lumen-HU window, the lumen HU stays the contrast's and the calcium is
    found (taken as lumen HU, calcium's own brightness would hide it)."""
    radius_mm = 1.5
    volume, _, axis, centre, direction = _tube_with_calcium(
        radius_mm, 1.5, 1.0, half_length_mm=30.0, plaque_half_mm=8.0, seed=5
    )
    points = axis[(axis - centre) @ direction > -25]
    measured = measure_lumen(volume, points, np.full(len(points), radius_mm))
    along = (points - centre) @ direction
    at_plaque = np.abs(along) < 5.0
    assert np.nanmax(np.abs(measured.lumen_hu[at_plaque] - LUMEN_HU)) < 60.0
    assert np.nanmin(measured.calcium_area_mm2[at_plaque]) > 1.0
    healthy = np.abs(along) > 15.0
    assert np.nanmax(measured.calcium_area_mm2[healthy]) == 0.0
    narrowed = np.nanmedian(measured.area_mm2[at_plaque])
    assert narrowed < 0.7 * np.nanmedian(measured.area_mm2[healthy])
