"""Enhanced CT Image Storage writer (PS3.3 A.38.1): one multi-frame file per series.

Shared functional groups carry what every frame has in common (Pixel Measures, Plane
Orientation, Pixel Value Transformation, CT Image Frame Type, the CT acquisition and
reconstruction macros, Cardiac Synchronization); per-frame groups carry Frame Content
and Plane Position. The dimension organisation is (Stack ID, In-Stack Position
Number), frames in Volume axis-0 order. Called by
:func:`ccta_ai.dicom_out.ct.write_ct_series`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID, EnhancedCTImageStorage

from ccta_ai.dicom_out import ct_modules as modules
from ccta_ai.imaging.geometry import PlaneGeometry

if TYPE_CHECKING:
    from ccta_ai.dicom_out.ct import CtAcquisition, StudyIdentity

_FRAME_TIME_MS = 1.0  # nominal acquisition duration of one reconstructed frame


def write_enhanced_ct(
    stored: np.ndarray,
    intercept: float,
    plane: PlaneGeometry,
    positions: np.ndarray,
    study: StudyIdentity,
    acquisition: CtAcquisition,
    out_dir: Path,
    syntax: UID,
) -> Path:
    """Write ``stored`` (``(frames, rows, columns)`` stored values) with frame ``k``
    at ``positions[k]`` (LPS mm) as one Enhanced CT Image; return its path."""
    uid = modules.derived_uid(acquisition.series_instance_uid, "enhanced")
    ds = modules.new_dataset(EnhancedCTImageStorage, str(uid), syntax)
    n_frames, rows, columns = stored.shape
    when = acquisition.acquisition_datetime
    ds.InstanceCreationDate = modules.da(when)
    ds.InstanceCreationTime = modules.tm(when)
    modules.add_patient_and_study(ds, study)
    modules.add_series(ds, acquisition, with_patient_position=True)
    modules.add_frame_of_reference_and_equipment(ds, study)
    modules.add_image_pixel(ds, rows, columns, acquisition.signed_pixels)
    _add_enhanced_ct_image(ds, acquisition)
    _add_contrast(ds, acquisition)
    _add_cardiac_synchronization(ds, acquisition)
    ds.AcquisitionContextSequence = []
    # Multi-frame Functional Groups (C.7.6.16) and Multi-frame Dimension (C.7.6.17).
    ds.InstanceNumber = 1
    ds.ContentDate = modules.da(when)
    ds.ContentTime = modules.tm(when)
    ds.NumberOfFrames = n_frames
    _add_dimensions(ds, acquisition.series_instance_uid)
    ds.SharedFunctionalGroupsSequence = [
        _shared_groups(plane, intercept, acquisition, (rows, columns))
    ]
    half_extent = (
        plane.column_cosine * plane.row_spacing_mm * (rows - 1)
        + plane.row_cosine * plane.column_spacing_mm * (columns - 1)
    ) / 2
    centres = positions + half_extent
    frame_uid = modules.derived_uid(acquisition.series_instance_uid, "event")
    ds.PerFrameFunctionalGroupsSequence = [
        _frame_groups(k, positions[k], centres[k], acquisition, str(frame_uid))
        for k in range(n_frames)
    ]
    path = out_dir / f"ECT{acquisition.series_number:04d}.dcm"
    return modules.save(ds, stored, path, syntax)


def _code(code: object) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value  # type: ignore[attr-defined]
    item.CodingSchemeDesignator = code.scheme_designator  # type: ignore[attr-defined]
    item.CodeMeaning = code.meaning  # type: ignore[attr-defined]
    return item


def _frame_type(acquisition: CtAcquisition) -> list[str]:
    """Image/Frame Type of Enhanced CT: four values (C.8.16.1)."""
    values = list(acquisition.image_type[:2])
    values += ["ORIGINAL", "PRIMARY"][len(values) :]
    flavor = "CARDIAC_GATED" if acquisition.ecg_gated else "VOLUME"  # C.8.16.1.3
    return [*values, flavor, "NONE"]


def _add_enhanced_ct_image(ds: Dataset, acquisition: CtAcquisition) -> None:
    """Enhanced CT Image (C.8.15.2) and Enhanced General Equipment (C.7.5.2)."""
    ds.ImageType = _frame_type(acquisition)
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.AcquisitionNumber = acquisition.acquisition_number
    ds.AcquisitionDateTime = acquisition.acquisition_datetime.strftime("%Y%m%d%H%M%S.%f")
    ds.AcquisitionDuration = acquisition.exposure_time_ms / 1000.0
    ds.ContentQualification = "PRODUCT"
    ds.BurnedInAnnotation = "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"


def _add_contrast(ds: Dataset, acquisition: CtAcquisition) -> None:
    """Enhanced Contrast/Bolus (C.7.6.4b), present only when contrast was given."""
    if acquisition.contrast_bolus_agent is None:
        return
    agent = modules.contrast_agent_code_item()
    agent.ContrastBolusAgentNumber = 1
    agent.ContrastBolusAdministrationRouteSequence = [_code(codes.SCT.IntravenousRoute)]
    agent.ContrastBolusIngredientCodeSequence = [_code(codes.SCT.Iodine)]
    volume_ml = acquisition.contrast_bolus_volume_ml
    agent.ContrastBolusVolume = "" if volume_ml is None else modules.ds_value(volume_ml)
    agent.ContrastBolusIngredientConcentration = ""
    agent.ContrastBolusIngredientOpaque = "YES"
    ds.ContrastBolusAgentSequence = [agent]


def _add_cardiac_synchronization(ds: Dataset, acquisition: CtAcquisition) -> None:
    """Cardiac Synchronization (C.7.6.18.1) of a retrospectively gated acquisition."""
    if not acquisition.ecg_gated:
        return
    ds.CardiacSynchronizationTechnique = "RETROSPECTIVE"
    ds.CardiacSignalSource = "ECG"
    ds.CardiacRRIntervalSpecified = _rr_interval_ms(acquisition)
    ds.CardiacBeatRejectionTechnique = "NONE"
    ds.LowRRValue = ""
    ds.HighRRValue = ""
    ds.IntervalsAcquired = ""
    ds.IntervalsRejected = ""
    ds.SkipBeats = ""


def _rr_interval_ms(acquisition: CtAcquisition) -> float:
    return 60000.0 / acquisition.heart_rate_bpm if acquisition.heart_rate_bpm else 1000.0


def _add_dimensions(ds: Dataset, series_uid: str) -> None:
    organization_uid = str(modules.derived_uid(series_uid, "dimensions"))
    organization = Dataset()
    organization.DimensionOrganizationUID = organization_uid
    ds.DimensionOrganizationSequence = [organization]
    ds.DimensionOrganizationType = "3D"
    indices = []
    for keyword, pointer in (("StackID", 0x00209056), ("InStackPositionNumber", 0x00209057)):
        index = Dataset()
        index.DimensionOrganizationUID = organization_uid
        index.DimensionIndexPointer = pointer
        index.FunctionalGroupPointer = 0x00209111  # Frame Content Sequence
        index.DimensionDescriptionLabel = keyword
        indices.append(index)
    ds.DimensionIndexSequence = indices


def _item(**attributes: object) -> Dataset:
    """A sequence item; float values of DS attributes become valid 16-character DS."""
    item = Dataset()
    for keyword, value in attributes.items():
        if dictionary_VR(keyword) == "DS":
            if isinstance(value, float | int):
                value = modules.ds_value(value)
            elif isinstance(value, list):
                value = [modules.ds_value(v) if isinstance(v, float | int) else v for v in value]
        setattr(item, keyword, value)
    return item


def _shared_groups(
    plane: PlaneGeometry,
    intercept: float,
    acquisition: CtAcquisition,
    rows_columns: tuple[int, int],
) -> Dataset:
    """The functional groups every frame shares (A.38.1.4)."""
    ds_value = modules.ds_value
    fov_mm = max(rows_columns[0] * plane.row_spacing_mm, rows_columns[1] * plane.column_spacing_mm)
    anatomy = _item(AnatomicRegionSequence=[_code(codes.SCT.Heart)], FrameLaterality="U")
    groups = _item(
        PixelMeasuresSequence=[
            _item(
                PixelSpacing=[ds_value(v) for v in plane.pixel_spacing_mm],
                SliceThickness=ds_value(acquisition.slice_thickness_mm),
            )
        ],
        PlaneOrientationSequence=[
            _item(ImageOrientationPatient=[ds_value(v) for v in plane.image_orientation])
        ],
        PixelValueTransformationSequence=[
            _item(
                RescaleIntercept=ds_value(intercept),
                RescaleSlope=ds_value(acquisition.rescale_slope),
                RescaleType="HU",
            )
        ],
        FrameVOILUTSequence=[
            _item(
                WindowCenter=ds_value(acquisition.window_center_hu),
                WindowWidth=ds_value(acquisition.window_width_hu),
            )
        ],
        FrameAnatomySequence=[anatomy],
        CTImageFrameTypeSequence=[
            _item(
                FrameType=_frame_type(acquisition),
                PixelPresentation="MONOCHROME",
                VolumetricProperties="VOLUME",
                VolumeBasedCalculationTechnique="NONE",
            )
        ],
        CTAcquisitionTypeSequence=[
            _item(AcquisitionType="SPIRAL", ConstantVolumeFlag="NO", FluoroscopyFlag="NO")
        ],
        CTAcquisitionDetailsSequence=[
            _item(
                DataCollectionDiameter=acquisition.data_collection_diameter_mm,
                RevolutionTime=acquisition.revolution_time_s,
                TableHeight=acquisition.table_height_mm,
                GantryDetectorTilt=acquisition.gantry_detector_tilt_deg,
                RotationDirection="CW",
                SingleCollimationWidth=0.6,
                TotalCollimationWidth=38.4,
            )
        ],
        CTTableDynamicsSequence=[
            _item(TableSpeed=20.0, TableFeedPerRotation=5.6, SpiralPitchFactor=0.15)
        ],
        CTGeometrySequence=[
            _item(DistanceSourceToDetector=1085.6, DistanceSourceToDataCollectionCenter=595.0)
        ],
        CTReconstructionSequence=[
            _item(
                ReconstructionAlgorithm="FILTER_BACK_PROJ",
                ConvolutionKernel=acquisition.convolution_kernel,
                ConvolutionKernelGroup="SOFT_TISSUE",
                ReconstructionDiameter=fov_mm,
                ReconstructionPixelSpacing=[plane.row_spacing_mm, plane.column_spacing_mm],
                ReconstructionAngle=360.0,
                ImageFilter="NONE",
            )
        ],
        CTExposureSequence=[
            _item(
                ExposureTimeInms=acquisition.exposure_time_ms,
                XRayTubeCurrentInmA=acquisition.tube_current_ma,
                ExposureInmAs=acquisition.tube_current_ma * acquisition.exposure_time_ms / 1000,
                ExposureModulationType="NONE",
            )
        ],
        CTXRayDetailsSequence=[
            _item(
                KVP=acquisition.kvp,
                FocalSpots=[ds_value(1.2)],
                FilterType="BODY",
                FilterMaterial="ALUMINUM",
            )
        ],
    )
    if acquisition.ctdi_vol_mgy is not None:
        groups.CTExposureSequence[0].CTDIvol = acquisition.ctdi_vol_mgy
        groups.CTExposureSequence[0].CTDIPhantomTypeCodeSequence = [modules.ctdi_phantom_item()]
    if acquisition.contrast_bolus_agent is not None:
        groups.ContrastBolusUsageSequence = [
            _item(
                ContrastBolusAgentNumber=1,
                ContrastBolusAgentAdministered="YES",
                ContrastBolusAgentDetected="YES",
                ContrastBolusAgentPhase="ARTERIAL",
            )
        ]
    if acquisition.ecg_gated:
        rr_ms = _rr_interval_ms(acquisition)
        phase_pct = acquisition.cardiac_phase_pct
        sync = _item(
            NominalCardiacTriggerDelayTime=0.0 if phase_pct is None else rr_ms * phase_pct / 100,
            RRIntervalTimeNominal=rr_ms,
        )
        if phase_pct is not None:
            sync.NominalPercentageOfCardiacPhase = phase_pct
        if acquisition.heart_rate_bpm is not None:
            sync.HeartRate = acquisition.heart_rate_bpm
        groups.CardiacSynchronizationSequence = [sync]
    return groups


def _frame_groups(
    index: int,
    position: np.ndarray,
    frame_centre: np.ndarray,
    acquisition: CtAcquisition,
    irradiation_uid: str,
) -> Dataset:
    """The functional groups of frame ``index`` (0-based): where it is, when it was."""
    when = acquisition.acquisition_datetime.strftime("%Y%m%d%H%M%S.%f")
    content = _item(
        FrameAcquisitionNumber=acquisition.acquisition_number,
        FrameReferenceDateTime=when,
        FrameAcquisitionDateTime=when,
        FrameAcquisitionDuration=_FRAME_TIME_MS,
        StackID="1",
        InStackPositionNumber=index + 1,
        DimensionIndexValues=[1, index + 1],
    )
    return _item(
        FrameContentSequence=[content],
        PlanePositionSequence=[_item(ImagePositionPatient=[modules.ds_value(v) for v in position])],
        IrradiationEventIdentificationSequence=[_item(IrradiationEventUID=irradiation_uid)],
        CTPositionSequence=[
            _item(
                TablePosition=float(frame_centre[2]),
                ReconstructionTargetCenterPatient=[float(v) for v in frame_centre],
                DataCollectionCenterPatient=[float(v) for v in frame_centre],
            )
        ],
    )
