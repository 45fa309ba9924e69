"""Trace: centreline trees of synthetic tubes with known axes, radii and branch points."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_phantom import (
    AXIAL,
    OBLIQUE_FEET_FIRST,
    Tube,
    arc_length,
    distances_to_curve,
    line,
    render,
    rotation,
    steps_matrix,
    unit,
)

from ccta_ai.analysis.coronary import analyse_coronaries
from ccta_ai.analysis.trace import CenterlineTree, TraceOptions, trace_centerlines
from ccta_ai.errors import GeometryValueError
from ccta_ai.imaging.volume import Volume

RADIUS_MM = 1.6


@pytest.fixture(scope="module")
def straight() -> tuple[Volume, np.ndarray, np.ndarray]:
    """A 40 mm tube, oblique to a feet-first anisotropic grid."""
    direction = unit([0.3, -0.5, 0.8])
    centre = np.array([10.0, -20.0, 150.0])
    axis = line(centre - 20 * direction, centre + 20 * direction)
    volume, mask = render([Tube(axis, np.full(len(axis), RADIUS_MM))], OBLIQUE_FEET_FIRST)
    return volume, mask, axis


def test_straight_oblique_tube_on_a_feet_first_anisotropic_grid(
    straight: tuple[Volume, np.ndarray, np.ndarray],
) -> None:
    volume, mask, axis = straight
    tree = trace_centerlines(mask, volume, ostia_lps_mm=axis[:1])
    assert len(tree.vessels) == 1
    (vessel,) = tree.vessels
    assert vessel.origin == "ostium"
    assert np.linalg.norm(vessel.points_lps_mm[0] - axis[0]) < 0.5
    assert distances_to_curve(vessel.points_lps_mm, axis).max() < 0.3
    # the far end loses its end cap (about a radius); nothing else is lost
    assert 40.0 - 1.0 < vessel.length_mm < 40.0 + RADIUS_MM
    steps = np.linalg.norm(np.diff(vessel.points_lps_mm, axis=0), axis=1)
    assert np.all(np.abs(steps - 0.5) < 0.05)
    assert abs(float(np.median(vessel.radius_mm)) - RADIUS_MM) < 0.15
    assert not vessel.bridged.any()


@pytest.mark.parametrize("mask_from", ["geometry", "noisy threshold"])
def test_y_bifurcation_gives_two_vessels_branching_at_the_carina(mask_from: str) -> None:
    ostium = np.array([0.0, 0.0, 100.0])
    carina = ostium + np.array([0.0, 0.0, -20.0])
    down = np.array([0.0, 0.0, -1.0])
    left_end = carina + 25.0 * (rotation((0.0, 35.0, 0.0)) @ down)
    right_end = carina + 22.0 * (rotation((0.0, -35.0, 0.0)) @ down)
    trunk, left, right = line(ostium, carina), line(carina, left_end), line(carina, right_end)
    tubes = [
        Tube(trunk, np.full(len(trunk), 1.8)),
        Tube(left, np.full(len(left), 1.5)),
        Tube(right, np.full(len(right), 1.3)),
    ]
    steps = steps_matrix((0.5, 0.4, 0.4), (10.0, 5.0, 0.0), feet_first=True)
    if mask_from == "geometry":
        volume, mask = render(tubes, steps)
    else:  # a ragged mask with specks, as a crude segmentation would give
        volume, _ = render(tubes, steps, noise_hu=60.0, seed=2)
        mask = volume.hu > 170.0
    tree = trace_centerlines(mask, volume, ostia_lps_mm=ostium[None])
    assert len(tree.vessels) == 2
    main, side = tree.vessels
    assert side.parent == 0
    (branch_point,) = tree.bifurcations_lps_mm()
    assert np.linalg.norm(branch_point - carina) < 1.5
    # the longer daughter continues the trunk; each follows its true axis
    assert np.linalg.norm(main.points_lps_mm[-1] - left_end) < 3.0
    assert np.linalg.norm(side.points_lps_mm[-1] - right_end) < 3.0
    truth = np.concatenate([trunk, left, right])
    for vessel in tree.vessels:
        assert np.median(distances_to_curve(vessel.points_lps_mm, truth)) < 0.2
        assert distances_to_curve(vessel.points_lps_mm, truth).max() < 0.5
    assert len(tree.segments()) == 3


def test_tortuous_tube_is_followed_closely() -> None:
    t = np.arange(0.0, 60.0, 0.02)
    curve = np.stack(
        [t - 30.0, 4.0 * np.sin(2 * np.pi * t / 30.0), 3.0 * np.cos(2 * np.pi * t / 22.0) + 50.0],
        axis=1,
    )
    volume, mask = render([Tube(curve, np.full(len(curve), 1.5))], AXIAL)
    result = analyse_coronaries(volume, mask, ostia_lps_mm=curve[:1])
    (vessel,) = result.tree.vessels
    assert distances_to_curve(vessel.points_lps_mm, curve).max() < 0.3
    true_length = float(arc_length(curve)[-1])
    assert true_length - 2.5 < vessel.length_mm < true_length + 0.5
    assert result.lesions == []


def test_without_seeds_the_tree_starts_at_its_thickest_end() -> None:
    axis = line([0.0, 0.0, 0.0], [0.0, 30.0, 10.0])
    radius = np.linspace(2.0, 1.0, len(axis))
    volume, mask = render([Tube(axis, radius)], AXIAL)
    (vessel,) = trace_centerlines(mask, volume).vessels
    assert vessel.origin == "thickest-end"
    assert np.linalg.norm(vessel.points_lps_mm[0] - axis[0]) < 3.0
    assert vessel.radius_mm[:10].mean() > vessel.radius_mm[-10:].mean()


def test_without_seeds_the_tree_starts_next_to_the_aorta() -> None:
    axis = line([0.0, 0.0, 0.0], [0.0, 30.0, 10.0])
    volume, mask = render([Tube(axis, np.full(len(axis), 1.5))], AXIAL, margin_mm=8.0)
    centres = volume.index_to_lps(np.indices(volume.shape).reshape(3, -1).T)
    aorta_centre = axis[-1] + [0.0, 6.0, 2.0]
    aorta = (np.linalg.norm(centres - aorta_centre, axis=1) < 4.0).reshape(volume.shape)
    (vessel,) = trace_centerlines(mask & ~aorta, volume, aorta_mask=aorta).vessels
    assert vessel.origin == "aorta"
    assert np.linalg.norm(vessel.points_lps_mm[0] - axis[-1]) < 3.0


def test_a_thin_left_main_rooted_at_the_aorta_starts_the_tree() -> None:
    """A narrow left main (0.8 mm) curving along the aorta to a bifurcation whose thick
    daughters (1.8 mm) lie against the aorta too. Without an ostium seed the thickest
    voxel near the aorta is the bifurcation; the tree must still start at the left
    main's end at the aorta (a coronary tree leaves the aorta at an end), with the left
    main leading into a daughter, not hanging off one as a side branch."""
    angles = np.deg2rad(np.linspace(0.0, 60.0, 200))
    arc = np.stack([9.0 * np.cos(angles), 9.0 * np.sin(angles), np.zeros_like(angles)], 1)
    left_main = np.concatenate([line([7.5, 0.0, 0.0], [9.0, 0.0, 0.0]), arc])
    fork = arc[-1]
    daughters = [line(fork, fork + 25.0 * unit([0.5, 0.866, side])) for side in (1.0, -1.0)]
    tubes = [Tube(left_main, np.full(len(left_main), 0.8))]
    tubes += [Tube(d, np.full(len(d), 1.8)) for d in daughters]
    volume, mask = render(tubes, AXIAL, margin_mm=6.0)
    centres = volume.index_to_lps(np.indices(volume.shape).reshape(3, -1).T)
    aorta = (np.linalg.norm(centres, axis=1) < 8.0).reshape(volume.shape)
    tree = trace_centerlines(mask & ~aorta, volume, aorta_mask=aorta)
    root, branch = tree.vessels  # no stub is left where the root was first put
    assert root.parent is None and root.origin == "aorta"
    assert np.linalg.norm(root.points_lps_mm[0] - [9.0, 0.0, 0.0]) < 2.0
    along = (root.s_mm > 1.0) & (root.s_mm < 9.0)  # the left main, past its corner
    assert distances_to_curve(root.points_lps_mm[along], left_main).max() < 0.4
    assert min(np.linalg.norm(root.points_lps_mm[-1] - d[-1]) for d in daughters) < 3.0
    assert branch.parent == 0 and np.linalg.norm(branch.points_lps_mm[0] - fork) < 2.0


@pytest.fixture(scope="module")
def vessel_and_loose_piece() -> tuple[Volume, np.ndarray, np.ndarray, np.ndarray]:
    """A 40 mm vessel from an ostium and, 25 mm away (too far to bridge), a 15 mm piece
    as thick as a small coronary."""
    vessel = line([0.0, 0.0, 0.0], [0.0, 40.0, 0.0])
    loose = line([25.0, 10.0, 0.0], [25.0, 25.0, 0.0])
    volume, mask = render([Tube(vessel, np.full(len(vessel), 1.5)),
                           Tube(loose, np.full(len(loose), 1.2))], AXIAL)
    return volume, mask, vessel, loose


def test_a_piece_that_joins_no_ostium_tree_is_left_out_with_a_note(
    vessel_and_loose_piece: tuple[Volume, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    volume, mask, vessel, _ = vessel_and_loose_piece
    tree = trace_centerlines(mask, volume, ostia_lps_mm=vessel[:1])
    (traced,) = tree.vessels
    assert traced.origin == "ostium"
    assert distances_to_curve(traced.points_lps_mm, vessel).max() < 0.3
    (note,) = [n for n in tree.notes if "left out of the analysis" in n]
    assert note.startswith("1 piece(s) of the segmentation (1") and "ostium" in note


def test_without_an_ostium_every_piece_is_kept(
    vessel_and_loose_piece: tuple[Volume, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    volume, mask, vessel, _ = vessel_and_loose_piece
    tree = trace_centerlines(mask, volume)
    assert sorted(round(v.length_mm / 5) * 5 for v in tree.vessels) == [15, 40]
    assert {v.origin for v in tree.vessels} == {"thickest-end"}
    assert not any("left out of the analysis" in n for n in tree.notes)
    kept = trace_centerlines(mask, volume, ostia_lps_mm=vessel[:1],
                             options=TraceOptions(keep_loose_pieces=True))
    assert sorted(v.origin for v in kept.vessels) == ["ostium", "thickest-end"]


def test_a_short_piece_at_the_aorta_is_left_out_a_long_one_kept() -> None:
    # 25 mm, touching the aorta: in 40 studies every such piece under 40 mm that gap
    # bridging had not joined to a tree was false (the aortic arch where the volume cuts
    # it, 10-29 mm), every true one (a coronary whose ostium was missed) over 190 mm
    vessel = line([0.0, 0.0, 0.0], [0.0, 40.0, 0.0])
    stub = line([12.0, 0.0, 0.0], [12.0, 25.0, 0.0])
    volume, mask = render([Tube(vessel, np.full(len(vessel), 1.5)),
                           Tube(stub, np.full(len(stub), 1.0))], AXIAL, margin_mm=8.0)
    centres = volume.index_to_lps(np.indices(volume.shape).reshape(3, -1).T)
    aorta = (np.linalg.norm(centres - [13.0, -6.0, 0.0], axis=1) < 5.0).reshape(volume.shape)
    tree = trace_centerlines(mask & ~aorta, volume, vessel[:1], aorta_mask=aorta)
    (traced,) = tree.vessels
    assert traced.origin == "ostium" and traced.length_mm > 35.0
    assert any("touch the aorta but are shorter than 40 mm" in n for n in tree.notes)
    # without an ostium, the aorta may be wrong: nothing is left out
    unseeded = trace_centerlines(mask & ~aorta, volume, aorta_mask=aorta)
    assert sorted(v.origin for v in unseeded.vessels) == ["aorta", "aorta"]


def test_a_leak_into_a_chamber_is_left_out_and_the_vessel_kept() -> None:
    axis = line([0.0, 0.0, 0.0], [0.0, 30.0, 10.0])
    volume, mask = render([Tube(axis, np.full(len(axis), 1.5))], AXIAL, margin_mm=15.0)
    centres = volume.index_to_lps(np.indices(volume.shape).reshape(3, -1).T)
    blob_centre = axis[0] - 7.0 * unit([0.0, 3.0, 1.0])  # a 13 mm wide blob at one end
    blob = (np.linalg.norm(centres - blob_centre, axis=1) < 6.5).reshape(volume.shape)
    tree = trace_centerlines(mask | blob, volume, aorta_mask=blob)
    (vessel,) = tree.vessels
    assert vessel.origin == "aorta"
    assert "thicker than a coronary artery" in tree.notes[0]
    assert np.linalg.norm(vessel.points_lps_mm[0] - axis[0]) < 3.0
    assert np.linalg.norm(vessel.points_lps_mm[-1] - axis[-1]) < 3.0
    off_axis = distances_to_curve(vessel.points_lps_mm, axis)
    assert off_axis[0] < 0.6 and off_axis[vessel.s_mm > 1.0].max() < 0.3


def test_empty_and_speck_masks_give_no_vessels_and_no_lesions() -> None:
    rng = np.random.default_rng(5)
    hu = rng.normal(40.0, 20.0, (40, 50, 60)).astype(np.float32)
    affine = np.diag([-0.6, 0.4, 0.4, 1.0])
    volume = Volume(hu, affine)
    empty = np.zeros(volume.shape, dtype=bool)
    result = analyse_coronaries(volume, empty)
    assert result.tree == CenterlineTree()
    assert result.vessels == [] and result.lesions == []
    specks = rng.random(volume.shape) > 0.999  # isolated voxels, a few per thousand
    assert specks.sum() > 50
    result = analyse_coronaries(volume, specks)
    assert result.vessels == [] and result.lesions == []


def test_a_mask_on_another_grid_is_refused(straight: tuple[Volume, np.ndarray, np.ndarray]) -> None:
    volume, mask, _ = straight
    with pytest.raises(GeometryValueError, match="resample"):
        trace_centerlines(mask[1:], volume)
