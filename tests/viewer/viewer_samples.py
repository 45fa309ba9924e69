"""The study the OHIF test shows: the writers' sample case (CT) with the project's own
SEG (:func:`ccta_ai.dicom_out.seg.build_seg`) and TID 1500 SR
(:func:`ccta_ai.dicom_out.sr.build_sr`), and what OHIF must show of them, read back
from the written files with highdicom."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
from pydicom.sr.codedict import codes

from ccta_ai.dicom_out.seg import build_seg
from ccta_ai.dicom_out.sr import build_sr
from findings_samples import sample_case

#: The number OHIF must show from the SR: the first lesion's % diameter stenosis.
SHOWN_MEASUREMENT = codes.SCT.LumenDiameterStenosis


@dataclass(frozen=True)
class ViewerStudy:
    """Files to upload and what OHIF must show once they are loaded."""

    ct_paths: list[Path]
    seg_path: Path
    sr_path: Path
    study_instance_uid: str
    seg_series_description: str
    sr_series_description: str
    segment_labels: list[str]
    measurement_name: str  # the concept name's meaning, as OHIF shows it
    measurement_value: float
    measurement_unit: str  # the UCUM code, which OHIF shows after the number


def viewer_study(tmp_path: Path) -> ViewerStudy:
    case = sample_case(tmp_path)
    out = tmp_path / "results"
    out.mkdir()
    seg_path, sr_path = out / "seg.dcm", out / "sr.dcm"
    seg = build_seg(case.findings, case.volume, case.datasets, case.segment_labels,
                    case.plaque_labels)
    seg.save_as(seg_path)
    build_sr(case.findings, case.datasets, seg).save_as(sr_path)

    seg_read = hd.seg.segread(seg_path)
    sr_read = hd.sr.srread(sr_path)
    report = sr_read.content
    assert isinstance(report, hd.sr.MeasurementReport), type(report)
    measurement = next(
        found[0] for group in report.get_image_measurement_groups()
        if (found := group.get_measurements(name=SHOWN_MEASUREMENT)))
    return ViewerStudy(
        ct_paths=case.paths, seg_path=seg_path, sr_path=sr_path,
        study_instance_uid=str(sr_read.StudyInstanceUID),
        seg_series_description=str(seg_read.SeriesDescription),
        sr_series_description=str(sr_read.SeriesDescription),
        segment_labels=[str(item.SegmentLabel) for item in seg_read.SegmentSequence],
        measurement_name=str(measurement.name.meaning),
        measurement_value=float(measurement.value),
        measurement_unit=str(measurement.unit.value),
    )
