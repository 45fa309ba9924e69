"""The coronary findings as a Comprehensive 3D SR following TID 1500 (Measurement Report).

Content tree (codes in :mod:`ccta_ai.dicom_out.coding`)::

    Imaging Measurement Report (TID 1500)
      observation context: device observer = the algorithm (TID 1004)
      procedure reported: CT (CID 100), image library: the source CT images
      Imaging Measurements
        per lesion, a Measurement Group (TID 1501; a "Source" IMAGE item names the SEG
          segment of its SCCT segment): tracking identifier + UID, finding
          "Stenosis" (or "Occlusion"), finding site = CID 3014 segment,
          % diameter and % area stenosis (CID 3804 method), minimal lumen diameter
          (SCOORD3D POINT at the site) and area, reference diameter, lesion length
          (SCOORD3D POLYLINE of the lesion's centreline), plaque volumes (mm3),
          remodelling index, plaque type (CID 3802), high-risk features, lesion grade
        per vessel, a Measurement Group (TID 1501): finding "Lumen of blood vessel",
          site = CID 3016/3014 code, centreline length (SCOORD3D POLYLINE),
          minimal lumen diameter, maximal % diameter stenosis
        coronary tree (TID 1501): dominance, segment involvement score
      Qualitative Evaluations: CAD-RADS category (CID 3020), 4A/4B (CID 3021),
        modifiers (CID 3022 or private), plaque burden P1-P4 (private), reasons and
        management suggestion as text.

Each group carries the algorithm identification (TID 4019: name, version, parameters
including the model name and SHA-256). Tracking UIDs derive from the SR's series UID
(so from the source series and the algorithm version) and the item's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from ccta_ai.analysis.findings import Findings, Lesion, Vessel
from ccta_ai.dicom_out import coding
from ccta_ai.dicom_out.common import (
    MANUFACTURER,
    MANUFACTURER_MODEL_NAME,
    add_equipment,
    algorithm_version,
    copy_patient_and_study,
    highdicom_identity,
)
from ccta_ai.dicom_out.ct_modules import derived_uid
from ccta_ai.dicom_out.seg import segment_number_for
from ccta_ai.errors import InputError
from ccta_ai.phantom.labels import segment_name


def _algorithm(findings: Findings) -> hd.sr.AlgorithmIdentification:
    """TID 4019 Algorithm Identification; the parameters as one ``k=v; k=v`` text item
    (the model's name and SHA-256 first), since every group repeats it: one item per
    parameter would multiply the report's size (and PixelMed's time) for nothing, and
    dcmqi reads only the first item."""
    algorithm = findings.algorithm
    parameters = {"model_name": algorithm.model_name, "model_sha256": algorithm.model_sha256}
    parameters.update(algorithm.parameters)
    return hd.sr.AlgorithmIdentification(
        name=algorithm.name or MANUFACTURER_MODEL_NAME,
        version=algorithm_version(findings),
        parameters=["; ".join(f"{k}={v}" for k, v in parameters.items() if v)],
    )


def _num(
    name: Code | hd.sr.CodedConcept,
    value: float | None,
    unit: Code,
    **options: object,
) -> list[hd.sr.Measurement]:
    """A one-item list with the measurement, or an empty one when ``value`` is None."""
    if value is None or not np.isfinite(value):
        return []
    return [hd.sr.Measurement(name=name, value=float(value), unit=unit, **options)]  # type: ignore[arg-type]


def _scoord(
    graphic_type: str, points: np.ndarray, frame_of_reference_uid: str
) -> list[hd.sr.CoordinatesForMeasurement3D]:
    return [
        hd.sr.CoordinatesForMeasurement3D(
            graphic_type=graphic_type,
            graphic_data=np.asarray(points, dtype=np.float64).reshape(-1, 3),
            frame_of_reference_uid=frame_of_reference_uid,
        )
    ]


def _lesion_points(vessel: Vessel, lesion: Lesion) -> np.ndarray:
    """Centreline points of ``vessel`` between the lesion's start and end."""
    points = np.asarray(vessel.centerline.points_lps_mm, dtype=np.float64)
    if vessel.profile is not None and len(vessel.profile.s_mm) == len(points):
        s_mm = np.asarray(vessel.profile.s_mm)
    else:
        steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
        s_mm = np.concatenate([[0.0], np.cumsum(steps)])
    inside = (s_mm >= lesion.start_s_mm - 1e-6) & (s_mm <= lesion.end_s_mm + 1e-6)
    if inside.sum() >= 2:
        return points[inside]
    site = int(np.argmin(np.abs(s_mm - lesion.mld_s_mm)))  # shorter than a step
    return points[max(site - 1, 0) : site + 2]


