"""The coronary Segmentation (SEG, PS3.3 A.51) of one analysed CT series.

Segments, numbered in this order:

1. one per SCCT segment present in the lumen label map (1-18, by SCCT number), coded
   "Anatomical Structure" / its CID 3014 code; then "other coronary branches" (label
   19, "Coronary artery") when present. Per SCCT segment rather than per named vessel
   because CID 3014 codes exactly these segments, SCCT's segment is the unit of
   CAD-RADS findings, and the SR's lesions point at the segment they lie in;
2. calcified plaque, then non-calcified plaque ("Morphologically Abnormal Structure").

BINARY, one frame per source slice that holds any segment (empty frames omitted),
frames referencing the source CT images so viewers overlay them. Every segment carries
the algorithm identification (name, version, family "Artificial Intelligence", and the
model name and SHA-256 as parameters) and a deterministic tracking UID.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from ccta_ai import __version__
from ccta_ai.analysis.findings import AlgorithmIdentity, Findings
from ccta_ai.dicom_out import coding
from ccta_ai.dicom_out.common import (
    MANUFACTURER_MODEL_NAME,
    add_equipment,
    algorithm_version,
    copy_patient_and_study,
    highdicom_identity,
)
from ccta_ai.dicom_out.ct_modules import derived_uid
from ccta_ai.errors import InputError
from ccta_ai.imaging.volume import Volume
from ccta_ai.phantom.labels import OTHER_BRANCH, SCCT_SEGMENTS

CALCIFIED = 1
NON_CALCIFIED = 2


@dataclass(frozen=True)
class SegmentPlan:
    """One SEG segment: where its voxels come from and how it is described."""

    number: int  # SEG segment number (1-based, consecutive)
    label: str
    category: Code
    property_type: Code
    lumen_label: int = 0  # value in ``segment_labels`` (0: not a lumen segment)
    plaque_label: int = 0  # value in ``plaque_labels`` (0: not a plaque segment)


def algorithm_identification(algorithm: AlgorithmIdentity) -> hd.AlgorithmIdentificationSequence:
    """Algorithm Identification Sequence (C.8.20.2) with the model name and checksum."""
    parameters = {"model_name": algorithm.model_name, "model_sha256": algorithm.model_sha256}
    parameters.update(algorithm.parameters)
    return hd.AlgorithmIdentificationSequence(
        name=algorithm.name or MANUFACTURER_MODEL_NAME,
        family=coding.ALGORITHM_FAMILY,
        version=algorithm.version or __version__,
        parameters={k: v for k, v in parameters.items() if v},
    )


def _as_uint8(name: str, labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """``labels`` as uint8 after checking its shape and values.

    Raises:
        InputError: wrong shape, non-integer type, or values outside 0-255.
    """
    array = np.asarray(labels)
    if array.shape != shape:
        raise InputError(f"{name} has shape {array.shape}, the volume {shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "ui" or (array.size and (array.min() < 0 or array.max() > 255)):
        raise InputError(f"{name} must hold integers 0-255, got dtype {array.dtype}")
    return array.astype(np.uint8)


def _present(labels: np.ndarray) -> set[int]:
    """Non-zero values present in a uint8 label map. Only the non-zero voxels are
    counted: a coronary map is >99.9 % background, and counting all of a
    full study's 70 M voxels took 0.7 s."""
    counts = np.bincount(labels[labels != 0], minlength=256)
    return {int(v) for v in np.flatnonzero(counts)}


def _occupied(*maps: np.ndarray) -> tuple[slice, ...]:
    """The smallest box holding every non-zero voxel of ``maps`` (same shape); an empty
    box when all are zero."""
    slices = np.zeros(maps[0].shape[0], dtype=bool)
    plane = np.zeros(maps[0].shape[1:], dtype=bool)
    for labels in maps:
        slices |= labels.any(axis=(1, 2))
        plane |= labels.any(axis=0)
    box = []
    for flags in (slices, plane.any(axis=1), plane.any(axis=0)):
        where = np.flatnonzero(flags)
        box.append(slice(int(where[0]), int(where[-1]) + 1) if where.size else slice(0, 0))
    return tuple(box)


def plan_segments(segment_labels: np.ndarray, plaque_labels: np.ndarray) -> list[SegmentPlan]:
    """The segments :func:`build_seg` writes for these label maps, in SEG order."""
    present_lumen = _present(segment_labels)
    present_plaque = _present(plaque_labels)
    plans: list[SegmentPlan] = []
    for number in sorted(present_lumen - {0}):
        if number in SCCT_SEGMENTS:
            name, _ = SCCT_SEGMENTS[number]
            label, code = f"{name} (SCCT {number})", coding.segment_code(number)
        elif number == OTHER_BRANCH:
            label, code = "other coronary branches", coding.CORONARY_ARTERY
        else:
            raise InputError(
                f"segment_labels holds {number}: expected 0, SCCT 1-18 or {OTHER_BRANCH}"
            )
        plans.append(
            SegmentPlan(
                len(plans) + 1, label, coding.ANATOMICAL_STRUCTURE, code, lumen_label=number
            )
        )
    unknown = present_plaque - {0, CALCIFIED, NON_CALCIFIED}
    if unknown:
        raise InputError(f"plaque_labels holds {sorted(unknown)}: expected 0, 1 or 2")
    for value, label, code in (
        (CALCIFIED, "calcified plaque", coding.CALCIFIED_PLAQUE),
        (NON_CALCIFIED, "non-calcified plaque", coding.NON_CALCIFIED_PLAQUE),
    ):
        if value in present_plaque:
            plans.append(
                SegmentPlan(
                    len(plans) + 1, label, coding.ABNORMAL_STRUCTURE, code, plaque_label=value
                )
            )
    return plans


