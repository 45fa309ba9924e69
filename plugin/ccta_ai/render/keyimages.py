"""Every picture of a study, framed and annotated, ready to be written as DICOM.

Which pictures (issue 4 item 3): for every main vessel (LAD, LCx, RCA; any top-level
vessel when unnamed) and every vessel with a lesion, straightened CPRs at
:data:`ANGLES_DEG`, stretched CPRs at 0° and 90°, and the lumen-diameter profile; for
every lesion, cross-sections at its MLD and reference site; one overview of the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ccta_ai.analysis.findings import Findings, Lesion, Vessel
from ccta_ai.imaging.volume import Volume
from ccta_ai.phantom.labels import segment_name
from ccta_ai.render.annotate import Frame, LesionMark, annotate_cpr, frame
from ccta_ai.render.cpr import CprImage, straightened_cpr, stretched_cpr
from ccta_ai.render.cross_section import cross_section_picture
from ccta_ai.render.overview import overview_picture
from ccta_ai.render.path import VesselPath, vessel_path
from ccta_ai.render.plot import PlotLabels, profile_plot
from ccta_ai.report import strings as words
from ccta_ai.report.content import StudyInfo

ANGLES_DEG = (0.0, 45.0, 90.0, 135.0)
STRETCHED_ANGLES_DEG = (0.0, 90.0)
MAIN_VESSELS = ("LAD", "LCx", "RCA")
HALF_WIDTH_MM = 15.0


@dataclass(frozen=True)
class KeyImage:
    """One framed picture.

    Attributes:
        kind: output kind of :mod:`ccta_ai.dicom_out.common` ("cpr", "cross-section",
            "profile", "overview", "film").
        pixels: ``(rows, columns, 3)`` uint8 RGB.
        description: what it shows ("LAD straightened CPR 45°"), in English.
        pixel_spacing_mm: true size of a pixel where the picture has one scale.
        vessel: vessel name ("" for the overview).
        angle_deg: view angle of CPRs.
    """

    kind: str
    pixels: np.ndarray
    description: str
    pixel_spacing_mm: float | None = None
    vessel: str = ""
    angle_deg: float | None = None


def cpr_vessels(findings: Findings) -> list[Vessel]:
    """Main vessels, then every other vessel with a lesion, in the findings' order.

    A side twig that the naming gave its parent's name (a few mm off the LCx, called
    LCx) is not a main vessel of its own: its parent's pictures show that vessel.
    """
    with_lesion = {lesion.vessel_id for lesion in findings.lesions}
    named = any(v.name for v in findings.vessels)
    chosen = []
    for vessel in findings.vessels:
        parent = findings.vessels[vessel.parent_id] if vessel.parent_id is not None else None
        twig = parent is not None and parent.name == vessel.name
        main = (vessel.name in MAIN_VESSELS and not twig) if named else parent is None
        if main or vessel.vessel_id in with_lesion:
            chosen.append(vessel)
    return chosen


def cpr_pixel_mm(length_mm: float) -> float:
    """About 900 rows for the vessel, within 0.1-0.25 mm per pixel."""
    return float(np.clip(length_mm / 900.0, 0.1, 0.25))


def lesion_marks(findings: Findings, path: VesselPath) -> list[LesionMark]:
    """Lesions of the vessels on ``path`` that lie on it, in path arc length."""
    marks = []
    for lesion in findings.lesions:
        if lesion.vessel_id not in path.vessel_ids:
            continue
        offset = _vessel_offset(findings, path, lesion.vessel_id)
        if offset is None or offset + lesion.mld_s_mm > path.length_mm + 0.5:
            continue
        if lesion.mld_s_mm > path.ends_mm[path.vessel_ids.index(lesion.vessel_id)] + 0.5:
            continue  # on an ancestor, beyond the branch point where the path leaves it
        label = segment_name(lesion.segment) if lesion.segment else ""
        marks.append(LesionMark(offset + lesion.mld_s_mm, offset + lesion.start_s_mm,
                                offset + lesion.end_s_mm, lesion.pct_diameter_stenosis, label,
                                lesion.reference_diameter_mm))
    return marks


def _vessel_offset(findings: Findings, path: VesselPath, vessel_id: int) -> float | None:
    """Path arc length of ``vessel_id``'s first point (ancestors start where they do)."""
    if vessel_id == path.vessel_ids[-1]:
        return path.offset_mm
    if vessel_id == path.vessel_ids[0]:
        return 0.0
    vessel = findings.vessels[vessel_id]
    first = np.asarray(vessel.centerline.points_lps_mm[0], dtype=np.float64)
    index = int(np.argmin(np.linalg.norm(path.points_lps_mm - first, axis=1)))
    return float(path.s_mm[index])


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


