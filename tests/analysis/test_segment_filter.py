"""Anatomical rejection of false lumen: a lung vessel, bone marrow, a chamber edge and a
tube far from the heart go; coronaries beside the lung, the bone and the chamber stay."""

from __future__ import annotations

import numpy as np

from ccta_ai.analysis.segment_filter import reject_false_lumen
from ccta_ai.imaging.volume import Volume

SPACING_MM = 0.5
SHAPE = (120, 160, 160)


def _scene() -> tuple[Volume, dict[str, np.ndarray]]:
    k, r, c = np.indices(SHAPE, dtype=np.float32) * SPACING_MM  # mm
    hu = np.full(SHAPE, -90.0, dtype=np.float32)  # fat
    parts: dict[str, np.ndarray] = {}
    lung = c >= 55.0
    hu[lung] = -850.0
    parts["lung vessel"] = (np.hypot(r - 40.0, c - 68.0) <= 2.0) & (k > 10) & (k < 50)
    cortex = (np.abs(r - 12.0) <= 6.0) & (np.abs(c - 20.0) <= 10.0) & (k > 5) & (k < 55)
    marrow = (np.abs(r - 12.0) <= 4.5) & (np.abs(c - 20.0) <= 8.5) & (k > 5) & (k < 55)
    hu[cortex] = 900.0
    hu[marrow] = 260.0
    parts["marrow"] = marrow
    chamber = np.hypot(r - 55.0, c - 25.0) <= 15.0  # a 4 mm band of it is false lumen
    hu[chamber] = 400.0
    parts["chamber edge"] = chamber & (np.hypot(r - 55.0, c - 25.0) >= 11.0) & (k < 30)
    parts["far tube"] = (np.hypot(r - 10.0, c - 45.0) <= 1.5) & (k > 5) & (k < 55)
    hu[parts["far tube"]] = 380.0
    # coronaries 12-17 mm from the chamber: 5 mm from the lung, 4 mm from the bone
    coronary = (np.hypot(r - 40.0, c - 48.0) <= 1.5) & (k > 5) & (k < 55)
    coronary |= (np.hypot(r - 72.0, c - 20.0) <= 1.5) & (k > 5) & (k < 55)
    coronary |= (np.hypot(r - 22.0 - 1.5, c - 20.0) <= 1.5) & (k > 5) & (k < 55) & ~cortex
    hu[coronary] = 380.0
    parts["coronary"] = coronary
    rng = np.random.default_rng(0)
    hu += rng.normal(0.0, 15.0, SHAPE).astype(np.float32)
    affine = np.diag([SPACING_MM, SPACING_MM, SPACING_MM, 1.0])
    return Volume(hu, affine), parts


def test_lung_vessel_bone_chamber_edge_and_far_tube_go_the_coronary_stays() -> None:
    volume, parts = _scene()
    lumen = np.zeros(volume.shape, dtype=bool)
    for mask in parts.values():
        lumen |= mask

    result = reject_false_lumen(volume, lumen)

    kept = result.lumen
    assert (kept & parts["coronary"]).sum() >= 0.98 * parts["coronary"].sum()
    assert not (kept & parts["lung vessel"]).any()
    assert not (kept & parts["marrow"]).any()
    # all but a rim of about a millimetre (the 2 mm grid) at the chamber's boundary
    assert (kept & parts["chamber edge"]).sum() <= 0.3 * parts["chamber edge"].sum()
    assert not (kept & parts["far tube"]).any()
    assert result.removed["lung"] == parts["lung vessel"].sum()
    assert result.removed["bone"] == parts["marrow"].sum()
    assert result.removed["far"] == parts["far tube"].sum()
    text = " ".join(result.notes)
    assert "lungs" in text and "bone" in text and "chambers" in text and "from the heart" in text


def test_nothing_to_filter_is_returned_unchanged() -> None:
    volume, parts = _scene()
    empty = np.zeros(volume.shape, dtype=bool)
    assert not reject_false_lumen(volume, empty).lumen.any()
    only_coronary = reject_false_lumen(volume, parts["coronary"])
    assert (only_coronary.lumen == parts["coronary"]).all()
    assert only_coronary.notes == []
