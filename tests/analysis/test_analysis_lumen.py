"""Lumen cross-sections: known radii, and calcium that narrows the lumen instead of widening it."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
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
from plaque_phantom import AXIS, START, PlaqueTube, render_plaque_tube
from scipy import ndimage

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.geometry import perpendicular_unit, rotation_minimizing_frames
from ccta_ai.analysis.lumen import (
    lumen_region,
    measure_lumen,
    sample_cross_sections,
    section_grid,
    vessel_lumen_hu,
)
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


def test_lumen_hu_of_a_tapering_vessel_leaves_out_its_calcified_plaques() -> None:
    """A vessel whose centres fade from 350 to 200 HU as it tapers (partial volume),
    with three calcified plaques over a third of its length: the lumen HU at each
    plaque stays that of the lumen around it. (The taper alone makes the centres'
    spread wide enough that a vessel-wide outlier rule keeps the calcium.)"""
    rng = np.random.default_rng(3)
    count = 300  # 150 mm at 0.5 mm
    expected = np.linspace(350.0, 200.0, count)
    central = expected + rng.normal(0.0, 20.0, count)
    plaques = [(20, 40), (120, 170), (220, 250)]
    for start, stop in plaques:
        edge = np.clip(np.minimum(np.arange(count) - start + 3, stop + 3 - np.arange(count)), 0, 6)
        central += edge / 6.0 * rng.uniform(450.0, 750.0, count)  # calcium, blurred edges
    lumen = vessel_lumen_hu(central, np.ones(count, dtype=bool), 40, 75.0, 50.0, margin=4)
    for start, stop in plaques:
        assert np.abs(lumen[start:stop] - expected[start:stop]).max() < 60.0


def test_lumen_hu_at_a_calcified_vessel_end_is_the_blood_around_it() -> None:
    """A calcified plaque in a vessel's last 6 mm (where a traced centreline ends at
    an occlusion): the running median must not repeat the end's calcium to fill its
    window, or the calcium becomes the lumen HU there and hides itself."""
    rng = np.random.default_rng(5)
    count = 260  # 130 mm at 0.5 mm
    expected = np.linspace(420.0, 300.0, count)
    central = expected + rng.normal(0.0, 15.0, count)
    central[-12:] += rng.uniform(300.0, 400.0, 12)  # calcium up to the end
    lumen = vessel_lumen_hu(central, np.ones(count, dtype=bool), 40, 75.0, 50.0, margin=4)
    assert np.abs(lumen[-12:] - expected[-12:]).max() < 60.0


def _bloom_section(
    calcium_at_mm: float, lumen_at_mm: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """A 6 mm section (0.15 mm pixels) of fat with a 1.4 mm calcium nodule at 1300 HU
    blurred by 1.2 mm FWHM blooming, and optionally a 1.6 mm lumen at 350 HU."""
    offsets = section_grid(3.0, 0.15)
    v, u = np.meshgrid(offsets, offsets, indexing="ij")
    radial = np.hypot(u, v)
    calcium = np.hypot(u - calcium_at_mm, v) <= 0.7
    image = np.full(radial.shape, -90.0)
    if lumen_at_mm is not None:
        image[np.hypot(u - lumen_at_mm, v) <= 0.8] = 350.0
    image = ndimage.gaussian_filter(image, 0.25 / 0.15)
    image += ndimage.gaussian_filter(calcium * 1390.0, 0.51 / 0.15)
    return image, radial


def _region(image: np.ndarray, radial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return lumen_region(
        image, radial, threshold_hu=130.0, calcium_hu=500.0, limit_mm=2.8, search_mm=0.6,
        halo_pixels=1, clear_pixels=0.75 / 0.15, viewpoint_mm=2.0,
    )  # fmt: skip


def test_calcium_blooming_around_the_centre_is_not_lumen() -> None:
    """A centreline drawn through a calcium nodule with no lumen to be seen: the ring
    of blooming around the calcium (lumen-bright) is not taken for lumen."""
    image, radial = _bloom_section(0.0, None)
    region, calcium = _region(image, radial)
    assert calcium.any() and not region.any()
    assert ((image > 130.0) & (image <= 500.0)).sum() * 0.15**2 > 1.0  # the ring is there


def test_lumen_beside_calcium_is_found_from_a_centre_in_the_calcium() -> None:
    """The same nodule with a 1.6 mm lumen 1.5 mm beside it: measured from the
    calcium, the lumen is found (area within a third of the truth), not the bloom."""
    image, radial = _bloom_section(0.0, 1.5)
    region, _ = _region(image, radial)
    area = region.sum() * 0.15**2
    assert abs(area - np.pi * 0.8**2) < np.pi * 0.8**2 / 3
    _, u = np.indices(region.shape)
    middle = region.shape[0] // 2
    assert (u[region] - middle).mean() * 0.15 > 1.0  # on the lumen's side


@pytest.mark.parametrize(
    ("radius_mm", "stenosis", "tolerance_mm"),
    [(1.6, 0.6, 0.12), (1.0, 0.65, 0.12), (1.0, 0.0, 0.12), (1.6, 0.0, 0.15)],
)
def test_a_lumen_narrowed_by_soft_plaque_is_measured_against_the_plaque(
    radius_mm: float, stenosis: float, tolerance_mm: float
) -> None:
    """A concentric non-calcified plaque (60 HU) narrows a tube in fat, blurred by a
    0.6 mm FWHM point spread. The lumen edge lies against the plaque, not the fat: its
    threshold is half-way to the plaque, and a lumen narrower than the blur (0.7 mm)
    is measured from the contrast it adds, not from a half-maximum contour that takes
    in the plaque (1.6-1.9 mm, as measured against the fat). Healthy tubes keep their
    size."""
    tube = PlaqueTube(radius_mm=radius_mm, stenosis=stenosis, length_mm=30.0)
    volume, _, _ = render_plaque_tube(tube)
    along = np.arange(3.0, 27.0, 0.5)
    measured = measure_lumen(volume, START + along[:, None] * AXIS, np.full(len(along), radius_mm))
    at_lesion = np.abs(along - tube.lesion_at_mm) <= 1.0
    expected = 2.0 * radius_mm * (1.0 - stenosis)
    diameters = measured.equivalent_diameter_mm[at_lesion]
    assert np.abs(diameters - expected).max() < tolerance_mm


def test_a_narrow_lumen_in_a_tapering_vessel_is_measured_against_the_blood() -> None:
    """A vessel tapering from 1.6 to 0.65 mm radius under a 1.2 mm FWHM blur, with a
    55 % soft-plaque stenosis near its thin end (0.71-0.74 mm lumen). Partial volume
    lowers the lumen HU of the thin end well below the blood's, so a lumen judged
    against that local HU looked wider than the blur and was measured from its
    half-maximum contour, taking in plaque (0.17-0.25 mm too wide); judged and summed
    against the blood HU, it reads within 0.15 mm."""
    tube = PlaqueTube(
        radius_mm=1.6, end_radius_mm=0.65, length_mm=50.0, lesion_at_mm=42.0,
        stenosis=0.55, blur_fwhm_mm=1.2, lumen_hu=350.0,
    )  # fmt: skip
    volume, _, _ = render_plaque_tube(tube)
    along = np.arange(3.0, 47.0, 0.5)
    radius = 1.6 + (0.65 - 1.6) * along / 50.0
    measured = measure_lumen(volume, START + along[:, None] * AXIS, radius)
    at_lesion = np.abs(along - tube.lesion_at_mm) <= 1.0
    blood = float(np.nanmax(measured.lumen_hu))
    assert np.all(measured.lumen_hu[at_lesion] < 0.8 * blood)  # the premise: partial volume
    expected = 2.0 * radius[at_lesion] * (1.0 - tube.stenosis)
    diameters = measured.equivalent_diameter_mm[at_lesion]
    assert np.abs(diameters - expected).max() < 0.15, (diameters, expected)


def _tube_in_surroundings(radius_mm: float, surroundings: str) -> tuple[Volume, np.ndarray]:
    """A straight tube (lumen 260 HU, low enhancement) along the volume's slices, in fat
    (-100 HU) beside a band of myocardium (120 HU, brighter than the lumen's half-way
    threshold to fat) 0.2 mm from its lumen (``"band"``), or in a 0.8 mm ring of fat
    inside myocardium (``"ring"``); 0.7 mm FWHM blur, 15 HU noise. Returns the volume
    and the axis points."""
    spacing, size, slices = 0.4, 64, 60
    across = (np.arange(size) - size / 2 + 0.5) * spacing
    y, x = np.meshgrid(across, across, indexing="ij")
    hu = np.zeros((size, size))
    for dy, dx in itertools.product((-0.1, 0.1), repeat=2):  # 2x2 supersampling
        yy, xx = y + dy, x + dx
        r = np.hypot(yy, xx)
        if surroundings == "band":
            tissue = (xx > radius_mm + 0.2) & (np.abs(yy) < 1.5)
        else:
            tissue = r >= radius_mm + 0.8
        hu += np.where(r < radius_mm, 260.0, np.where(tissue, 120.0, -100.0)) / 4.0
    image = ndimage.gaussian_filter(np.repeat(hu[None], slices, axis=0), 0.7 / 2.355 / spacing)
    noise = ndimage.gaussian_filter(np.random.default_rng(1).normal(0.0, 1.0, image.shape), 1.0)
    image += noise * (15.0 / float(noise.std()))
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0.0, 0.0, spacing], [0.0, spacing, 0.0], [spacing, 0.0, 0.0]])
    affine[:3, 3] = [across[0], across[0], 0.0]
    axis = np.stack([np.zeros(40), np.zeros(40), 4.0 + 0.4 * np.arange(40)], axis=1)
    return Volume(image.astype(np.float32), affine), axis


@pytest.mark.parametrize("radius_mm", [0.8, 1.4])
def test_a_lumen_beside_myocardium_does_not_run_into_it(radius_mm: float) -> None:
    """Myocardium brighter than the lumen's threshold, 0.2 mm from a weakly enhanced
    lumen: the lumen region ran into it (1.6 mm lumens read 2.5 mm, 2.8 mm ones 3.4)
    and a normal vessel beside a bulge read as a stenosis against the bulge. Cut off
    beyond its core's blur, the lumen reads within 0.15 mm."""
    volume, axis = _tube_in_surroundings(radius_mm, "band")
    measured = measure_lumen(volume, axis, np.full(len(axis), radius_mm))
    diameters = measured.equivalent_diameter_mm
    assert abs(float(np.median(diameters)) - 2.0 * radius_mm) < 0.15
    assert diameters.max() < 2.0 * radius_mm + 0.15


@pytest.mark.parametrize("radius_mm", [0.8, 1.4])
def test_a_lumen_in_a_ring_of_fat_is_measured_against_the_fat(radius_mm: float) -> None:
    """A vessel in its ring of fat inside myocardium: the surroundings' median HU is the
    myocardium's, and a threshold half-way to it cut the lumen short (1.6 mm read 1.0,
    2.8 mm read 2.1). The threshold moves to half-way to the wall the lumen touches,
    down as well as up: within 0.35 mm (the fat ring is thinner than the wall ring
    read, so some of the myocardium still raises it)."""
    volume, axis = _tube_in_surroundings(radius_mm, "ring")
    measured = measure_lumen(volume, axis, np.full(len(axis), radius_mm))
    assert abs(float(np.median(measured.equivalent_diameter_mm)) - 2.0 * radius_mm) < 0.35
