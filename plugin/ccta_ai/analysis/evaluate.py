"""Metrics of ``ccta-ai bench accuracy``: analysis results scored against phantom truth.

Each metric takes the analysis output (``Findings`` parts) and the phantom's truth dict
(``docs/truth.md``) and is self-contained. Positions are patient LPS mm.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ccta_ai.analysis.findings import Findings, Lesion, Vessel

NAMING_MATCH_MM = 2.0
NAMING_TIE_MM = 0.5


def naming_accuracy(
    vessels: list[Vessel], truth: dict[str, Any], match_mm: float = NAMING_MATCH_MM
) -> float:
    """Fraction of the true centreline length (segments 1-18) given the right segment.

    Every true centreline point with an SCCT segment counts with its share of the
    length (half of each neighbouring step). It is right when a traced point lies
    within ``match_mm`` and the nearest traced points (those within
    :data:`NAMING_TIE_MM` of the nearest, so that the duplicated first point of a
    branch at a junction is no penalty) include one with the same segment. True
    length that no traced point comes near counts as wrong, so missed vessels lower
    the score. Returns 0 when the truth has no labelled centreline.
    """
    points, segments = [], []
    for vessel in vessels:
        for point, segment in zip(
            vessel.centerline.points_lps_mm, vessel.centerline.segment, strict=False
        ):
            points.append(point)
            segments.append(-1 if segment is None else int(segment))
    total_mm, right_mm = 0.0, 0.0
    index = cKDTree(np.asarray(points, dtype=np.float64)) if points else None
    labels = np.asarray(segments, dtype=int)
    for true_vessel in truth.get("vessels", []):
        true_points = np.asarray(true_vessel["points_lps_mm"], dtype=np.float64).reshape(-1, 3)
        true_segments = np.asarray(
            [0 if s is None else int(s) for s in true_vessel["segment"]], dtype=int
        )
        weights = _point_lengths_mm(true_points)
        scored = (true_segments >= 1) & (true_segments <= 18)
        total_mm += float(weights[scored].sum())
        if index is None or not scored.any():
            continue
        nearest_mm, _ = index.query(true_points[scored], distance_upper_bound=match_mm)
        for point, segment, weight, near in zip(
            true_points[scored], true_segments[scored], weights[scored], nearest_mm, strict=True
        ):
            if not np.isfinite(near):
                continue
            ties = index.query_ball_point(point, r=float(near) + NAMING_TIE_MM)
            if np.any(labels[ties] == segment):
                right_mm += float(weight)
    return right_mm / total_mm if total_mm > 0 else 0.0


def _point_lengths_mm(points: np.ndarray) -> np.ndarray:
    """Length each point of a polyline stands for: half of each neighbouring step."""
    if len(points) < 2:
        return np.zeros(len(points))
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    return np.concatenate([[0.0], steps / 2.0]) + np.concatenate([steps / 2.0, [0.0]])


# --- segmentation, centreline, lesion, plaque and grade metrics -------------------------

LESION_MATCH_MM = 5.0


def lumen_dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient of two bool masks on the same grid (1 when both are empty)."""
    a, b = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * float(np.logical_and(a, b).sum()) / total