class _Builder:
    def __init__(self, findings: Findings, volume: Volume, study: StudyInfo, language: str
                 ) -> None:
        self.findings, self.volume, self.language = findings, volume, words.check_language(language)
        self.t = words.TEXT[language]
        self.study = study
        self.paths: dict[int, VesselPath] = {}

    def frame_spec(self, title: str) -> Frame:
        return Frame((self.study.header_line() or " ", title), self.t["banner"])

    def path(self, vessel: Vessel) -> VesselPath:
        if vessel.vessel_id not in self.paths:
            step = cpr_pixel_mm(_length_mm(self.findings, vessel)) / 2.0
            self.paths[vessel.vessel_id] = vessel_path(self.findings, vessel, step_mm=step)
        return self.paths[vessel.vessel_id]

    def cpr(self, vessel: Vessel, cpr: CprImage, path: VesselPath) -> KeyImage:
        view = self.t[cpr.kind]
        name = vessel.name or f"#{vessel.vessel_id}"
        title = f"{words.vessel_label(self.language, name)} — {view} {cpr.angle_deg:.0f}°"
        body = annotate_cpr(cpr, path, lesion_marks(self.findings, path))
        picture = frame(body, self.frame_spec(title), cpr.pixel_mm)
        return KeyImage("cpr", _pixels(picture), f"{name} {cpr.kind} CPR {cpr.angle_deg:.0f} deg",
                        cpr.pixel_mm, name, cpr.angle_deg)

    def cprs(self, vessel: Vessel, angles_deg: tuple[float, ...],
             stretched_angles_deg: tuple[float, ...]) -> list[KeyImage]:
        path = self.path(vessel)
        pixel_mm = cpr_pixel_mm(path.length_mm)
        images = [self.cpr(vessel, straightened_cpr(self.volume, path, angle, HALF_WIDTH_MM,
                                                    pixel_mm), path) for angle in angles_deg]
        images += [self.cpr(vessel, stretched_cpr(self.volume, path, angle, HALF_WIDTH_MM,
                                                  pixel_mm), path)
                   for angle in stretched_angles_deg]
        return images

    def profile(self, vessel: Vessel) -> KeyImage:
        name = vessel.name or f"#{vessel.vessel_id}"
        labels = PlotLabels(self.t["distance_mm"], self.t["diameter_mm"], self.t["equivalent"],
                            self.t["min_max"], self.t["reference_line"])
        lesions = [x for x in self.findings.lesions if x.vessel_id == vessel.vessel_id]
        body = profile_plot(vessel, lesions, labels)
        title = f"{words.vessel_label(self.language, name)} — {self.t['profile']}"
        picture = frame(body, self.frame_spec(title), None)
        return KeyImage("profile", _pixels(picture), f"{name} lumen diameter profile", None, name)

    def cross_section(self, lesion: Lesion) -> KeyImage:
        vessel = self.findings.vessels[lesion.vessel_id]
        name = vessel.name or f"#{vessel.vessel_id}"
        site = segment_name(lesion.segment) if lesion.segment else name
        titles = (f"{self.t['at_mld']} ({site})", self.t["at_reference"])
        body, reference_s = cross_section_picture(self.volume, self.path(vessel), vessel, lesion,
                                                  titles)
        title = (f"{words.vessel_label(self.language, name)} {site} — {self.t['cross_section']} "
                 f"{lesion.pct_diameter_stenosis:.0f}%")
        picture = frame(body, self.frame_spec(title), 0.05)
        description = (f"{name} {site} cross-sections at MLD s={lesion.mld_s_mm:.1f} mm and "
                       f"reference s={reference_s:.1f} mm")
        return KeyImage("cross-section", _pixels(picture), description, 0.05, name)

    def overview(self) -> KeyImage:
        body, pixel_mm = overview_picture(self.findings, (self.t["anterior"], self.t["lateral"]))
        picture = frame(body, self.frame_spec(self.t["overview"]), pixel_mm)
        return KeyImage("overview", _pixels(picture), "coronary tree overview (anterior, left "
                        "lateral)", pixel_mm)


def _length_mm(findings: Findings, vessel: Vessel) -> float:
    total = 0.0
    current: Vessel | None = vessel
    while current is not None:
        points = np.asarray(current.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3)
        total += float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
        current = findings.vessels[current.parent_id] if current.parent_id is not None else None
    return total


def build_key_images(findings: Findings, volume: Volume, study: StudyInfo,
                     language: str = "zh", angles_deg: tuple[float, ...] = ANGLES_DEG,
                     stretched_angles_deg: tuple[float, ...] = STRETCHED_ANGLES_DEG
                     ) -> list[KeyImage]:
    """All pictures of the study except the film page, in output order: CPRs (at the
    angles given), cross-sections, profiles, overview."""
    builder = _Builder(findings, volume, study, language)
    vessels = cpr_vessels(findings)
    images: list[KeyImage] = []
    for vessel in vessels:
        images.extend(builder.cprs(vessel, angles_deg, stretched_angles_deg))
    for lesion in sorted(findings.lesions, key=lambda x: -x.pct_diameter_stenosis):
        images.append(builder.cross_section(lesion))
    images.extend(builder.profile(vessel) for vessel in vessels)
    images.append(builder.overview())
    return images
