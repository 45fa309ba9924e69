"""Plaque: composition, volumes, remodelling, spotty calcium, minimal plaque, labels,
on straight tubes whose plaque is known (``plaque_phantom``)."""

from __future__ import annotations

import numpy as np
import pytest
from plaque_phantom import PlaqueTruth, PlaqueTube, render_plaque_tube

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.findings import Centerline, Lesion, LumenProfile, Plaque, Vessel
from ccta_ai.analysis.plaque import (
    CALCIFIED,
    LOW_ATTENUATION,
    NON_CALCIFIED,
    POSITIVE_REMODELLING,
    SPOTTY_CALCIFICATION,
    PlaqueOptions,
    PlaqueResult,
    VesselSections,
    measure_sections,
)
from ccta_ai.analysis.plaque_lesions import (
    _minimal_lesions,
    analyse_plaque,
    confirm_lesions,
    paint_plaque_labels,
)
from ccta_ai.imaging.volume import Volume

Case = tuple[PlaqueResult, PlaqueTruth, tuple[Volume, list[Vessel]], np.ndarray]

CASES = {
    "non-calcified": PlaqueTube(stenosis=0.5),
    "calcified, bright lumen": PlaqueTube(stenosis=0.5, calcium_sector_deg=360.0, lumen_hu=550.0),
    "mixed, dim lumen": PlaqueTube(stenosis=0.6, calcium_sector_deg=120.0, lumen_hu=300.0),
    "low-attenuation, remodelled": PlaqueTube(stenosis=0.5, plaque_hu=0.0, remodelling=1.5),
    "minimal, remodelled": PlaqueTube(stenosis=0.12, remodelling=1.6),
    "spotty": PlaqueTube(stenosis=0.4, remodelling=1.3, spotty_mm=1.6),
    "healthy, bright and noisy": PlaqueTube(stenosis=0.0, lumen_hu=550.0, noise_hu=35.0),
    "soft wall, no narrowing": PlaqueTube(stenosis=0.0, remodelling=1.6),
    "calcified wall, no narrowing": PlaqueTube(
        stenosis=0.0, remodelling=1.6, calcium_sector_deg=120.0
    ),
}


@pytest.fixture(scope="module")
def analysed() -> dict[str, Case]:
    results: dict[str, Case] = {}
    for name, tube in CASES.items():
        volume, mask, truth = render_plaque_tube(tube)
        coronary = analyse_coronaries(volume, mask)
        result = analyse_plaque(volume, coronary.vessels, coronary.lesions, mask)
        results[name] = (result, truth, (volume, coronary.vessels), mask)
    return results


def _at_lesion(result: PlaqueResult, truth: PlaqueTruth) -> Lesion:
    near = [les for les in result.lesions if abs(les.mld_s_mm - truth.lesion_s_mm) < 6.0]
    assert len(near) == 1, [(les.mld_s_mm, les.pct_diameter_stenosis) for les in result.lesions]
    return near[0]


def _plaque_at(result: PlaqueResult, truth: PlaqueTruth) -> Plaque:
    plaque = _at_lesion(result, truth).plaque
    assert plaque is not None
    return plaque


@pytest.mark.parametrize(
    ("name", "composition"),
    [
        ("non-calcified", "non-calcified"),
        ("calcified, bright lumen", "calcified"),
        ("mixed, dim lumen", "mixed"),
        ("low-attenuation, remodelled", "non-calcified"),
    ],
)
def test_composition_and_volumes_match_the_known_plaque(
    analysed: dict[str, Case], name: str, composition: str
) -> None:
    result, truth, _, _ = analysed[name]
    plaque = _plaque_at(result, truth)
    assert plaque.composition == composition
    total_true = truth.calcified_mm3 + truth.non_calcified_mm3
    # thin soft plaque is underestimated (the blurred lumen edge and the healthy rim)
    assert plaque.volume_mm3 == pytest.approx(total_true, rel=0.45)
    if truth.calcified_mm3 > 0:
        # blooming makes calcium look bigger, never much smaller
        calcified = plaque.calcified_volume_mm3 or 0.0
        assert 0.7 * truth.calcified_mm3 <= calcified <= 1.6 * truth.calcified_mm3
    else:
        assert plaque.calcified_volume_mm3 == 0.0


