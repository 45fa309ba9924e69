"""The Volume contract: validation and the voxel↔LPS mapping."""

from __future__ import annotations

import numpy as np
import pytest

from ccta_ai.errors import GeometryValueError
from ccta_ai.imaging.volume import Volume, validate_affine


def _affine(steps: np.ndarray, origin: tuple[float, float, float]) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = steps
    matrix[:3, 3] = origin
    return matrix


def test_index_and_lps_are_inverse_for_a_feet_first_oblique_grid() -> None:
    angle = np.deg2rad(20.0)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    steps = rotation @ np.diag([-0.625, 0.4, 0.4])  # slices go towards the feet
    volume = Volume(np.zeros((4, 5, 6)), _affine(steps, (-100.0, 20.0, 300.0)))
    indices = np.array([[0, 0, 0], [3, 4, 5], [1.5, 2.25, 0.5]])
    points = volume.index_to_lps(indices)
    np.testing.assert_allclose(points[0], [-100.0, 20.0, 300.0])
    np.testing.assert_allclose(volume.lps_to_index(points), indices, atol=1e-9)
    np.testing.assert_allclose(volume.spacing_mm, [0.625, 0.4, 0.4])
    assert volume.hu.dtype == np.float32


def test_ras_affine_flips_only_x_and_y() -> None:
    volume = Volume(np.zeros((2, 2, 2)), _affine(np.diag([1.0, 2.0, 3.0]), (10.0, 20.0, 30.0)))
    ras = volume.affine_ras
    np.testing.assert_allclose(ras[:3, 3], [-10.0, -20.0, 30.0])
    np.testing.assert_allclose(np.diag(ras)[:3], [-1.0, -2.0, 3.0])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        (np.eye(3), "must be 4x4"),
        (np.diag([1.0, 1.0, 0.0, 1.0]), "zero-length"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1.0]]), "last row"),
        (_affine(np.array([[1.0, 0.3, 0], [0, 1.0, 0], [0, 0, 1.0]]), (0, 0, 0)), "orthogonal"),
        (np.full((4, 4), np.nan), "non-finite"),
    ],
)
def test_invalid_affines_are_refused_with_the_rule(matrix: np.ndarray, message: str) -> None:
    with pytest.raises(GeometryValueError, match=message):
        validate_affine(matrix)


def test_per_slice_identity_must_match_the_slice_count() -> None:
    with pytest.raises(GeometryValueError, match="3 entries for 2 slices"):
        Volume(np.zeros((2, 3, 3)), np.eye(4), sop_instance_uids=("1", "2", "3"))