def _image_point(
    point_lps_mm: np.ndarray, images: Sequence[Dataset]
) -> list[hd.sr.CoordinatesForMeasurement] | None:
    """A 2D POINT (SCOORD) on the source slice nearest to ``point_lps_mm``.

    Viewers draw and navigate to image coordinates; OHIF 3 ignores SCOORD3D, so each
    lesion's % diameter stenosis also points at its MLD on a slice (the 3D point stays).
    Image coordinates: (0, 0) is the outer corner of the first pixel (C.18.6.1.1)."""
    candidates = [ds for ds in images if "ImagePositionPatient" in ds and "PixelSpacing" in ds]
    if not candidates:
        return None

    def distance(ds: Dataset) -> float:
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=np.float64)
        normal = np.cross(orientation[:3], orientation[3:])
        return abs(float(normal @ (point_lps_mm - np.asarray(ds.ImagePositionPatient, float))))

    best = min(candidates, key=distance)
    origin = np.asarray(best.ImagePositionPatient, dtype=np.float64)
    orientation = np.asarray(best.ImageOrientationPatient, dtype=np.float64)
    row_spacing, column_spacing = (float(x) for x in best.PixelSpacing)
    column = float((point_lps_mm - origin) @ orientation[:3]) / column_spacing + 0.5
    row = float((point_lps_mm - origin) @ orientation[3:]) / row_spacing + 0.5
    return [
        hd.sr.CoordinatesForMeasurement(
            graphic_type=hd.sr.GraphicTypeValues.POINT,
            graphic_data=np.array([[column, row]]),
            source_image=hd.sr.SourceImageForRegion.from_source_image(best),
        )
    ]