def test_the_bright_lumen_is_not_taken_for_calcium(analysed: dict[str, Case]) -> None:
    for name in ("non-calcified", "healthy, bright and noisy", "low-attenuation, remodelled"):
        result, _, _, _ = analysed[name]
        assert all(les.plaque and les.plaque.calcified_volume_mm3 == 0.0 for les in result.lesions)


def test_a_healthy_vessel_has_no_plaque(analysed: dict[str, Case]) -> None:
    result, _, _, _ = analysed["healthy, bright and noisy"]
    assert result.lesions == []


def test_low_attenuation_and_positive_remodelling(analysed: dict[str, Case]) -> None:
    result, truth, _, _ = analysed["low-attenuation, remodelled"]
    plaque = _plaque_at(result, truth)
    assert (plaque.low_attenuation_volume_mm3 or 0.0) > 2.0
    assert LOW_ATTENUATION in plaque.high_risk_features
    plain, plain_truth, _, _ = analysed["non-calcified"]
    plain_plaque = _plaque_at(plain, plain_truth)
    assert (plain_plaque.low_attenuation_volume_mm3 or 0.0) < 1.0
    assert LOW_ATTENUATION not in plain_plaque.high_risk_features
    assert plain_plaque.remodelling_index == pytest.approx(1.0, abs=0.08)
    assert POSITIVE_REMODELLING not in plain_plaque.high_risk_features


def test_minimal_plaque_below_25_percent_is_a_lesion_of_its_own(analysed: dict[str, Case]) -> None:
    result, truth, _, _ = analysed["minimal, remodelled"]
    lesion = _at_lesion(result, truth)
    assert lesion.pct_diameter_stenosis < 25.0
    assert lesion.method.startswith("minimal plaque")
    # remodelling index is a diameter ratio: sqrt(1.6) = 1.26 outer diameter
    plaque = _plaque_at(result, truth)
    assert plaque.remodelling_index == pytest.approx(np.sqrt(1.6), abs=0.12)
    assert POSITIVE_REMODELLING in plaque.high_risk_features


def _calcified_wall(beyond_from: int | None = None) -> tuple[Vessel, VesselSections]:
    """A vessel 3 mm across with a calcified wall at 4-6 mm (plaque 4-10.5 mm) that
    narrows the lumen most (20 %) at 8.5 mm; followed beyond its segmentation from
    point ``beyond_from`` on."""
    count = 30
    s_mm = np.arange(count) * 0.5
    diameter = np.full(count, 3.0)
    diameter[8:22] = 2.94
    diameter[16:20] = [2.7, 2.4, 2.4, 2.7]
    nan = np.full(count, np.nan)
    calcium = np.zeros(count)
    calcium[8:13] = 2.0
    soft = np.zeros(count)
    soft[8:22] = 1.0
    sections = VesselSections(
        s_mm=s_mm, lumen_mm2=np.pi * diameter**2 / 4, vessel_mm2=np.full(count, 20.0),
        calcium_mm2=calcium, non_calcified_mm2=soft, low_attenuation_mm2=np.zeros(count),
        calcium_width_mm=np.where(calcium > 0, 1.0, 0.0), reference_vessel_mm2=np.full(count, 20.0),
        plaque=soft > 0, lumen_hu=np.full(count, 400.0), calcium_hu=np.full(count, 550.0),
        outer_radius_mm=nan,
    )  # fmt: skip
    points = [[0.0, 0.0, float(s)] for s in s_mm]
    beyond = [beyond_from is not None and i >= beyond_from for i in range(count)]
    vessel = Vessel(
        vessel_id=0,
        centerline=Centerline(points_lps_mm=points, radius_mm=[1.5] * count, segment=[6] * count,
                              beyond_segmentation=beyond),
        profile=LumenProfile(
            s_mm=list(s_mm), area_mm2=list(np.pi * diameter**2 / 4),
            equivalent_diameter_mm=list(diameter), reference_diameter_mm=[3.0] * count,
        ),
    )  # fmt: skip
    return vessel, sections