def segment_number_for(seg: Dataset, code: Code) -> int | None:
    """SEG segment number whose property type is ``code`` (``None`` when absent)."""
    for item in seg.SegmentSequence:
        typed = item.SegmentedPropertyTypeCodeSequence[0]
        if (typed.CodeValue, typed.CodingSchemeDesignator) == (code.value, code.scheme_designator):
            return int(item.SegmentNumber)
    return None


def _frame_order(volume: Volume, source_datasets: Sequence[Dataset]) -> np.ndarray:
    """Index into the volume's axis 0 of each source frame, in source order."""
    if len(source_datasets) == 1 and int(source_datasets[0].get("NumberOfFrames", 1)) > 1:
        frames = np.asarray(volume.frame_numbers or range(1, volume.shape[0] + 1))
        return np.argsort(frames)
    slices = {uid: k for k, uid in enumerate(volume.sop_instance_uids)}
    order = []
    for ds in source_datasets:
        uid = str(ds.SOPInstanceUID)
        if uid not in slices:
            raise InputError(f"source image {uid} is not a slice of the volume")
        order.append(slices[uid])
    return np.asarray(order)


def label_map(
    plans: list[SegmentPlan], segment_labels: np.ndarray, plaque_labels: np.ndarray
) -> np.ndarray:
    """One uint8 map of SEG segment numbers (lumen wins where a voxel is both)."""
    combined = np.zeros(segment_labels.shape, dtype=np.uint8)
    box = _occupied(segment_labels, plaque_labels)
    lumen_lut = np.zeros(256, dtype=np.uint8)
    plaque_lut = np.zeros(256, dtype=np.uint8)
    for plan in plans:
        if plan.lumen_label:
            lumen_lut[plan.lumen_label] = plan.number
        if plan.plaque_label:
            plaque_lut[plan.plaque_label] = plan.number
    inside = np.take(lumen_lut, segment_labels[box])
    plaque = np.take(plaque_lut, plaque_labels[box])
    np.copyto(inside, plaque, where=inside == 0)
    combined[box] = inside
    return combined


def build_seg(
    findings: Findings,
    volume: Volume,
    source_datasets: Sequence[Dataset],
    segment_labels: np.ndarray,
    plaque_labels: np.ndarray,
) -> hd.seg.Segmentation:
    """The SEG of the coronary lumen per SCCT segment and of the plaque.

    Args:
        findings: supplies the algorithm identity (and its version, which with the
            source series fixes the UIDs).
        volume: the CT volume the label maps lie on; its ``sop_instance_uids`` map
            slices to ``source_datasets``.
        source_datasets: the CT images (any order), or one multi-frame image.
        segment_labels: uint8, shape of ``volume``: SCCT number per lumen voxel (1-18),
            19 for other branches, 0 background.
        plaque_labels: uint8, same shape: 1 calcified, 2 non-calcified, 0 none.

    Raises:
        InputError: mismatched shapes, unknown label values, or a source image that is
            not a slice of ``volume``.
    """
    segment_labels = _as_uint8("segment_labels", segment_labels, volume.shape)
    plaque_labels = _as_uint8("plaque_labels", plaque_labels, volume.shape)
    if not source_datasets:
        raise InputError("no source datasets")
    plans = plan_segments(segment_labels, plaque_labels)
    if not plans:
        raise InputError("the label maps are empty: nothing to segment")
    version = algorithm_version(findings)
    source = source_datasets[0]
    identity = highdicom_identity(source, "seg", version)
    algorithm = algorithm_identification(findings.algorithm)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=plan.number,
            segment_label=plan.label,
            segmented_property_category=plan.category,
            segmented_property_type=plan.property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_uid=derived_uid(identity["series_instance_uid"], "segment", plan.label),
            tracking_id=plan.label,
        )
        for plan in plans
    ]
    order = _frame_order(volume, source_datasets)
    pixels = label_map(plans, segment_labels, plaque_labels)
    if not np.array_equal(order, np.arange(len(pixels))):
        pixels = pixels[order]
    seg = hd.seg.Segmentation(
        source_images=list(source_datasets),
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        manufacturer_model_name=MANUFACTURER_MODEL_NAME,
        software_versions=version,
        device_serial_number="0",
        content_description="coronary lumen by SCCT segment and plaque",
        content_label="CORONARY",
        omit_empty_frames=True,
        **identity,
    )
    _fix_random_uids(seg, identity["series_instance_uid"])
    copy_patient_and_study(seg, source)
    add_equipment(seg, version)
    return seg


def _fix_random_uids(seg: hd.seg.Segmentation, series_instance_uid: str) -> None:
    """Replace the dimension organisation UID highdicom draws at random."""
    uid = derived_uid(series_instance_uid, "dimension-organization")
    for item in seg.DimensionOrganizationSequence:
        item.DimensionOrganizationUID = uid
    for item in seg.DimensionIndexSequence:
        item.DimensionOrganizationUID = uid
