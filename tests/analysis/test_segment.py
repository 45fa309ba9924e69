"""Segment: pre/post-processing and geometry with a known-answer network, refinement,
ostia and the region of interest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from analysis_phantom import AXIAL, OBLIQUE_FEET_FIRST, Tube, line, render, steps_matrix
from segment_helpers import coronary_on_aorta, dice, threshold_bundle

from ccta_ai.analysis.segment import resolve_device, segment_coronaries
from ccta_ai.analysis.segment_grid import (
    Roi,
    boxes_around,
    find_heart_roi,
    from_network,
    network_grid,
    to_network,
    upsample_box,
)
from ccta_ai.analysis.segment_refine import find_ostia, refine_lumen
from ccta_ai.errors import ConfigError
from ccta_ai.imaging.volume import Volume

# Head-first axial with rows flipped (anterior at the bottom) and a coarse grid.
FLIPPED = steps_matrix((0.6, 0.5, 0.5)) @ np.diag([1.0, -1.0, 1.0])
GEOMETRIES = {"axial": AXIAL, "oblique-feet-first": OBLIQUE_FEET_FIRST, "flipped": FLIPPED}


@pytest.fixture(scope="module")
def threshold_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return threshold_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_known_answer_network_mask_lands_on_the_tube(threshold_dir: Path, name: str) -> None:
    """A threshold "network": the lumen mask must be the tube, on any grid orientation."""
    path = line(np.array([-9.0, -4.0, -6.0]), np.array([10.0, 5.0, 7.0]))
    tube = Tube(path, np.linspace(1.8, 1.2, len(path)))
    volume, truth = render([tube], GEOMETRIES[name], noise_hu=10.0, seed=3)
    result = segment_coronaries(volume, bundle_dir=threshold_dir, device="cpu")
    assert result.lumen.shape == volume.shape and result.lumen.dtype == bool
    assert dice(result.lumen, truth) >= 0.85
    # Every clearly bright voxel is lumen, every clearly dark one is not.
    assert result.lumen[volume.hu > 330].mean() > 0.98
    assert not result.lumen[volume.hu < 0].any()
    assert not result.aorta.any()
    assert result.ostia_lps_mm is None
    assert any("no contrast-filled blood pool" in note for note in result.notes)
    assert result.model_sha256 and len(result.model_sha256) == 64
    assert {"network_s", "refine_s", "total_s"} <= set(result.timings_s)


def test_network_grid_is_ras_and_round_trips() -> None:
    """The network sees axes in R, A, S order whatever the volume's axes; back is exact."""
    shape = (20, 24, 28)
    for steps in (AXIAL, FLIPPED, OBLIQUE_FEET_FIRST):
        affine = np.eye(4)
        affine[:3, :3] = steps
        volume = Volume(np.zeros(shape, np.float32), affine)
        grid = network_grid(volume, Roi((0, 0, 0), shape, True), spacing_mm=0.5)
        index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
        ras = volume.index_to_lps(index) * np.array([-1.0, -1.0, 1.0])
        for axis in range(3):
            on_grid = to_network(grid, ras[..., axis].astype(np.float32))[0].numpy()
            steps_along = np.diff(on_grid, axis=axis)
            assert np.all(steps_along > 0), (steps, axis)  # RAS coordinate increases
        back = from_network(grid, to_network(grid, ras[..., 0].astype(np.float32)))[0].numpy()
        np.testing.assert_allclose(back, ras[..., 0], atol=0.05)


def test_refinement_gives_a_small_vessel_its_calibre() -> None:
    """A coarse, too-wide network mask of a 0.8 mm-radius vessel refines to its area."""
    path = line(np.array([0.13, 0.07, -8.0]), np.array([0.13, 0.07, 8.0]))  # off the lattice
    radius_mm = 0.8
    volume, truth = render([Tube(path, np.full(len(path), radius_mm))], AXIAL, noise_hu=8.0)
    coarse = np.zeros(volume.shape, np.float32)
    index = np.argwhere(np.ones(volume.shape, bool))
    axis_distance = np.linalg.norm(volume.index_to_lps(index)[:, :2] - [0.13, 0.07], axis=1)
    coarse.reshape(-1)[:] = np.clip(1.8 - axis_distance / 1.0, 0.0, 1.0)  # ~1.3 mm radius
    mask, levels = refine_lumen(volume.hu, coarse, volume.spacing_mm)
    middle = slice(5, volume.shape[0] - 5)
    area_mm2 = mask[middle].sum(axis=(1, 2)).mean() * np.prod(volume.spacing_mm[1:])
    wide_mm2 = (coarse[middle] >= 0.5).sum(axis=(1, 2)).mean() * np.prod(volume.spacing_mm[1:])
    true_mm2 = np.pi * radius_mm**2
    assert wide_mm2 > 1.8 * true_mm2  # the input really is too wide
    assert abs(area_mm2 - true_mm2) < 0.3 * true_mm2
    assert dice(mask, truth) > 0.75
    assert levels["calcium_hu"] == pytest.approx(650.0)  # the floor: median HU is low here