def test_a_minimal_plaque_lesion_is_graded_at_its_narrowest_point() -> None:
    """Its site and % stenosis are where the lumen is narrowest (its MLD), as for any
    lesion, not where the plaque is thickest: a calcified wall at 4-6 mm that narrows
    the lumen most (20 %) at 9 mm is a 20 % lesion (it read the 2 % at its calcium)."""
    vessel, sections = _calcified_wall()
    (lesion,) = _minimal_lesions(vessel, sections, [(8, 21)], [], PlaqueOptions())
    assert lesion.mld_s_mm == pytest.approx(8.5)
    assert lesion.pct_diameter_stenosis == pytest.approx(20.0)
    assert lesion.mld_mm == pytest.approx(2.4)
    assert lesion.plaque is not None and lesion.plaque.calcified_volume_mm3 == pytest.approx(5.0)


def test_no_minimal_plaque_lesion_is_graded_beyond_the_segmentation() -> None:
    """Where the vessel was followed past its segmentation (analysis/extend.py) no lesion
    is graded: the same plaque run, reaching there, is no lesion."""
    vessel, sections = _calcified_wall(beyond_from=20)
    assert _minimal_lesions(vessel, sections, [(8, 21)], [], PlaqueOptions()) == []
    vessel, sections = _calcified_wall(beyond_from=24)  # beyond the run's end: graded
    assert len(_minimal_lesions(vessel, sections, [(8, 21)], [], PlaqueOptions())) == 1


def test_soft_wall_without_any_narrowing_is_not_reported_calcium_is(
    analysed: dict[str, Case],
) -> None:
    """Non-calcified "plaque" beside a lumen that is not narrowed at all is, in practice,
    the tissue a proximal vessel runs against (aortic root, atrial wall: 16 of 18 such
    findings in 40 phantom studies read 0-3 %); calcium beside it is plaque."""
    soft, soft_truth, _, _ = analysed["soft wall, no narrowing"]
    assert not [les for les in soft.lesions if abs(les.mld_s_mm - soft_truth.lesion_s_mm) < 6.0]
    hard, hard_truth, _, _ = analysed["calcified wall, no narrowing"]
    lesion = _at_lesion(hard, hard_truth)
    assert lesion.method.startswith("minimal plaque") and lesion.pct_diameter_stenosis < 5.0
    assert (_plaque_at(hard, hard_truth).calcified_volume_mm3 or 0.0) > 1.0


def test_spotty_calcification(analysed: dict[str, Case]) -> None:
    result, truth, _, _ = analysed["spotty"]
    plaque = _plaque_at(result, truth)
    assert plaque.spotty_calcification and SPOTTY_CALCIFICATION in plaque.high_risk_features
    # a soft plaque with any calcium in it is mixed, however little (here about 2 %)
    assert plaque.composition == "mixed"
    assert 0 < (plaque.calcified_volume_mm3 or 0.0) < 3.0 * truth.calcified_mm3
    mixed, mixed_truth, _, _ = analysed["mixed, dim lumen"]
    assert not _plaque_at(mixed, mixed_truth).spotty_calcification


def test_plaque_labels_mark_calcium_and_soft_plaque_at_the_lesion(
    analysed: dict[str, Case],
) -> None:
    result, truth, (volume, vessels), mask = analysed["mixed, dim lumen"]
    labels = paint_plaque_labels(volume, result, vessels, mask)
    assert labels.dtype == np.uint8 and labels.shape == volume.shape
    assert (labels == CALCIFIED).sum() * volume.voxel_volume_mm3 == pytest.approx(
        truth.calcified_mm3, rel=0.8
    )
    assert (labels == NON_CALCIFIED).any()
    assert not labels[mask].any()  # never on the lumen
    assert np.all(volume.hu[labels == CALCIFIED] > 300.0)


