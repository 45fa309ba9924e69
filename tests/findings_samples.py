"""A small analysed CCTA case for the output writers' tests (SEG, SR, SC, PDF).

:func:`sample_case` renders analytic coronary trees (LM, LAD with a diagonal D1 and a
septal branch, LCx, RCA) into a 64 x 96 x 96 CT grid at 0.5 mm, writes it as a CT
series, reads it back with pydicom, and fills :class:`Findings` by hand from the
geometry it drew: names, SCCT segment per centreline point, lumen profiles (measured
with :func:`ccta_ai.analysis.coronary.measure_tree`), three lesions (mixed plaque with
high-risk features in the pLAD, calcified in the mRCA, non-calcified in the pLCx) and a
CAD-RADS 2.0 grade. Its label maps agree with the findings: each lesion's plaque
volumes are its plaque voxels times the voxel volume.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

from ccta_ai.analysis.coronary import measure_tree
from ccta_ai.analysis.findings import (
    AlgorithmIdentity,
    Findings,
    Grade,
    ImageQuality,
    Lesion,
    Plaque,
)
from ccta_ai.analysis.plaque import LOW_ATTENUATION, POSITIVE_REMODELLING
from ccta_ai.analysis.trace import CenterlineTree, TracedVessel
from ccta_ai.dicom_out.ct import sop_instance_uid_for, write_ct_series
from ccta_ai.imaging.volume import Volume
from ccta_ai.phantom.labels import OTHER_BRANCH
from ct_samples import sample_acquisition, sample_study

SHAPE = (64, 96, 96)
SPACING_MM = 0.5
STEP_MM = 0.5
LUMEN_HU = 420.0
FAT_HU = -80.0
CALCIFIED_HU = 900.0
NON_CALCIFIED_HU = 40.0
CALCIFIED_LABEL = 1
NON_CALCIFIED_LABEL = 2
MODEL_SHA256 = hashlib.sha256(b"ccta-ai sample model weights").hexdigest()


@dataclass
class SampleCase:
    """A rendered, written and 'analysed' CT series (see the module docstring)."""

    volume: Volume
    datasets: list[Dataset]  # read back with pydicom, in the volume's axis-0 order
    findings: Findings
    segment_labels: np.ndarray  # uint8: SCCT 1-18, 19 other branches, 0 background
    plaque_labels: np.ndarray  # uint8: 1 calcified, 2 non-calcified, 0 none
    paths: list[Path] = field(default_factory=list)  # the CT files, same order


@dataclass
class _VesselDesign:
    name: str
    control_lps_mm: list[tuple[float, float, float]]  # cubic Bezier control points
    radius_mm: tuple[float, float]  # proximal, distal (linear taper)
    segments: list[tuple[float, int | None]]  # (start s in mm, SCCT number) in order
    parent: int | None = None
    parent_s_mm: float | None = None  # where on the parent it branches off
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


@dataclass(frozen=True)
class _LesionDesign:
    vessel: int
    centre_s_mm: float
    plateau_mm: float
    ramp_mm: float
    severity: float  # fraction of the reference diameter lost at the site
    composition: str  # "calcified", "non-calcified", "mixed"
    grade: str  # per-lesion stenosis grade, as ccta_ai.analysis.grade.lesion_grade words
    high_risk_features: tuple[str, ...] = ()
    remodelling_index: float | None = None


def _designs() -> list[_VesselDesign]:
    """The trees in LPS mm (x left, y posterior, z head); the grid spans x, y in
    [-24, 23.5] and z in [-29, 2.5]."""
    lm = _VesselDesign(
        "LM", [(2, -18, -3), (3, -17, -3.5), (5, -15, -4.5), (6, -14, -5)], (2.0, 1.9), [(0.0, 5)]
    )
    lad = _VesselDesign(
        "LAD",
        [(6, -14, -5), (12, -19, -10), (16, -17, -20), (18, -10, -27)],
        (1.7, 1.1),
        [(0.0, 6), (9.0, 7), (19.0, 8)],
        parent=0,
    )
    lcx = _VesselDesign(
        "LCx",
        [(6, -14, -5), (10, -8, -6), (14, 0, -8), (16, 12, -14)],
        (1.6, 1.1),
        [(0.0, 11), (12.0, 13)],
        parent=0,
    )
    rca = _VesselDesign(
        "RCA",
        [(-4, -18, -3), (-14, -19, -8), (-21, -8, -16), (-18, 12, -26.5)],
        (1.9, 1.3),
        [(0.0, 1), (12.0, 2), (26.0, 3)],
    )
    d1 = _VesselDesign(
        "D1",
        [(0, 0, 0), (3, 0, -1), (6, 1, -3), (8, 3, -5)],
        (1.1, 0.9),
        [(0.0, 9)],
        parent=1,
        parent_s_mm=9.0,
    )
    septal = _VesselDesign(
        "S1",
        [(0, 0, 0), (-1, 2, -1), (-2, 4, -2), (-2, 6, -3)],
        (0.8, 0.7),
        [(0.0, None)],
        parent=1,
        parent_s_mm=15.0,
    )
    return [lm, lad, lcx, rca, d1, septal]  # fmt: skip


LESIONS = (
    _LesionDesign(1, 4.5, 2.0, 1.5, 0.72, "mixed", "severe",
                  (POSITIVE_REMODELLING, LOW_ATTENUATION), 1.25),
    _LesionDesign(3, 18.0, 2.0, 1.5, 0.45, "calcified", "mild"),
    _LesionDesign(2, 7.0, 1.5, 1.5, 0.35, "non-calcified", "mild"),
)  # fmt: skip


def _bezier(control: np.ndarray, step_mm: float) -> np.ndarray:
    """A cubic Bezier curve resampled at ``step_mm`` arc-length steps."""
    t = np.linspace(0.0, 1.0, 2001)[:, None]
    p0, p1, p2, p3 = control
    dense = (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    targets = np.arange(0.0, s[-1] + 1e-9, step_mm)
    return np.stack([np.interp(targets, s, dense[:, i]) for i in range(3)], axis=1)


def _bump(s_mm: np.ndarray, lesion: _LesionDesign) -> np.ndarray:
    distance = np.abs(s_mm - lesion.centre_s_mm) - lesion.plateau_mm / 2.0
    ramp = 0.5 * (1.0 + np.cos(np.pi * np.clip(distance / lesion.ramp_mm, 0.0, 1.0)))
    return np.where(distance <= 0, 1.0, ramp)


def _affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, 0] = (0.0, 0.0, -SPACING_MM)  # slices head -> feet
    affine[:3, 1] = (0.0, SPACING_MM, 0.0)
    affine[:3, 2] = (SPACING_MM, 0.0, 0.0)
    affine[:3, 3] = (-24.0, -24.0, 2.5)
    return affine


def _build_geometry() -> tuple[list[_VesselDesign], list[np.ndarray], list[np.ndarray]]:
    """Vessel points, reference radius and lumen radius per point."""
    designs = _designs()
    references, lumens = [], []
    for design in designs:
        control = np.asarray(design.control_lps_mm, dtype=np.float64)
        if design.parent is not None:
            parent = designs[design.parent]
            if design.parent_s_mm is None:
                control = control - control[0] + parent.points[-1]
            else:
                control = control + parent.points[round(design.parent_s_mm / STEP_MM)]
        design.points = _bezier(control, STEP_MM)
        s_mm = np.arange(len(design.points)) * STEP_MM
        fraction = s_mm / max(float(s_mm[-1]), 1e-9)
        reference = design.radius_mm[0] + (design.radius_mm[1] - design.radius_mm[0]) * fraction
        lumen = reference.copy()
        for lesion in LESIONS:
            if designs[lesion.vessel] is design:
                lumen *= 1.0 - lesion.severity * _bump(s_mm, lesion)
        references.append(reference)
        lumens.append(lumen)
    return designs, references, lumens


def _parent_point(designs: list[_VesselDesign], design: _VesselDesign) -> int | None:
    if design.parent is None:
        return None
    if design.parent_s_mm is None:
        return len(designs[design.parent].points) - 1
    return round(design.parent_s_mm / STEP_MM)


def _segment_per_point(design: _VesselDesign) -> list[int | None]:
    s_mm = np.arange(len(design.points)) * STEP_MM
    out: list[int | None] = []
    for s in s_mm:
        number = None
        for start, segment in design.segments:
            if s >= start:
                number = segment
        out.append(number)
    return out


def _render(
    designs: list[_VesselDesign], references: list[np.ndarray], lumens: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HU image, SCCT label map and plaque label map on the grid."""
    affine = _affine()
    grid = np.indices(SHAPE).reshape(3, -1).T.astype(np.float64)
    lps = grid @ affine[:3, :3].T + affine[:3, 3]
    points = np.concatenate([d.points for d in designs])
    owner = np.concatenate([np.full(len(d.points), i) for i, d in enumerate(designs)])
    index = np.concatenate([np.arange(len(d.points)) for d in designs])
    reference = np.concatenate(references)
    lumen = np.concatenate(lumens)
    segment = np.array(
        [OTHER_BRANCH if n is None else n for d in designs for n in _segment_per_point(d)]
    )
    distance, nearest = cKDTree(points).query(lps, distance_upper_bound=4.0)
    near = np.isfinite(distance)
    hit = np.flatnonzero(near)
    nearest = nearest[near]
    distance = distance[near]
    inside = distance <= lumen[nearest]
    segment_labels = np.zeros(len(lps), dtype=np.uint8)
    segment_labels[hit[inside]] = segment[nearest[inside]]
    plaque_labels = np.zeros(len(lps), dtype=np.uint8)
    wall = (distance > lumen[nearest]) & (distance <= reference[nearest] + 0.25)
    for lesion in LESIONS:
        s_mm = index[nearest] * STEP_MM
        mine = wall & (owner[nearest] == lesion.vessel)
        mine &= _bump(s_mm, lesion) > 0.05
        if lesion.composition == "mixed":  # calcified on one side, soft on the other
            side = (lps[hit] - points[nearest]) @ np.array([0.0, 0.0, 1.0]) > 0
            plaque_labels[hit[mine & side]] = CALCIFIED_LABEL
            plaque_labels[hit[mine & ~side]] = NON_CALCIFIED_LABEL
        else:
            label = CALCIFIED_LABEL if lesion.composition == "calcified" else NON_CALCIFIED_LABEL
            plaque_labels[hit[mine]] = label
    hu = np.full(len(lps), FAT_HU)
    hu[plaque_labels == CALCIFIED_LABEL] = CALCIFIED_HU
    hu[plaque_labels == NON_CALCIFIED_LABEL] = NON_CALCIFIED_HU
    hu[segment_labels > 0] = LUMEN_HU
    image = gaussian_filter(hu.reshape(SHAPE), sigma=0.6)
    image += np.random.default_rng(7).normal(0.0, 10.0, SHAPE)
    return (
        np.round(image).astype(np.float32),
        segment_labels.reshape(SHAPE),
        plaque_labels.reshape(SHAPE),
    )


