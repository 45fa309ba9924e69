"""CAD-RADS 2.0 rules of the truth, per-seed parameter ranges, grids of both sizes,
input validation; no images are rendered here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ccta_ai.errors import ConfigError
from ccta_ai.phantom.coronary import build_tree
from ccta_ai.phantom.heart import build_heart
from ccta_ai.phantom.lesions import draw_lesions
from ccta_ai.phantom.params import draw_contrast, draw_heart, draw_scan, stream
from ccta_ai.phantom.study import _ccta_grid, generate_study
from ccta_ai.phantom.truth import cad_rads


def _lesion(pct: float, segment: int, hrf: int = 0) -> dict[str, Any]:
    features = ["positive_remodelling", "low_attenuation", "napkin_ring"][:hrf]
    return {
        "pct_diameter_stenosis": pct,
        "segment": segment,
        "occlusion": pct >= 100.0,
        "high_risk_features": features,
    }


# (lesions, category, plaque burden, modifiers): boundaries of CAD-RADS 2.0.
CASES = [
    ([], "0", None, []),
    ([_lesion(1.0, 6)], "1", "P1", []),
    ([_lesion(24.9, 6)], "1", "P1", []),
    ([_lesion(25.0, 6)], "2", "P1", []),
    ([_lesion(49.9, 1), _lesion(10.0, 2)], "2", "P1", []),
    ([_lesion(50.0, 11), _lesion(10.0, 2), _lesion(5.0, 3)], "3", "P2", []),
    ([_lesion(69.9, 6, hrf=2)], "3", "P1", ["HRP"]),
    ([_lesion(70.0, 6, hrf=1)], "4A", "P1", []),
    ([_lesion(99.0, 6), _lesion(80.0, 1)], "4A", "P1", []),
    ([_lesion(75.0, 9), _lesion(80.0, 12), _lesion(70.0, 4)], "4B", "P2", []),  # 3 territories
    ([_lesion(75.0, 6), _lesion(80.0, 7), _lesion(70.0, 8)], "4A", "P2", []),  # one vessel
    ([_lesion(50.0, 5)], "4B", "P1", []),  # left main
    ([_lesion(49.0, 5)], "2", "P1", []),
    ([_lesion(100.0, 2), _lesion(30.0, 5)], "5", "P1", []),
    ([_lesion(20.0, s) for s in (1, 2, 3, 4, 5)], "1", "P3", []),
    ([_lesion(20.0, s) for s in (1, 2, 3, 5, 6, 7, 11, 13)], "1", "P4", []),
    ([_lesion(20.0, 6), _lesion(30.0, 6)], "2", "P1", []),  # one segment counts once
]


@pytest.mark.parametrize(("lesions", "category", "burden", "modifiers"), CASES)
def test_cad_rads_rules(
    lesions: list, category: str, burden: str | None, modifiers: list[str]
) -> None:
    grade = cad_rads(lesions)
    assert grade["category"] == category
    assert grade["plaque_burden"] == burden
    assert grade["modifiers"] == modifiers
    assert grade["segment_involvement_score"] == len({les["segment"] for les in lesions})
    assert grade["text"].startswith(f"CAD-RADS {category}")


SEEDS = range(12)


def test_per_seed_parameters_cover_the_specified_ranges() -> None:
    scans = [draw_scan(seed, "full") for seed in SEEDS]
    contrasts = [draw_contrast(seed) for seed in SEEDS]
    hearts = [draw_heart(seed) for seed in SEEDS]
    spacing = [s.pixel_spacing_mm for s in scans]
    assert min(spacing) >= 0.3 and max(spacing) <= 0.5 and max(spacing) - min(spacing) > 0.05
    assert {s.slice_thickness_mm for s in scans} <= {0.5, 0.6, 0.625, 0.75}
    assert len({s.slice_thickness_mm for s in scans}) >= 2
    aorta = [c.aorta_hu for c in contrasts]
    assert min(aorta) >= 250.0 and max(aorta) <= 550.0
    assert {s.patient_position for s in scans} == {"HFS", "FFS"}
    assert len({h.dominance for h in hearts}) >= 2
    assert max(h.scale for h in hearts) - min(h.scale for h in hearts) > 0.1


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_full_size_grid_matches_the_specification(seed: int) -> None:
    scan = draw_scan(seed, "full")
    heart = build_heart(draw_heart(seed))
    grid = _ccta_grid(scan, heart)
    slices, rows, columns = grid.shape
    assert 200 <= slices <= 320
    assert rows == columns == 512
    spacing = grid.spacing_mm
    assert 0.3 <= spacing[1] <= 0.5 and spacing[1] == pytest.approx(spacing[2])
    assert spacing[0] == pytest.approx(scan.slice_increment_mm, abs=1e-3)
    # The whole heart and both ostia lie inside the field of view.
    for point in (heart.points["ostium_left"], heart.points["ostium_right"], heart.points["apex"]):
        index = grid.to_index(point[None])[0]
        assert np.all(index > 0) and np.all(index < np.array(grid.shape) - 1), point


@pytest.mark.parametrize("seed", [3, 5, 10, 22])
def test_tree_and_lesions_are_anatomically_plausible(seed: int) -> None:
    heart = build_heart(draw_heart(seed))
    vessels = build_tree(heart, stream(seed, "coronary"))
    names = {v.name for v in vessels}
    assert {"LM", "LAD", "LCx", "RCA", "D1", "OM1"} <= names
    assert ("R-PDA" in names) == (heart.params.dominance in ("right", "co"))
    assert ("L-PDA" in names) == (heart.params.dominance == "left")
    by_name = {v.name: v for v in vessels}
    diameters = 2.0 * by_name["LM"].radius_mm
    assert 3.0 <= diameters[0] <= 5.0
    for v in vessels:
        assert np.all(np.linalg.norm(np.diff(v.points, axis=0), axis=1) < 0.8), v.name
        if v.parent is not None:  # a branch starts on its parent
            gap = np.linalg.norm(by_name[v.parent].points - v.points[0], axis=1).min()
            assert gap < 0.6, v.name
        if not v.intramyocardial and v.length_mm > 30:
            # On the epicardial surface: the lumen lies outside the heart's bed.
            distance = heart.bed_sdf(v.points[20:])
            assert np.median(distance - v.radius_mm[20:]) > 0.0, v.name
            assert np.median(distance) < 4.0, v.name
    lesions = draw_lesions(vessels, stream(seed, "lesions"))
    for lesion in lesions:
        assert by_name[lesion.vessel].segment[lesion.center_index] == lesion.segment


@pytest.mark.parametrize("seed", [0, 3, 100007, 100017])
def test_the_right_coronary_runs_from_its_ostium_into_the_av_groove(seed: int) -> None:
    """No vessel doubles back on itself: the RCA leaves the aorta and enters the right
    AV groove beside its ostium. (It used to climb some 20 mm to the top of the RV
    ring first and return within 2-4 mm of its own start, where the two limbs' lumens
    touched: the tracer short-cut the loop, and 50 mm of "proximal RCA" lay on it.)"""
    heart = build_heart(draw_heart(seed))
    rca = next(v for v in build_tree(heart, stream(seed, "coronary")) if v.name == "RCA")
    s_mm = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(rca.points, axis=0), axis=1))])
    start, later = rca.points[s_mm < 15.0], rca.points[s_mm > 30.0]
    gap = np.linalg.norm(start[:, None] - later[None], axis=2).min()
    assert gap > 4.0 * rca.radius_mm[0], gap
    assert rca.points[:, 2].max() - rca.points[0, 2] < 8.0  # no climb above the ostium
    assert 12.0 < np.ptp(s_mm[rca.segment == 1]) < 30.0  # proximal RCA


def test_invalid_seed_or_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="size"):
        generate_study(1, "huge")
    with pytest.raises(ConfigError, match="seed"):
        generate_study(-3, "small")


@pytest.mark.parametrize("ramp_mm", [0.9, 4.0])
def test_the_truth_radius_is_the_radius_painted(ramp_mm: float) -> None:
    """A straight tube 4.5 mm wide narrowed to 1.4 mm over a plateau of 1 mm: with
    shoulders of 0.9 mm (a 3.7 mm left-main lesion), the end spheres of the wide
    vertices fill the narrowing, and the truth must say so (it said 68 % where the image
    holds about 30 %); with shoulders of 4 mm the lumen is painted as drawn."""
    from ccta_ai.phantom.raster import Grid, new_canvas, paint_tubes
    from ccta_ai.phantom.shapes import painted_radius

    s = np.arange(0.0, 20.0, 0.5)
    points = np.stack([np.zeros_like(s), np.zeros_like(s), s], axis=1)  # along z
    d = np.abs(s - 10.0)
    window = np.where(d <= 0.5, 1.0, 0.5 * (1.0 + np.cos(np.pi * (d - 0.5) / ramp_mm)))
    window[d >= 0.5 + ramp_mm] = 0.0
    radii = 2.25 * (1.0 - 0.69 * window)
    step = 0.1
    axis = np.arange(-3.0, 3.0 + step / 2, step)
    canvas = new_canvas(Grid(s.copy(), axis, axis, np.zeros(3)), edge_mm=step)
    paint_tubes(canvas, [(points, radii)], 400.0, 40.0, 9, None, None)
    painted = 2.0 * np.sqrt((canvas.labels == 9).sum(axis=(1, 2)) * step * step / np.pi)
    expected = 2.0 * painted_radius(points, radii)
    inside = slice(4, -4)  # away from the tube's ends
    assert np.abs(painted[inside] - expected[inside]).max() <= 0.12
    site = int(np.argmin(radii))
    narrowing = 100.0 * (1.0 - expected[site] / 4.5)
    if ramp_mm < 1.0:
        assert 2.0 * radii[site] == pytest.approx(1.395, abs=0.01)  # drawn: 69 %
        assert narrowing < 40.0 and 100.0 * (1.0 - painted[site] / 4.5) < 40.0
    else:
        assert narrowing == pytest.approx(69.0, abs=2.0)


@pytest.mark.parametrize(("stenosis", "occluded"), [(0.9, False), (0.97, True), (1.0, True)])
def test_a_lumen_too_thin_to_paint_is_an_occlusion_in_the_truth(
    stenosis: float, occluded: bool
) -> None:
    """A 2 mm vessel narrowed by 97 % keeps a drawn lumen of 0.06 mm, which the
    rasteriser does not paint (0.1 mm or less): the image shows an occlusion, and so
    must the truth (it said 97 %, not occluded, beside a 100 % MLD)."""
    from ccta_ai.phantom.coronary import Vessel
    from ccta_ai.phantom.lesions import Lesion, _narrow
    from ccta_ai.phantom.truth import lesion_truth

    s = np.arange(0.0, 30.0, 0.5)
    vessel = Vessel(
        "LAD", "LM", np.stack([s, np.zeros_like(s), np.zeros_like(s)], axis=1),
        np.full(len(s), 1.0), np.full(len(s), 7),
    )  # fmt: skip
    lesion = Lesion(
        "L1", "LAD", 7, 30, 12.0, stenosis, "non-calcified", False, 1.0, False, False,
        False, 60.0, 10.0, 900.0,
    )  # fmt: skip
    _narrow(vessel, lesion)
    volumes = {"calcified": 0.0, "non_calcified": 10.0, "low_attenuation": 0.0}
    truth = lesion_truth(lesion, vessel, np.zeros(3), volumes)
    assert truth["occlusion"] is occluded
    if occluded:
        assert truth["pct_diameter_stenosis"] == 100.0 and truth["mld_mm"] == 0.0
        assert cad_rads([truth])["category"] == "5"
    else:
        assert truth["pct_diameter_stenosis"] == pytest.approx(90.0, abs=0.5)
        assert cad_rads([truth])["category"] == "4A"
