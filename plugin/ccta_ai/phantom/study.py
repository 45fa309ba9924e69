"""One synthetic CCTA study with its ground truth: generate it in memory, or write it.

``generate_study(seed, size)`` draws every parameter from the seed (see
:mod:`ccta_ai.phantom.params`), builds the anatomy, paints it on the scanner's grid and
forms the images; ``write_study`` writes the three DICOM series, the label maps (NIfTI)
and ``truth.json`` (schema: ``docs/truth.md``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ccta_ai.imaging.volume import Volume
from ccta_ai.phantom.body import Body, build_body
from ccta_ai.phantom.coronary import Vessel, build_tree
from ccta_ai.phantom.heart import Heart, build_heart
from ccta_ai.phantom.imaging import (
    form_calcium,
    form_ccta,
    localizer_grid,
    plan_ccta_grid,
    project_localizer,
)
from ccta_ai.phantom.labels import Anatomy
from ccta_ai.phantom.layers import body_layers, coronary_layers, heart_layers
from ccta_ai.phantom.lesions import Lesion, draw_lesions, plaque_geometry
from ccta_ai.phantom.params import (
    ScanParams,
    check_seed,
    check_size,
    draw_contrast,
    draw_heart,
    draw_patient,
    draw_scan,
    stream,
)
from ccta_ai.phantom.raster import Canvas, Grid, new_canvas, paint, paint_invariant
from ccta_ai.phantom.series import acquisitions, series_uids, study_identity, write_all
from ccta_ai.phantom.shapes import box_spans, tube_fields
from ccta_ai.phantom.truth import (
    GENERATOR_REVISION,
    SCHEMA_VERSION,
    cad_rads,
    image_truth,
    lesion_truth,
    vessel_truth,
)

LOCALIZER_SPACING_MM = {"small": 3.0, "full": 2.0}


@dataclass
class PhantomStudy:
    """A generated study. Volumes are in HU with voxel->LPS affines; the label maps
    are on the CCTA grid (``lumen_labels``: SCCT segment 1-18, 19 other branches;
    ``anatomy_labels``: :class:`ccta_ai.phantom.labels.Anatomy`)."""

    seed: int
    size: str
    ccta: Volume
    calcium: Volume
    lumen_labels: np.ndarray
    anatomy_labels: np.ndarray
    truth: dict[str, Any]
    localizer_hu: np.ndarray
    localizer_spacing_mm: float
    localizer_position_lps: np.ndarray
    scan: ScanParams
    vessels: list[Vessel] = field(default_factory=list)
    lesions: list[Lesion] = field(default_factory=list)


def generate_study(seed: int, size: str = "full") -> PhantomStudy:
    """Generate the study of ``seed`` in memory (no files); ``size`` "small" or "full"."""
    seed, size = check_seed(seed), check_size(size)
    patient, contrast = draw_patient(seed), draw_contrast(seed)
    scan = draw_scan(seed, size)
    heart = build_heart(draw_heart(seed))
    vessels = build_tree(heart, stream(seed, "coronary"))
    lesions = draw_lesions(vessels, stream(seed, "lesions"))
    body = build_body(heart, patient, stream(seed, "body"))

    grid = _ccta_grid(scan, heart)
    canvas = new_canvas(grid)
    invariant, varying = body_layers(body, contrast)
    paint_invariant(canvas, invariant)
    for layer in (
        varying
        + heart_layers(heart, body, vessels, contrast)
        + coronary_layers(vessels, lesions, contrast)
    ):
        paint(canvas, layer)
    uids = series_uids(seed, size)
    ccta_hu = form_ccta(canvas, scan, stream(seed, "noise"))
    ccta = Volume(ccta_hu, grid.affine, uids["ccta"], uids["frame_of_reference"])
    calcium_hu, centres = form_calcium(canvas, scan, stream(seed, "calcium noise"))
    calcium = Volume(
        calcium_hu, _calcium_affine(grid, centres), uids["calcium"], uids["frame_of_reference"]
    )
    loc_hu, loc_spacing, loc_pos = _localizer(seed, size, grid, body, heart, contrast)

    to_lps = grid.offset_mm
    by_name = {v.name: v for v in vessels}
    lesion_dicts = [
        lesion_truth(les, by_name[les.vessel], to_lps, _plaque_volumes(canvas, by_name, les))
        for les in lesions
    ]
    truth: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator_revision": GENERATOR_REVISION,
        "seed": seed,
        "size": size,
        "study_instance_uid": uids["study"],
        "frame_of_reference_uid": uids["frame_of_reference"],
        "series": {name: uids[name] for name in ("ccta", "calcium", "localizer")},
        "dominance": heart.params.dominance,
        "ostia_lps_mm": {
            side: [round(float(v), 3) for v in heart.points[f"ostium_{side}"] + to_lps]
            for side in ("left", "right")
        },
        "vessels": [vessel_truth(v, to_lps) for v in vessels],
        "lesions": lesion_dicts,
        "cad_rads": cad_rads(lesion_dicts),
        "image": image_truth(
            grid, grid.shape[0], contrast.aorta_hu, scan.noise_sd_hu, scan.patient_position
        ),
        "calcium_image": {
            "slice_thickness_mm": scan.calcium_slice_mm,
            "slices": int(calcium.shape[0]),
            "noise_hu": round(scan.calcium_noise_sd_hu, 1),
        },
        "patient": {
            "sex": patient.sex,
            "age_years": patient.age_years,
            "weight_kg": patient.weight_kg,
        },
        "heart": {
            "scale": round(heart.scale, 4),
            "ramus": heart.params.ramus,
            "epicardial_fat_mm": round(heart.params.epicardial_fat_mm, 2),
        },
    }
    return PhantomStudy(
        seed=seed,
        size=size,
        ccta=ccta,
        calcium=calcium,
        lumen_labels=canvas.lumen,
        anatomy_labels=canvas.labels,
        truth=truth,
        localizer_hu=loc_hu,
        localizer_spacing_mm=loc_spacing,
        localizer_position_lps=loc_pos,
        scan=scan,
        vessels=vessels,
        lesions=lesions,
    )


def _ccta_grid(scan: ScanParams, heart: Heart) -> Grid:
    bed = heart.shapes["bed"]
    lo, hi = bed.lo.copy(), bed.hi.copy()
    top = max(
        float(heart.points["ostium_left"][2]),
        float(heart.points["ostium_right"][2]),
        float(heart.points["pulmonary_bifurcation"][2]),
    )
    return plan_ccta_grid(scan, lo, hi, top, float(bed.lo[2]))


def _calcium_affine(grid: Grid, centres: np.ndarray) -> np.ndarray:
    affine = grid.affine.copy()
    dz = affine[:3, 0].copy()
    affine[:3, 3] = affine[:3, 3] + centres[0] * dz
    affine[:3, 0] = dz * (centres[1] - centres[0] if len(centres) > 1 else 1.0)
    return affine


def _localizer(
    seed: int, size: str, grid: Grid, body: Body, heart: Heart, contrast: Any
) -> tuple[np.ndarray, float, np.ndarray]:
    spacing = LOCALIZER_SPACING_MM[size]
    half = float(body.shapes["body"].hi[0])
    lo = np.array([-half, body.y_front_mm, 0.0])
    hi = np.array([half, body.y_back_mm, 0.0])
    lgrid = localizer_grid(grid, lo, hi, spacing)
    canvas = new_canvas(lgrid)
    invariant, varying = body_layers(body, contrast)
    paint_invariant(canvas, invariant)
    for layer in varying + heart_layers(heart, body, [], contrast):
        paint(canvas, layer)
    image = project_localizer(canvas.plain, spacing, stream(seed, "localizer noise"))
    position = np.array([lgrid.xs[0], 0.5 * (lo[1] + hi[1]), lgrid.zs[0]]) + lgrid.offset_mm
    return image, spacing, position


def _plaque_volumes(canvas: Canvas, vessels: dict[str, Vessel], lesion: Lesion) -> dict[str, float]:
    """Plaque volumes (mm3) counted on the painted label map near the lesion."""
    parts = plaque_geometry(vessels[lesion.vessel], lesion)
    centre, radius = parts["outer"]
    reach = radius + 2.0
    g = canvas.grid
    spans = box_spans(
        g.zs, g.ys, g.xs, centre.min(axis=0) - reach.max(), centre.max(axis=0) + reach.max()
    )
    if spans is None:
        return {"calcified": 0.0, "non_calcified": 0.0, "low_attenuation": 0.0}
    sdf, _ = tube_fields(g.zs[spans[0]], g.ys[spans[1]], g.xs[spans[2]], centre, reach, 1.0)
    near = sdf <= 0
    labels = canvas.labels[spans]
    voxel = float(np.prod(g.spacing_mm))
    count = {
        a: float(np.count_nonzero(near & (labels == a))) * voxel
        for a in (
            Anatomy.PLAQUE_CALCIFIED,
            Anatomy.PLAQUE_NONCALCIFIED,
            Anatomy.PLAQUE_LOW_ATTENUATION,
        )
    }
    return {
        "calcified": count[Anatomy.PLAQUE_CALCIFIED],
        "non_calcified": count[Anatomy.PLAQUE_NONCALCIFIED] + count[Anatomy.PLAQUE_LOW_ATTENUATION],
        "low_attenuation": count[Anatomy.PLAQUE_LOW_ATTENUATION],
    }


def write_study(out_dir: Path, seed: int, size: str = "full", preview: bool = False) -> dict:
    """Write the study of ``seed``: ``ccta/``, ``calcium/``, ``localizer/`` (DICOM),
    ``truth.json``, ``lumen_labels.nii.gz``, ``anatomy_labels.nii.gz`` and, with
    ``preview``, ``preview/*.png``. Returns the truth dict."""
    import nibabel as nib

    study = generate_study(seed, size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    identity = study_identity(study.seed, study.size, _patient_of(study))
    acq = acquisitions(study.seed, study.size, study.scan, _kvp_of(study), identity)
    write_all(
        out_dir,
        identity,
        acq,
        study.ccta,
        study.calcium,
        (study.localizer_hu, study.localizer_spacing_mm, study.localizer_position_lps),
    )
    affine_ras = study.ccta.affine_ras  # NIfTI is RAS: the Volume's one conversion
    for name, data in (
        ("lumen_labels", study.lumen_labels),
        ("anatomy_labels", study.anatomy_labels),
    ):
        image = nib.Nifti1Image(data, affine_ras)
        image.set_qform(affine_ras, code=1)
        image.set_sform(affine_ras, code=1)
        nib.save(image, out_dir / f"{name}.nii.gz")
    (out_dir / "truth.json").write_text(json.dumps(study.truth, indent=1) + "\n")
    if preview:
        from ccta_ai.phantom.preview import write_previews

        write_previews(study, out_dir / "preview")
    return study.truth


def _patient_of(study: PhantomStudy) -> Any:
    return draw_patient(study.seed)


def _kvp_of(study: PhantomStudy) -> float:
    return draw_contrast(study.seed).kvp