def _lesion(
    lesion: _LesionDesign,
    design: _VesselDesign,
    reference: np.ndarray,
    lumen: np.ndarray,
    plaque_voxels: tuple[int, int],
) -> Lesion:
    s_mm = np.arange(len(design.points)) * STEP_MM
    site = int(np.argmin(lumen / reference))
    extent = lesion.plateau_mm / 2.0 + lesion.ramp_mm
    voxel_mm3 = SPACING_MM**3
    calcified_mm3 = plaque_voxels[0] * voxel_mm3
    non_calcified_mm3 = plaque_voxels[1] * voxel_mm3
    mld_mm = 2.0 * float(lumen[site])
    reference_mm = 2.0 * float(reference[site])
    start_s_mm = max(lesion.centre_s_mm - extent, 0.0)
    end_s_mm = min(lesion.centre_s_mm + extent, float(s_mm[-1]))
    segment = _segment_per_point(design)[site]
    return Lesion(
        vessel_id=lesion.vessel,
        start_s_mm=start_s_mm,
        end_s_mm=end_s_mm,
        mld_s_mm=float(s_mm[site]),
        mld_position_lps_mm=[float(x) for x in design.points[site]],
        pct_diameter_stenosis=round(100.0 * (1.0 - mld_mm / reference_mm), 1),
        pct_area_stenosis=round(100.0 * (1.0 - (mld_mm / reference_mm) ** 2), 1),
        mld_mm=round(mld_mm, 2),
        mla_mm2=round(np.pi * float(lumen[site]) ** 2, 2),
        reference_diameter_mm=round(reference_mm, 2),
        length_mm=end_s_mm - start_s_mm,
        segment=segment,
        plaque=Plaque(
            composition=lesion.composition,
            volume_mm3=calcified_mm3 + non_calcified_mm3,
            calcified_volume_mm3=calcified_mm3,
            non_calcified_volume_mm3=non_calcified_mm3,
            low_attenuation_volume_mm3=(
                round(0.3 * non_calcified_mm3, 3) if lesion.high_risk_features else 0.0
            ),
            high_risk_features=list(lesion.high_risk_features),
            remodelling_index=lesion.remodelling_index,
        ),
        grade=lesion.grade,
    )