def _lesion_group(
    index: int,
    lesion: Lesion,
    findings: Findings,
    series_uid: str,
    seg: Dataset | None,
    algorithm: hd.sr.AlgorithmIdentification,
    library: Sequence[Dataset] = (),
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    vessels = {v.vessel_id: v for v in findings.vessels}
    vessel = vessels.get(lesion.vessel_id)
    if vessel is None:
        raise InputError(f"lesion {index} lies on unknown vessel {lesion.vessel_id}")
    site = coding.segment_code(lesion.segment)
    frame = findings.frame_of_reference_uid
    where = segment_name(lesion.segment or 0)
    tracking = hd.sr.TrackingIdentifier(
        uid=derived_uid(series_uid, "lesion", str(index)),
        identifier=f"Lesion {index + 1} {vessel.name} {where}".strip(),
    )
    mld_point = _scoord("POINT", np.asarray(lesion.mld_position_lps_mm), frame)
    points = _lesion_points(vessel, lesion)
    polyline = _scoord("POLYLINE", points, frame) if len(points) >= 2 else None
    measurements = [
        *_num(coding.PCT_DIAMETER_STENOSIS, lesion.pct_diameter_stenosis, coding.PERCENT,
              method=coding.DIAMETER_METHOD,
              referenced_coordinates=_image_point(
                  np.asarray(lesion.mld_position_lps_mm, dtype=np.float64), library)),
        *_num(coding.PCT_AREA_STENOSIS, lesion.pct_area_stenosis, coding.PERCENT,
              method=coding.AREA_METHOD),
        *_num(coding.LUMEN_DIAMETER, lesion.mld_mm, coding.MM, derivation=coding.MINIMUM,
              referenced_coordinates=mld_point),
        *_num(coding.LUMEN_AREA, lesion.mla_mm2, coding.MM2, derivation=coding.MINIMUM),
        *_num(coding.REFERENCE_DIAMETER, lesion.reference_diameter_mm, coding.MM),
        *_num(coding.LESION_LENGTH, lesion.length_mm, coding.MM,
              referenced_coordinates=polyline),
    ]  # fmt: skip
    evaluations: list[hd.sr.QualitativeEvaluation] = []
    plaque = lesion.plaque
    if plaque is not None:
        measurements += [
            *_num(coding.PLAQUE_VOLUME, plaque.volume_mm3, coding.MM3),
            *_num(coding.CALCIFIED_VOLUME, plaque.calcified_volume_mm3, coding.MM3),
            *_num(coding.NON_CALCIFIED_VOLUME, plaque.non_calcified_volume_mm3, coding.MM3),
            *_num(coding.LOW_ATTENUATION_VOLUME, plaque.low_attenuation_volume_mm3, coding.MM3),
            *_num(coding.REMODELING_INDEX, plaque.remodelling_index, coding.NO_UNITS),
        ]
        if plaque.composition:
            evaluations.append(_evaluation(
                coding.PLAQUE_TYPE,
                coding.lookup(coding.PLAQUE_TYPE_CODES, plaque.composition, "plaque composition"),
            ))  # fmt: skip
        features = list(plaque.high_risk_features)
        if plaque.spotty_calcification and "spotty calcification" not in features:
            features.append("spotty calcification")
        evaluations += [
            _evaluation(
                coding.HIGH_RISK_FEATURE,
                coding.lookup(coding.HIGH_RISK_FEATURE_CODES, feature, "high-risk plaque feature"),
            )
            for feature in features
        ]
    if lesion.grade:
        category, severe = coding.lesion_grade_codes(lesion.grade)
        evaluations.append(_evaluation(coding.CAD_RADS_CATEGORY, category))
        if severe is not None:
            evaluations.append(_evaluation(coding.CAD_RADS_STENOSIS_MODIFIER, severe))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        finding_type=coding.OCCLUSION if lesion.occlusion else coding.STENOSIS,
        finding_sites=[hd.sr.FindingSite(site)],
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
        source_images=_segment_reference(seg, site) if lesion.segment else None,
    )
    return group


def _segment_reference(
    seg: Dataset | None, code: Code
) -> list[hd.sr.SourceImageForMeasurementGroup] | None:
    """The SEG segment of ``code`` as a TID 1501 "Source" IMAGE item (its Referenced SOP
    Sequence names the segment number, as IMAGE items may, C.18.4.1).

    Not a TID 1411 "Referenced Segment" group: PixelMed's DicomSRValidator then applies
    TID 1411 to every group of the report, including the vessel groups (no ROI), and
    highdicom forbids coordinates (the MLD point) inside TID 1411 groups."""
    number = segment_number_for(seg, code) if seg is not None else None
    if seg is None or number is None:
        return None
    item = hd.sr.SourceImageForMeasurementGroup(str(seg.SOPClassUID), str(seg.SOPInstanceUID))
    item.ReferencedSOPSequence[0].ReferencedSegmentNumber = number
    return [item]


def _evaluation(name: Code | hd.sr.CodedConcept, value: Code) -> hd.sr.QualitativeEvaluation:
    return hd.sr.QualitativeEvaluation(name=name, value=value)


def _minimum_site(vessel: Vessel, lesions: list[Lesion]) -> tuple[float, np.ndarray] | None:
    """Minimal lumen diameter of a vessel and where: its lesions' MLDs, else the
    narrowest measured cross-section of its segmented part (where the vessel was
    followed beyond its segmentation, at the resolution limit, it is not graded)."""
    if lesions:
        worst = min(lesions, key=lambda x: x.mld_mm)
        return worst.mld_mm, np.asarray(worst.mld_position_lps_mm, dtype=np.float64)
    diameters = vessel.profile.equivalent_diameter_mm if vessel.profile else []
    if len(diameters) != len(vessel.centerline.points_lps_mm):
        return None
    segmented = vessel.centerline.segmented()
    measured = [(d, i) for i, d in enumerate(diameters) if d is not None and segmented[i]]
    if not measured:
        return None
    diameter, index = min(measured)
    return diameter, np.asarray(vessel.centerline.points_lps_mm[index], dtype=np.float64)


