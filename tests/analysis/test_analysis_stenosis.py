"""Find: reference diameter and lesions, on profiles and on tubes with known narrowings."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_phantom import (
    AXIAL,
    OBLIQUE_FEET_FIRST,
    Tube,
    arc_length,
    line,
    plateau_bump,
    profile_values,
    render,
    unit,
)

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.stenosis import LesionSpan, find_lesions, reference_diameter

S_MM = np.arange(0.0, 80.0, 0.5)
TAPER_MM = 4.0 - 1.5 * S_MM / 80.0  # 4.0 mm tapering to 2.5 mm


def _noisy(values: np.ndarray, seed: int = 0, sd: float = 0.04) -> np.ndarray:
    return values + np.random.default_rng(seed).normal(0.0, sd, len(values))


def test_reference_follows_tapering_and_ignores_the_lesion() -> None:
    diameter = _noisy(TAPER_MM * (1.0 - 0.6 * plateau_bump(S_MM, 40.0, 2.0, 3.0)))
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    assert np.abs(reference - TAPER_MM).max() < 0.12
    (lesion,) = find_lesions(S_MM, diameter, np.pi * diameter**2 / 4, reference, usable)
    assert abs(lesion.pct_diameter_stenosis - 60.0) < 4.0
    assert abs(lesion.pct_area_stenosis - 84.0) < 4.0
    assert abs(S_MM[lesion.mld_index] - 40.0) <= 1.0
    assert 2.0 + 2 * 1.5 <= lesion.length_mm <= 2.0 + 2 * 3.0
    assert not lesion.occlusion


def test_healthy_tapering_vessel_and_a_fading_distal_end_have_no_lesions() -> None:
    diameter = _noisy(TAPER_MM, seed=1)
    diameter[S_MM > 74.0] *= np.linspace(1.0, 0.3, int((S_MM > 74.0).sum()))  # fades out
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    assert find_lesions(S_MM, diameter, np.pi * diameter**2 / 4, reference, usable) == []


def test_narrowing_at_a_free_start_is_an_end_cap_but_at_an_ostium_a_lesion() -> None:
    diameter = _noisy(TAPER_MM, seed=4)
    diameter[:6] *= np.linspace(0.4, 1.0, 6)  # the first 3 mm are narrow
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    area = np.pi * diameter**2 / 4
    (ostial,) = find_lesions(S_MM, diameter, area, reference, usable, starts_at_ostium=True)
    assert ostial.start == 0 and ostial.pct_diameter_stenosis > 50.0
    assert find_lesions(S_MM, diameter, area, reference, usable, starts_at_ostium=False) == []


def test_lesions_below_the_report_threshold_are_not_reported() -> None:
    diameter = _noisy(TAPER_MM * (1.0 - 0.15 * plateau_bump(S_MM, 40.0, 2.0, 3.0)), seed=2)
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    assert find_lesions(S_MM, diameter, np.pi * diameter**2 / 4, reference, usable) == []


def test_no_lumen_over_three_millimetres_is_an_occlusion() -> None:
    diameter = _noisy(TAPER_MM, seed=3)
    gone = np.abs(S_MM - 30.0) <= 3.0
    diameter[gone] = 0.0
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    bridged = gone.copy()
    (lesion,) = find_lesions(S_MM, diameter, np.pi * diameter**2 / 4, reference, usable, bridged)
    assert lesion.occlusion and lesion.bridged
    assert lesion.pct_diameter_stenosis == 100.0 and lesion.mld_mm == 0.0
    assert abs(lesion.length_mm - 6.0) <= 1.0
    assert abs(lesion.reference_diameter_mm - (4.0 - 1.5 * 30.0 / 80.0)) < 0.15


def test_lumen_lost_over_a_millimetre_only_is_a_subtotal_stenosis() -> None:
    """Below CT resolution, not gone: the lumen is taken at the resolution limit."""
    diameter = _noisy(TAPER_MM, seed=3)
    diameter[np.abs(S_MM - 30.0) <= 0.5] = 0.0  # three sections, 1 mm
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    (lesion,) = find_lesions(S_MM, diameter, np.pi * diameter**2 / 4, reference, usable)
    assert not lesion.occlusion
    assert lesion.mld_mm == 0.5
    expected = 100.0 * (1.0 - 0.5 / lesion.reference_diameter_mm)
    assert lesion.pct_diameter_stenosis == pytest.approx(expected)
    assert 70.0 <= lesion.pct_diameter_stenosis < 100.0


@pytest.mark.parametrize("stenosis_pct", [50.0, 70.0])
def test_known_narrowing_of_a_tube_is_measured(stenosis_pct: float) -> None:
    radius_mm, plateau_mm, ramp_mm, at_mm = 1.75, 3.0, 2.0, 25.0
    direction = unit([0.3, -0.5, 0.8])
    centre = np.array([10.0, -20.0, 150.0])
    axis = line(centre - at_mm * direction, centre + 25.0 * direction)
    s_mm = arc_length(axis)
    radius = radius_mm * (
        1.0 - stenosis_pct / 100.0 * plateau_bump(s_mm, at_mm, plateau_mm, ramp_mm)
    )
    volume, mask = render([Tube(axis, radius)], OBLIQUE_FEET_FIRST, seed=1)
    result = analyse_coronaries(volume, mask, ostia_lps_mm=axis[:1])
    (vessel,) = result.vessels
    (lesion,) = result.lesions
    assert abs(lesion.pct_diameter_stenosis - stenosis_pct) < 10.0
    true_area_pct = 100.0 * (1.0 - (1.0 - stenosis_pct / 100.0) ** 2)
    assert abs(lesion.pct_area_stenosis - true_area_pct) < 10.0
    assert abs(lesion.reference_diameter_mm - 2 * radius_mm) < 0.2
    assert abs(lesion.length_mm - (plateau_mm + 2 * ramp_mm)) < 3.0
    # the narrowest point lies on the plateau
    along = float((np.array(lesion.mld_position_lps_mm) - centre) @ direction)
    assert abs(along) < plateau_mm / 2 + 1.0
    assert abs(lesion.mld_s_mm - at_mm) < plateau_mm / 2 + 1.0
    assert vessel.profile is not None
    reference = profile_values(vessel.profile.reference_diameter_mm)
    assert np.nanmax(np.abs(reference - 2 * radius_mm)) < 0.25


def _span(start: int, end: int, bridged: bool) -> LesionSpan:
    return LesionSpan(start=start, end=end, mld_index=(start + end) // 2, start_s_mm=start * 0.5,
                      end_s_mm=end * 0.5, mld_mm=0.0, mla_mm2=0.0, reference_diameter_mm=3.0,
                      pct_diameter_stenosis=100.0, pct_area_stenosis=100.0, occlusion=True,
                      bridged=bridged)


@pytest.mark.parametrize(
    ("ring_hu", "bridge", "kept"),
    [
        (-70.0, (20, 40), True),  # an occlusion bridged through epicardial fat: reported
        (120.0, (20, 40), True),  # a bridged stenosis whose ring is plaque: reported
        (310.0, (20, 40), False),  # a bridge along a chamber's blood: not a lesion
        (310.0, (0, 0), True),  # measured lumen, no bridge: not this rule's call
        # the lesion's site (index 30) on measured lumen, only its end on a bridge
        (310.0, (35, 40), True),
    ],
)
def test_lesions_on_bridges_through_chambers_are_not_reported(
    ring_hu: float, bridge: tuple[int, int], kept: bool
) -> None:
    from ccta_ai.analysis.coronary import CoronaryOptions, _drop_bridges_through_chambers
    from ccta_ai.analysis.lumen import LumenMeasurements

    count = 60
    measured = LumenMeasurements.unmeasured(count)
    measured.ring_hu = np.full(count, -80.0)
    measured.ring_hu[20:40] = ring_hu
    on_bridge = np.zeros(count, dtype=bool)
    on_bridge[slice(*bridge)] = True
    notes: list[str] = []
    result = _drop_bridges_through_chambers(
        [_span(18, 42, bool(on_bridge.any()))], measured, on_bridge, 7,
        CoronaryOptions().max_bridged_ring_hu, notes,
    )
    assert (len(result) == 1) is kept
    assert (len(notes) == 0) is kept
    if not kept:
        assert "vessel 7" in notes[0] and "310 HU" in notes[0]


def test_lumen_lost_under_calcium_is_a_subtotal_stenosis_not_an_occlusion() -> None:
    """Calcium's blooming hides a narrow residual lumen: six millimetres without a
    measured lumen is an occlusion in soft plaque, the tightest resolvable stenosis
    where the sections hold calcium."""
    diameter = _noisy(TAPER_MM, seed=3)
    gone = np.abs(S_MM - 30.0) <= 3.0
    diameter[gone] = 0.0
    area = np.pi * diameter**2 / 4
    usable = np.ones(len(S_MM), dtype=bool)
    reference = reference_diameter(S_MM, diameter, usable)
    (soft,) = find_lesions(S_MM, diameter, area, reference, usable)
    assert soft.occlusion and soft.pct_diameter_stenosis == 100.0
    calcium = np.where(gone, 2.5, 0.0)
    (calcified,) = find_lesions(S_MM, diameter, area, reference, usable, calcium_mm2=calcium)
    assert not calcified.occlusion
    assert calcified.mld_mm == 0.5
    assert 70.0 <= calcified.pct_diameter_stenosis < 100.0
    assert abs(calcified.length_mm - soft.length_mm) < 1e-9


@pytest.mark.parametrize(("branch_mm", "reported"), [(8.0, False), (14.0, True)])
def test_a_narrowing_on_a_side_branch_stub_is_not_graded(branch_mm: float, reported: bool) -> None:
    """A side branch (1 mm) off a main vessel narrows by 60 % 3.5 mm before its end. On
    an 8 mm stub there is no normal lumen around it to give a reference (it read 65 %);
    it is not reported, and a warning says why. On a 14 mm branch it is."""
    main = line([0.0, 0.0, 0.0], [0.0, 40.0, 0.0])
    branch = line([0.0, 20.0, 0.0], [0.0, 20.0, 0.0] + branch_mm * unit([1.0, 0.4, 0.0]))
    s_mm = arc_length(branch)
    radius = 1.0 * (1.0 - 0.6 * plateau_bump(s_mm, branch_mm - 3.5, 1.0, 1.0))
    volume, mask = render([Tube(main, np.full(len(main), 1.6)), Tube(branch, radius)], AXIAL,
                          seed=4)  # fmt: skip
    result = analyse_coronaries(volume, mask, ostia_lps_mm=main[:1])
    on_branch = [lesion for lesion in result.lesions if lesion.vessel_id == 1]
    assert len(result.vessels) == 2 and len(on_branch) == int(reported)
    if reported:
        assert abs(on_branch[0].pct_diameter_stenosis - 60.0) < 12.0
    else:
        assert any("too short for a reference diameter" in w for w in result.warnings)


@pytest.mark.parametrize("stenosis_pct", [0.0, 45.0])
def test_a_short_stem_takes_its_reference_from_its_daughters(stenosis_pct: float) -> None:
    """A left main 4.4 mm wide and 9 mm long, narrowed over most of its length, splits
    into a 3.7 mm LAD and a 3.4 mm LCx. Its own measurements hold no normal stem, so the
    fitted reference follows the LAD it continues into (3.7 mm: a 45 % lesion read
    about 35 %); Murray's law of the daughters gives 4.48 mm. A healthy stem stays
    clear of lesions."""
    stem_mm = 9.0
    stem = line([0.0, 0.0, 0.0], [0.0, stem_mm, 0.0])
    lad = line(stem[-1], stem[-1] + 40.0 * unit([0.5, 1.0, 0.0]))
    lcx = line(stem[-1], stem[-1] + 40.0 * unit([-0.9, 0.5, 0.0]))
    s_mm = arc_length(stem)
    radius = 2.2 * (1.0 - stenosis_pct / 100.0 * plateau_bump(s_mm, 4.0, 3.0, 1.5))
    tubes = [Tube(stem, radius), Tube(lad, np.full(len(lad), 1.85)),
             Tube(lcx, np.full(len(lcx), 1.7))]  # fmt: skip
    volume, mask = render(tubes, AXIAL, seed=5, margin_mm=12.0)  # room for wide sections
    result = analyse_coronaries(volume, mask, ostia_lps_mm=stem[:1])
    root = next(v for v in result.vessels if v.parent_id is None)
    assert root.profile is not None
    reference = profile_values(root.profile.reference_diameter_mm)
    before = np.asarray(root.profile.s_mm) < stem_mm - 3.0
    murray = (3.7**3 + 3.4**3) ** (1.0 / 3.0)
    assert np.abs(reference[before] - murray).max() < 0.3
    assert any("Murray's law" in w for w in result.warnings)
    on_stem = [les for les in result.lesions if les.vessel_id == root.vessel_id
               and les.mld_s_mm < stem_mm]  # fmt: skip
    if stenosis_pct == 0.0:
        assert not on_stem
    else:
        (lesion,) = on_stem
        assert abs(lesion.pct_diameter_stenosis - stenosis_pct) < 8.0
        assert abs(lesion.reference_diameter_mm - 4.4) < 0.3