def _plaque_voxels(
    designs: list[_VesselDesign], plaque_labels: np.ndarray, lesion: _LesionDesign
) -> tuple[int, int]:
    """Calcified and non-calcified voxels nearest to ``lesion``'s extent."""
    affine = _affine()
    voxels = np.argwhere(plaque_labels > 0)
    lps = voxels @ affine[:3, :3].T + affine[:3, 3]
    points = np.concatenate([d.points for d in designs])
    owner = np.concatenate([np.full(len(d.points), i) for i, d in enumerate(designs)])
    index = np.concatenate([np.arange(len(d.points)) for d in designs])
    _, nearest = cKDTree(points).query(lps)
    mine = (owner[nearest] == lesion.vessel) & (_bump(index[nearest] * STEP_MM, lesion) > 0.05)
    labels = plaque_labels[tuple(voxels[mine].T)]
    return int(np.sum(labels == CALCIFIED_LABEL)), int(np.sum(labels == NON_CALCIFIED_LABEL))


def sample_case(tmp_path: Path, version: str = "0.1.0") -> SampleCase:
    """Render, write (into ``tmp_path / "ct"``), read back and 'analyse' the sample case.

    ``version`` is the algorithm version recorded in the findings (change it to check
    that output UIDs change with it).
    """
    designs, references, lumens = _build_geometry()
    hu, segment_labels, plaque_labels = _render(designs, references, lumens)
    study = sample_study()
    acquisition = sample_acquisition()
    series_uid = acquisition.series_instance_uid
    volume = Volume(
        hu,
        _affine(),
        series_instance_uid=series_uid,
        frame_of_reference_uid=study.frame_of_reference_uid,
        sop_instance_uids=tuple(sop_instance_uid_for(series_uid, k) for k in range(SHAPE[0])),
        frame_numbers=(1,) * SHAPE[0],
    )
    paths = write_ct_series(volume, study, acquisition, tmp_path / "ct")
    datasets: list[Dataset] = [pydicom.dcmread(path) for path in paths]

    tree = CenterlineTree(
        vessels=[
            TracedVessel(
                points_lps_mm=d.points,
                radius_mm=lumen,
                bridged=np.zeros(len(d.points), dtype=bool),
                parent=d.parent,
                parent_point=_parent_point(designs, d),
                tree=0 if d.name != "RCA" else 1,
                origin="ostium",
            )
            for d, lumen in zip(designs, lumens, strict=True)
        ]
    )
    vessels, _ = measure_tree(volume, tree)
    for vessel, design in zip(vessels, designs, strict=True):
        vessel.name = design.name
        vessel.centerline.segment = _segment_per_point(design)
    lesions = [
        _lesion(
            lesion,
            designs[lesion.vessel],
            references[lesion.vessel],
            lumens[lesion.vessel],
            _plaque_voxels(designs, plaque_labels, lesion),
        )
        for lesion in LESIONS
    ]
    findings = Findings(
        series_instance_uid=series_uid,
        frame_of_reference_uid=study.frame_of_reference_uid,
        algorithm=AlgorithmIdentity(
            name="ccta-ai",
            version=version,
            model_name="coronary-lumen-unet",
            model_sha256=MODEL_SHA256,
            parameters={"lumen_threshold": "0.5", "stenosis_min_pct": "25"},
        ),
        vessels=vessels,
        lesions=lesions,
        grade=Grade(
            cad_rads="4A",
            modifiers=["HRP"],
            plaque_burden="P2",
            segment_involvement_score=3,
            reasons=[
                "maximal stenosis 72% (70-99%) in the pLAD",
                "high-risk plaque: positive remodelling and low-attenuation plaque in the pLAD",
                "segment involvement score 3 (P2: 3-4 segments)",
            ],
            management="Consider ICA or functional assessment; risk factor modification.",
        ),
        dominance="right",
        image_quality=ImageQuality(score="diagnostic"),
    )
    return SampleCase(volume, datasets, findings, segment_labels, plaque_labels, paths)