def _vessel_group(
    vessel: Vessel,
    findings: Findings,
    series_uid: str,
    algorithm: hd.sr.AlgorithmIdentification,
) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    points = np.asarray(vessel.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3)
    length_mm = float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))
    lesions = [x for x in findings.lesions if x.vessel_id == vessel.vessel_id]
    stenoses = [x.pct_diameter_stenosis for x in lesions]
    name = vessel.name or f"vessel {vessel.vessel_id}"
    frame = findings.frame_of_reference_uid
    site = _minimum_site(vessel, lesions)
    measurements = [
        *_num(coding.VESSEL_LENGTH, length_mm if len(points) >= 2 else None, coding.MM,
              referenced_coordinates=(
                  _scoord("POLYLINE", points, findings.frame_of_reference_uid)
                  if len(points) >= 2 else None)),
        *_num(coding.LUMEN_DIAMETER, site[0] if site else None, coding.MM,
              derivation=coding.MINIMUM,
              referenced_coordinates=_scoord("POINT", site[1], frame) if site else None),
        *_num(coding.PCT_DIAMETER_STENOSIS, max(stenoses) if stenoses else None, coding.PERCENT,
              derivation=coding.MAXIMUM, method=coding.DIAMETER_METHOD),
    ]  # fmt: skip
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=derived_uid(series_uid, "vessel", str(vessel.vessel_id)),
            identifier=f"Vessel {name}",
        ),
        finding_type=coding.VESSEL_LUMEN,
        finding_sites=[hd.sr.FindingSite(coding.vessel_code(name, vessel.centerline.segment))],
        algorithm_id=algorithm,
        measurements=measurements,
    )


def _tree_items(findings: Findings) -> list[hd.sr.CodeContentItem | hd.sr.NumContentItem]:
    """Study-level facts of the coronary tree: dominance and the segment involvement score.

    They sit in the Qualitative Evaluations container rather than in a measurement group
    of their own: a TID 1501 group without any image region makes OHIF 3 fail to show
    the report at all."""
    items: list[hd.sr.CodeContentItem | hd.sr.NumContentItem] = []
    if findings.dominance:
        dominance = coding.lookup(coding.DOMINANCE_CODES, findings.dominance, "dominance")
        items.append(hd.sr.CodeContentItem(coding.DOMINANCE, dominance, "CONTAINS"))
    score = findings.grade.segment_involvement_score if findings.grade else None
    if score is not None:
        items.append(hd.sr.NumContentItem(
            coding.SEGMENT_INVOLVEMENT_SCORE, float(score), coding.NO_UNITS,
            relationship_type="CONTAINS",
        ))  # fmt: skip
    return items


def _grade_container(findings: Findings) -> hd.sr.ContainerContentItem | None:
    """TID 1500 row 12 Qualitative Evaluations: the CAD-RADS grade (reasons as text),
    dominance and the segment involvement score."""
    grade = findings.grade
    items: list[hd.sr.CodeContentItem | hd.sr.TextContentItem | hd.sr.NumContentItem] = []
    items += _tree_items(findings)
    if grade is None or not grade.cad_rads:
        return _container(items) if items else None
    category, severe = coding.cad_rads_codes(grade.cad_rads)
    items.append(hd.sr.CodeContentItem(coding.CAD_RADS_CATEGORY, category, "CONTAINS"))
    if severe is not None:
        items.append(hd.sr.CodeContentItem(coding.CAD_RADS_STENOSIS_MODIFIER, severe, "CONTAINS"))
    items += [
        hd.sr.CodeContentItem(
            coding.CAD_RADS_MODIFIER,
            coding.lookup(coding.CAD_RADS_MODIFIER_CODES, modifier, "CAD-RADS modifier"),
            "CONTAINS",
        )
        for modifier in grade.modifiers
    ]
    if grade.plaque_burden:
        burden = coding.lookup(coding.PLAQUE_BURDEN_CODES, grade.plaque_burden, "plaque burden")
        items.append(hd.sr.CodeContentItem(coding.PLAQUE_BURDEN, burden, "CONTAINS"))
    items += [hd.sr.TextContentItem(coding.GRADE_REASON, r, "CONTAINS") for r in grade.reasons]
    if grade.management:
        items.append(hd.sr.TextContentItem(coding.MANAGEMENT, grade.management, "CONTAINS"))
    return _container(items)