def test_refinement_keeps_calcium_out_of_the_lumen() -> None:
    path = line(np.array([0.0, 0.0, -8.0]), np.array([0.0, 0.0, 8.0]))
    calcium = [(np.array([1.6, 0.0, -1.0]), np.array([1.6, 0.0, 1.0]), 0.9)]
    volume, truth = render([Tube(path, np.full(len(path), 1.5))], AXIAL, calcium=calcium,
                           noise_hu=8.0)
    probability = np.zeros(volume.shape, np.float32)
    probability[volume.hu > 150] = 1.0  # a network fooled by the calcium
    mask, _ = refine_lumen(volume.hu, probability, volume.spacing_mm)
    assert not mask[volume.hu > 800].any()
    assert dice(mask, truth) > 0.85


def test_ostia_where_the_lumen_meets_the_aorta() -> None:
    volume, lumen, aorta, ostium = coronary_on_aorta(steps_matrix((0.6, 0.6, 0.6)))
    found = find_ostia(lumen, aorta, volume.spacing_mm)
    assert found.shape == (1, 3)
    assert np.linalg.norm(volume.index_to_lps(found[0]) - ostium) < 2.0
    assert find_ostia(lumen, np.zeros_like(aorta), volume.spacing_mm).shape == (0, 3)


def test_roi_is_the_box_around_the_blood_pool() -> None:
    """A 30 ml bright ball in fat, next to a bright thin bone plate: the box holds the
    ball with its margin and not the far end of the volume."""
    affine = np.diag([0.6, 0.5, 0.5, 1.0])
    hu = np.full((160, 200, 200), -80.0, np.float32)
    k, r, c = np.meshgrid(np.arange(160) * 0.6, np.arange(200) * 0.5, np.arange(200) * 0.5,
                          indexing="ij", sparse=True)
    hu[(k - 40) ** 2 + (r - 40) ** 2 + (c - 40) ** 2 < 19.0**2] = 400.0
    hu[:, 180:183, :] = 500.0  # 1.5 mm plate: removed by the opening
    roi = find_heart_roi(Volume(hu, affine))
    assert roi.found
    low_mm, high_mm = np.array(roi.low) * [0.6, 0.5, 0.5], np.array(roi.high) * [0.6, 0.5, 0.5]
    assert np.all(low_mm <= 40 - 19) and np.all(high_mm >= 40 + 19)
    assert np.all(high_mm <= 40 + 19 + 14 + 2.5)
    empty = find_heart_roi(Volume(np.full((40, 40, 40), -1000.0, np.float32), np.eye(4)))
    assert not empty.found and empty.shape == (40, 40, 40)


def test_device_auto_and_bad_device() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="quantum"):
        resolve_device("quantum")


def test_upsampling_a_box_equals_upsampling_everything_then_cutting() -> None:
    coarse = np.random.default_rng(1).random((7, 9, 5)).astype(np.float32)
    fine_shape = (20, 31, 12)
    whole = torch.nn.functional.interpolate(
        torch.from_numpy(coarse)[None, None], size=fine_shape, mode="trilinear",
        align_corners=True,
    )[0, 0].numpy()
    box = (slice(3, 11), slice(0, 31), slice(7, 12))
    np.testing.assert_allclose(upsample_box(coarse, fine_shape, box), whole[box], atol=1e-5)
    tiles = boxes_around(coarse > 0.97, fine_shape, tile=8)
    covered = np.zeros(fine_shape, bool)
    for tile in tiles:
        covered[tile] = True
    assert covered[whole > 0.97].all()  # every fine voxel that can be high is in a tile
