"""The accuracy benchmark scores the lumen the product stores (the SEG's), not the
segmentation stage's mask with the blobs the tracer rejected."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ccta_ai.analysis.bench import Tally, print_table, score_case
from ccta_ai.analysis.findings import Findings
from ccta_ai.analysis.pipeline import Analysis


def test_lumen_dice_is_the_segs_and_the_segmentation_stages_is_kept_beside_it() -> None:
    shape = (12, 12, 12)
    truth_lumen = np.zeros(shape, dtype=bool)
    truth_lumen[2:6, 2:6, 2:6] = True  # 64 voxels
    segment_labels = np.zeros(shape, dtype=np.uint8)
    segment_labels[2:6, 2:6, 2:5] = 6  # 48 of them, named pLAD
    segmented = segment_labels > 0
    segmented[8:12, 8:12, 8:12] = True  # a vein the tracer left out: 64 voxels
    analysis = Analysis(
        Findings(series_instance_uid="1.2.3", frame_of_reference_uid="1.2.4"),
        segment_labels,
        np.zeros(shape, dtype=np.uint8),
        segmented,
    )
    truth = {"vessels": [], "lesions": [], "cad_rads": {"category": "0"}}
    tally = Tally()

    line = score_case(analysis, truth_lumen, truth, tally, seconds=1.0)

    assert tally.dice == [2 * 48 / (48 + 64)]  # 0.857
    assert tally.segmentation_dice == [2 * 48 / (112 + 64)]  # 0.545
    assert line.startswith("Dice 0.857 (segmentation 0.545) ")


def test_a_miss_by_a_hair_is_not_printed_as_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    tally = Tally(dice=[0.86], segmentation_dice=[0.85], overlap=[0.89994], naming=[0.95],
                  errors=[5.0], types=[True], cad_rads=[True], seconds=[10.0])  # fmt: skip
    for threshold in (50.0, 70.0):
        tally.add_counts(threshold, {"true": 1, "detected": 1, "found": 1, "confirmed": 1})
    args = argparse.Namespace(cases=1, size="full", first_seed=100000, oracle_segmentation=False)
    print_table(tally, args)
    printed = capsys.readouterr().out
    (overlap,) = [line for line in printed.splitlines() if line.startswith("centerline OV")]
    assert "0.8999" in overlap and overlap.split()[-1] == "MISS"
    (dice,) = [line for line in printed.splitlines() if line.startswith("lumen Dice")]
    assert " 0.860 " in dice and "segmentation stage 0.850" in dice
