"""Which vessels get CPRs, and which lesions a CPR marks: a lesion of an ancestor
beyond the branch point is not on the branch's path."""

from __future__ import annotations

import numpy as np

from ccta_ai.analysis.findings import Centerline, Findings, Lesion, Vessel
from ccta_ai.render.keyimages import cpr_vessels, lesion_marks
from ccta_ai.render.path import vessel_path


def _line(start: list[float], end: list[float], n: int) -> list[list[float]]:
    return np.linspace(start, end, n).tolist()


def _findings() -> Findings:
    """An LM+LAD of 100 mm (0.5 mm steps), an LCx branching 5 mm from the ostium, and a
    4 mm twig off the LCx that the naming also called LCx; a 75 % lesion at 80 mm of
    the LAD."""
    lad = _line([0, 0, 0], [0, 100, 0], 201)
    lcx = _line([0, 5, 0], [-85, 5, -30], 181)
    twig = _line(lcx[60], [lcx[60][0], 9.0, lcx[60][2]], 9)
    vessels = [
        Vessel(0, Centerline(lad, [1.5] * 201, [5] * 10 + [6] * 191), name="LAD"),
        Vessel(1, Centerline(lcx, [1.2] * 181, [11] * 181), name="LCx", parent_id=0,
               parent_point=10),
        Vessel(2, Centerline(twig, [0.5] * 9, [13] * 9), name="LCx", parent_id=1,
               parent_point=60),
    ]
    lesion = Lesion(0, 78.0, 82.0, 80.0, lad[160], 75.0, 94.0, 0.75, 0.44, 3.0, 4.0,
                    segment=6)
    return Findings(vessels=vessels, lesions=[lesion])


def test_a_twig_named_like_its_parent_gets_no_cprs_of_its_own() -> None:
    findings = _findings()
    assert [v.vessel_id for v in cpr_vessels(findings)] == [0, 1]


def test_an_ancestors_lesion_beyond_the_branch_point_is_not_marked_on_the_branch() -> None:
    findings = _findings()
    lad, lcx = findings.vessels[0], findings.vessels[1]
    lad_marks = lesion_marks(findings, vessel_path(findings, lad))
    assert [round(m.mld_s_mm) for m in lad_marks] == [80]
    lcx_path = vessel_path(findings, lcx)
    assert lcx_path.vessel_ids == (0, 1) and lcx_path.length_mm > 80.0  # long enough to hold it
    assert lesion_marks(findings, lcx_path) == []


def test_an_ancestors_lesion_before_the_branch_point_is_marked_on_the_branch() -> None:
    findings = _findings()
    findings.lesions[0].mld_s_mm, findings.lesions[0].start_s_mm = 3.0, 1.0
    findings.lesions[0].end_s_mm = 4.0
    marks = lesion_marks(findings, vessel_path(findings, findings.vessels[1]))
    assert [round(m.mld_s_mm) for m in marks] == [3]