def _beside_a_branch(
    tube: PlaqueTube,
) -> tuple[PlaqueTruth, Plaque, list[str], tuple[PlaqueResult, int]]:
    """The tube's lesion analysed with a side branch (3 mm radius) leaving at its site:
    the branch's reach, radius + 1.5 mm each way, spans the whole plaque. Returns the
    truth, the lesion's plaque, the notes of dropped lesions, and the plaque result with
    the site's index."""
    volume, mask, truth = render_plaque_tube(tube)
    coronary = analyse_coronaries(volume, mask)
    parent = coronary.vessels[0]
    assert parent.profile is not None
    site = int(np.argmin(np.abs(np.asarray(parent.profile.s_mm) - truth.lesion_s_mm)))
    start = np.asarray(parent.centerline.points_lps_mm[site])
    side = [list(start + k * np.array([0.0, 0.5, 0.0])) for k in range(20)]
    branch = Vessel(
        vessel_id=1,
        centerline=Centerline(points_lps_mm=side, radius_mm=[3.0] * 20, segment=[None] * 20),
        parent_id=0,
        parent_point=site,
    )
    result = analyse_plaque(volume, [parent, branch], coronary.lesions, mask)
    kept, notes = confirm_lesions(result.lesions)
    return truth, _plaque_at(PlaqueResult(lesions=kept), truth), notes, (result, site)


def test_calcium_where_a_side_branch_leaves_is_still_plaque() -> None:
    """A lesion wholly within a side branch's reach (a left main's calcified narrowing
    just before the bifurcation): the branch's lumen widens the sections, so their soft
    wall and outer vessel are not measured, but their calcium is the lesion's plaque
    (seed 100000's calcified left-main lesion was dropped as having no plaque)."""
    tube = PlaqueTube(stenosis=0.5, calcium_sector_deg=360.0)
    volume, mask, truth = render_plaque_tube(tube)
    alone = analyse_coronaries(volume, mask)
    calcium_alone = _plaque_at(analyse_plaque(volume, alone.vessels, alone.lesions, mask), truth)
    _, plaque, notes, _ = _beside_a_branch(tube)
    assert not notes
    assert plaque.composition == "calcified"
    calcified = plaque.calcified_volume_mm3 or 0.0
    assert calcified == pytest.approx(calcium_alone.calcified_volume_mm3 or 0.0, rel=0.1)
    assert 0.7 * truth.calcified_mm3 <= calcified <= 1.6 * truth.calcified_mm3
    assert plaque.remodelling_index is None  # no outer wall measured beside the branch


def test_calcium_blooming_beside_the_calcium_is_not_soft_plaque() -> None:
    """A ring of calcium imaged with blooming (its excess spread by a 1 mm kernel, as
    the phantom's and real CT do): the intermediate HU just outside it is the calcium's
    spread brightness, not non-calcified plaque (it read 26 mm3 beside 41 mm3 of
    calcium, and seven calcified lesions of 40 phantom studies were called mixed)."""
    tube = PlaqueTube(stenosis=0.5, calcium_sector_deg=360.0, bloom_fwhm_mm=1.0)
    volume, mask, truth = render_plaque_tube(tube)
    coronary = analyse_coronaries(volume, mask)
    plaque = _plaque_at(analyse_plaque(volume, coronary.vessels, coronary.lesions, mask), truth)
    assert truth.non_calcified_mm3 == 0.0
    assert plaque.composition == "calcified"
    calcified = plaque.calcified_volume_mm3 or 0.0
    assert 0.7 * truth.calcified_mm3 <= calcified <= 1.6 * truth.calcified_mm3
    assert (plaque.non_calcified_volume_mm3 or 0.0) <= 0.1 * calcified