def centerline_overlap(vessels: list[Vessel], truth: dict[str, Any]) -> float:
    """CAT08 overlap OV = (TPR + TPM) / (TPR + TPM + FN + FP).

    Points are compared by the length they stand for. A true point is a true positive
    (TPR) when a traced point lies within its true radius (at least 0.5 mm), else a
    false negative; a traced point is a true positive (TPM) when it lies within the
    radius of its nearest true point, else a false positive (Schaap et al., Med Image
    Anal 2009).
    """
    true_points, true_radius, true_weight = [], [], []
    for vessel in truth.get("vessels", []):
        points = np.asarray(vessel["points_lps_mm"], dtype=np.float64).reshape(-1, 3)
        true_points.append(points)
        true_radius.append(np.maximum(np.asarray(vessel["radius_mm"], dtype=np.float64), 0.5))
        true_weight.append(_point_lengths_mm(points))
    traced = [
        np.asarray(v.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3) for v in vessels
    ]
    if not true_points or not any(len(p) for p in traced):
        return 0.0
    t_points, t_radius = np.concatenate(true_points), np.concatenate(true_radius)
    t_weight = np.concatenate(true_weight)
    m_points = np.concatenate([p for p in traced if len(p)])
    m_weight = np.concatenate([_point_lengths_mm(p) for p in traced if len(p)])
    near_m, _ = cKDTree(m_points).query(t_points)
    hit_r = near_m <= t_radius
    near_t, which = cKDTree(t_points).query(m_points)
    hit_m = near_t <= t_radius[which]
    tpr, fn = float(t_weight[hit_r].sum()), float(t_weight[~hit_r].sum())
    tpm, fp = float(m_weight[hit_m].sum()), float(m_weight[~hit_m].sum())
    total = tpr + tpm + fn + fp
    return (tpr + tpm) / total if total > 0 else 0.0


def _lesion_matches(lesions: list[Lesion], truth: dict[str, Any], match_mm: float) -> np.ndarray:
    """``(n_true, n_found)`` bool: the found lesion's site lies on the true lesion."""
    true = truth.get("lesions", [])
    result = np.zeros((len(true), len(lesions)), dtype=bool)
    for i, item in enumerate(true):
        centre = np.asarray(item["center_lps_mm"], dtype=np.float64)
        reach = 0.5 * float(item["length_mm"]) + match_mm
        for j, lesion in enumerate(lesions):
            result[i, j] = np.linalg.norm(np.asarray(lesion.mld_position_lps_mm) - centre) <= reach
    return result


def _stenosis(lesion: Lesion) -> float:
    return 100.0 if lesion.occlusion else lesion.pct_diameter_stenosis


def lesion_detection(
    lesions: list[Lesion],
    truth: dict[str, Any],
    threshold_pct: float,
    match_mm: float = LESION_MATCH_MM,
) -> dict[str, int]:
    """Counts for sensitivity and PPV at a stenosis threshold.

    ``true``: true lesions >= threshold; ``detected``: those matched by a found lesion
    >= threshold; ``found``: found lesions >= threshold; ``confirmed``: those matching a
    true lesion >= threshold. A match is a found site within half the true lesion's
    length plus ``match_mm`` of its centre.
    """
    matches = _lesion_matches(lesions, truth, match_mm)
    true_pct = [float(item["pct_diameter_stenosis"]) for item in truth.get("lesions", [])]
    true_big = np.array([pct >= threshold_pct for pct in true_pct], bool)
    found_big = np.array([_stenosis(lesion) >= threshold_pct for lesion in lesions], dtype=bool)
    both = matches & true_big[:, None] & found_big[None, :]
    return {
        "true": int(true_big.sum()),
        "detected": int(both.any(axis=1).sum()),
        "found": int(found_big.sum()),
        "confirmed": int(both.any(axis=0).sum()),
    }


def matched_lesion_errors(
    lesions: list[Lesion], truth: dict[str, Any], match_mm: float = LESION_MATCH_MM
) -> list[tuple[float, bool]]:
    """Per matched true lesion: (|% diameter stenosis error|, plaque type right).

    Each true lesion is paired with the most stenotic found lesion on it.
    """
    matches = _lesion_matches(lesions, truth, match_mm)
    result = []
    for i, item in enumerate(truth.get("lesions", [])):
        candidates = np.flatnonzero(matches[i])
        if len(candidates) == 0:
            continue
        best = lesions[int(max(candidates, key=lambda j: _stenosis(lesions[j])))]
        error = abs(_stenosis(best) - float(item["pct_diameter_stenosis"]))
        kind = best.plaque.composition if best.plaque is not None else ""
        result.append((error, kind == item["plaque_type"]))
    return result


def cad_rads_agrees(findings: Findings, truth: dict[str, Any]) -> bool:
    """The found CAD-RADS category equals the truth's."""
    found = findings.grade.cad_rads if findings.grade is not None else ""
    return found == str(truth.get("cad_rads", {}).get("category", ""))