def _container(items: Sequence[hd.sr.ContentItem]) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(
        coding.QUALITATIVE_EVALUATIONS, relationship_type="CONTAINS"
    )
    container.ContentSequence = hd.sr.ContentSequence(items)
    return container


def key_images(findings: Findings, source_datasets: Sequence[Dataset]) -> list[Dataset]:
    """The source images of the Image Library: the slice through each lesion's MLD
    point (the middle slice when there is no lesion).

    Not every slice: a TID 1600 entry per slice makes a full series' report ten times
    larger and slower to build and validate; all slices are still listed as evidence.
    """
    images = [ds for ds in source_datasets if "ImagePositionPatient" in ds]
    if not images:
        return list(source_datasets[:1])
    orientation = np.asarray(images[0].ImageOrientationPatient, dtype=np.float64)
    normal = np.cross(orientation[:3], orientation[3:])
    heights = np.array([float(np.dot(normal, ds.ImagePositionPatient)) for ds in images])
    points = [np.asarray(x.mld_position_lps_mm, dtype=np.float64) for x in findings.lesions]
    chosen = sorted({int(np.argmin(np.abs(heights - normal @ p))) for p in points})
    return [images[i] for i in chosen] or [images[len(images) // 2]]


def build_sr(
    findings: Findings, source_datasets: Sequence[Dataset], seg: Dataset | None = None
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 Comprehensive 3D SR of ``findings`` (see the module docstring).

    Args:
        findings: the analysis results.
        source_datasets: the analysed CT images (image library and evidence).
        seg: the SEG of :func:`ccta_ai.dicom_out.seg.build_seg`; lesions then reference
            the segment of their SCCT segment.

    Raises:
        InputError: no source datasets, a lesion on an unknown vessel, or an unknown
            code word (CAD-RADS category, modifier, plaque composition...).
    """
    if not source_datasets:
        raise InputError("no source datasets")
    source = source_datasets[0]
    if not findings.frame_of_reference_uid:
        findings = replace(findings, frame_of_reference_uid=str(source.FrameOfReferenceUID))
    version = algorithm_version(findings)
    identity = highdicom_identity(source, "sr", version)
    series_uid = identity["series_instance_uid"]
    algorithm = _algorithm(findings)
    library = key_images(findings, source_datasets)
    groups: list[hd.sr.MeasurementsAndQualitativeEvaluations] = [
        _lesion_group(i, lesion, findings, series_uid, seg, algorithm, library)
        for i, lesion in enumerate(findings.lesions)
    ]
    groups += [_vessel_group(v, findings, series_uid, algorithm) for v in findings.vessels]
    observer = hd.sr.ObserverContext(
        observer_type=coding.DEVICE_OBSERVER,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=derived_uid(
                "device", findings.algorithm.name, version, findings.algorithm.model_sha256
            ),
            name=findings.algorithm.name or MANUFACTURER_MODEL_NAME,
            manufacturer_name=MANUFACTURER,
            model_name=findings.algorithm.model_name or MANUFACTURER_MODEL_NAME,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=coding.PROCEDURE_REPORTED,
        imaging_measurements=groups,
        referenced_images=library,
    )
    grade = _grade_container(findings)
    if grade is not None:
        report[0].ContentSequence.append(grade)
    evidence = [*source_datasets, *([seg] if seg is not None else [])]
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report[0],
        manufacturer_model_name=MANUFACTURER_MODEL_NAME,
        software_versions=version,
        coding_schemes=[coding.coding_scheme_item()],
        **identity,
    )
    copy_patient_and_study(sr, source)
    add_equipment(sr, version)
    return sr