def test_soft_plaque_where_a_side_branch_leaves_still_narrows_the_lumen() -> None:
    """A non-calcified narrowing within a side branch's reach: the soft tissue inside
    the reference lumen is still plaque there (seed 100017's 35 % proximal RCA lesion,
    where a short branch left, read 0.6 mm3 and was dropped), though the outer wall is
    not measured."""
    truth, plaque, notes, (result, site) = _beside_a_branch(PlaqueTube(stenosis=0.5))
    assert not notes
    assert plaque.composition == "non-calcified"
    soft = plaque.non_calcified_volume_mm3 or 0.0
    # only what narrows the lumen is seen there: at least a third of the true plaque
    assert truth.non_calcified_mm3 / 3.0 <= soft <= 1.3 * truth.non_calcified_mm3
    assert plaque.remodelling_index is None
    sections = result.sections[0]
    beside = np.abs(sections.s_mm - sections.s_mm[site]) <= 3.0 + 1.5
    assert np.isnan(sections.vessel_mm2[beside]).all()


def _lesion(
    volume_mm3: float, index: float | None, occlusion: bool = False, calcium_mm3: float = 0.0
) -> Lesion:
    lesion = Lesion(0, 1.0, 5.0, 3.0, [0.0, 0.0, 0.0], 40.0, 64.0, 1.8, 2.5, 3.0, 4.0, occlusion)
    lesion.plaque = Plaque(
        composition="calcified" if calcium_mm3 else "non-calcified",
        volume_mm3=volume_mm3,
        calcified_volume_mm3=calcium_mm3,
        remodelling_index=index,
    )
    return lesion


@pytest.mark.parametrize(
    ("volume_mm3", "index", "occlusion", "calcium_mm3", "kept"),
    [
        (10.0, 1.0, False, 0.0, True),
        (0.5, 1.0, False, 0.0, False),
        # under 3 mm3 (a ring 0.5 mm thick and 1 mm long around a 1.5 mm lumen): on 40
        # phantom studies 16 of 18 such narrowings (1.5-3 mm3, >= 25 %) were false
        (2.2, 1.0, False, 0.0, False),
        (3.5, 1.0, False, 0.0, True),
        (10.0, 0.5, False, 0.0, False),
        (0.0, None, True, 0.0, True),
        # calcium is plaque: a calcified narrowing whose remodelling index reads low
        # (0.41 at a calcified left-main ostium) is kept; a speck of calcium is not
        (12.0, 0.41, False, 10.0, True),
        (10.0, 0.5, False, 0.5, False),
    ],
)
def test_narrowings_without_plaque_are_not_reported(
    volume_mm3: float, index: float | None, occlusion: bool, calcium_mm3: float, kept: bool
) -> None:
    found, notes = confirm_lesions([_lesion(volume_mm3, index, occlusion, calcium_mm3)])
    assert (len(found) == 1) is kept
    assert (len(notes) == 1) is not kept


def test_plaque_is_not_measured_where_the_vessel_was_followed_beyond_its_segmentation() -> None:
    """Points followed past the segmentation (analysis/extend.py) are neither graded nor
    analysed: their sections hold no plaque measurement, the others are unchanged."""
    volume, mask, _ = render_plaque_tube(PlaqueTube(stenosis=0.0, remodelling=1.6))
    (vessel,) = analyse_coronaries(volume, mask).vessels
    count = len(vessel.centerline.points_lps_mm)
    whole = measure_sections(volume, vessel, {0: vessel}, 15.0, PlaqueOptions())
    vessel.centerline.beyond_segmentation = [i >= count // 2 for i in range(count)]
    half = measure_sections(volume, vessel, {0: vessel}, 15.0, PlaqueOptions())
    assert whole is not None and half is not None
    assert np.isfinite(whole.vessel_mm2[count // 2 :]).sum() > count // 4
    assert not np.isfinite(half.vessel_mm2[count // 2 :]).any()
    assert np.isfinite(half.vessel_mm2[: count // 2]).sum() > count // 4
