"""The pictures of the sample case: which ones, and their burned-in annotations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from render_tubes import line, tube_findings, tube_volume

from ccta_ai.analysis.findings import Lesion
from ccta_ai.render.annotate import BANNER_BG, SEGMENT, severity_colour
from ccta_ai.render.film import compose_film, film_size_px
from ccta_ai.render.fonts import cjk_font_file, pil_font
from ccta_ai.render.keyimages import ANGLES_DEG, STRETCHED_ANGLES_DEG, KeyImage, build_key_images
from ccta_ai.report.content import build_content, lesion_table, reported_vessels, study_info
from findings_samples import sample_case


@pytest.fixture(scope="module")
def case_images(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    case = sample_case(tmp_path_factory.mktemp("case"))
    study = study_info(case.datasets[0], "zh")
    return case, build_key_images(case.findings, case.volume, study, "zh")


def _has_colour(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return bool(np.any(np.all(np.abs(pixels.astype(int) - colour) <= tolerance, axis=-1)))


def test_one_picture_set_per_main_vessel_and_lesion(case_images: tuple) -> None:
    case, images = case_images
    kinds = [image.kind for image in images]
    # LAD, LCx, RCA: each with 4 straightened and 2 stretched CPRs and a profile
    per_vessel = len(ANGLES_DEG) + len(STRETCHED_ANGLES_DEG)
    assert kinds.count("cpr") == 3 * per_vessel
    assert kinds.count("profile") == 3
    assert kinds.count("cross-section") == len(case.findings.lesions) == 3
    assert kinds.count("overview") == 1
    cprs = [image for image in images if image.kind == "cpr"]
    assert {image.vessel for image in cprs} == {"LAD", "LCx", "RCA"}
    assert sorted({image.angle_deg for image in cprs if "straightened" in image.description}) == [
        0.0, 45.0, 90.0, 135.0]
    for image in images:
        assert image.pixels.dtype == np.uint8 and image.pixels.shape[2] == 3


def test_every_picture_has_header_and_banner(case_images: tuple) -> None:
    _, images = case_images
    for image in images:
        bottom = image.pixels[-30:]
        assert _has_colour(bottom, BANNER_BG, 2), image.description  # the banner's band
        banner_text = np.all(bottom > [200, 180, 0], axis=-1) & (bottom[..., 2] < 150)
        assert banner_text.sum() > 200, image.description  # and its (yellow) words
        header = image.pixels[:20]
        assert (header.max(axis=-1) > 150).sum() > 100, image.description  # header text


def _bright_rows(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.flatnonzero(np.all(np.abs(pixels.astype(int) - colour) <= 12, axis=-1).any(axis=1))


def test_cpr_marks_segments_and_the_lesion_at_its_place(case_images: tuple) -> None:
    case, images = case_images
    lad = next(i for i in images if i.kind == "cpr" and i.vessel == "LAD" and i.angle_deg == 0.0)
    lesion = case.findings.lesions[0]  # pLAD, 72 %
    red = severity_colour(lesion.pct_diameter_stenosis)
    rows = _bright_rows(lad.pixels, red)
    assert len(rows) > 10
    # segment boundary ticks: LM|pLAD, pLAD|mLAD, mLAD|dLAD
    segment_rows = _bright_rows(lad.pixels[:, :200], SEGMENT)
    assert len(segment_rows) >= 3
    # the lesion marker lies between the LM|pLAD and pLAD|mLAD boundaries
    tick_rows = _tick_rows(lad)
    assert len(tick_rows) == 3
    assert tick_rows[0] < np.median(rows) < tick_rows[1]
    # pLAD spans 0-9 mm of the LAD: the marker sits at mld_s_mm / 9 of the way down it
    ratio = (np.median(rows) - tick_rows[0]) / (tick_rows[1] - tick_rows[0])
    assert abs(ratio - lesion.mld_s_mm / 9.0) < 0.15, ratio


def _tick_rows(image: KeyImage) -> list[int]:
    """Rows of the long horizontal segment ticks in the left margin."""
    margin = image.pixels[:, :200]
    match = np.all(np.abs(margin.astype(int) - SEGMENT) <= 12, axis=-1)
    rows = np.flatnonzero(match.sum(axis=1) > 80)
    groups = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1) if len(rows) else []
    return [int(group.mean()) for group in groups]


def test_cjk_font_renders_chinese() -> None:
    font = cjk_font_file()
    assert font.path.is_file()
    glyph = pil_font(32).getmask("冠")
    missing = pil_font(32).getmask("\U0010fffd")
    assert glyph.getbbox() is not None
    assert bytes(glyph) != bytes(missing)


def test_film_page_is_print_sized_with_the_table(case_images: tuple) -> None:
    case, images = case_images
    content = build_content(case.findings, case.datasets[0], case.volume.shape[0], "zh")
    film = compose_film(images, content)
    width, height = film_size_px()
    assert film.shape == (height, width, 3) == (2550, 2100, 3)
    assert _has_colour(film[-60:], BANNER_BG, 2)
    lower = film[int(height * 0.65): int(height * 0.85)]
    assert (lower.max(axis=-1) > 200).sum() > 5000  # the table's and grade's text
    assert _has_colour(film[:400], (255, 160, 40), 2)  # the CAD-RADS box


def test_unnamed_tree_without_lesions_or_grade_still_renders() -> None:
    points = line([-10.0, 5.0, 20.0], [15.0, -8.0, -5.0])
    radius = np.full(len(points), 1.5)
    findings = tube_findings(points, radius, name="", segments=[None] * len(points))
    volume = tube_volume(points, radius, oblique=False)
    images = build_key_images(findings, volume, study_info(None, "en"), "en")
    assert [image.kind for image in images].count("cpr") == 6  # the top-level vessel
    assert [image.kind for image in images].count("cross-section") == 0
    content = build_content(findings, None, volume.shape[0], "en")
    assert content.lesion_rows == [["#0", "", "no stenosis ≥ 25%", *[""] * 7]]
    assert content.grade_rows == [("CAD-RADS 2.0", "—")]
    film = compose_film(images, content)
    assert _has_colour(film[-60:], BANNER_BG, 2)


def test_report_lists_main_vessels_once_and_every_vessel_with_a_lesion() -> None:
    points = line([0.0, 0.0, 0.0], [0.0, 0.0, -20.0], step_mm=1.0)
    radius = np.full(len(points), 1.5)
    findings = tube_findings(points, radius, name="LAD")
    template = findings.vessels[0]
    names = ["LAD", "OM3", "OM3", "septal", "other", "D1", "D1"]
    findings.vessels = [dataclasses.replace(template, vessel_id=i, name=name,
                                            parent_id=None if i == 0 else 0)
                        for i, name in enumerate(names)]
    lesion = dataclasses.replace(sample_lesion(), vessel_id=4)  # on "other"
    findings.lesions = [lesion]
    assert [v.vessel_id for v in reported_vessels(findings)] == [0, 4, 5]
    _, rows = lesion_table(findings, "zh")
    assert [row[0] for row in rows] == ["前降支 LAD", "其他分支 other", "第一对角支 D1"]
    assert rows[1][2] == f"{lesion.pct_diameter_stenosis:.0f}%"
    assert rows[1][-1] == "中度"  # "moderate"


def sample_lesion() -> Lesion:
    return Lesion(vessel_id=0, start_s_mm=4.0, end_s_mm=8.0, mld_s_mm=6.0,
                  mld_position_lps_mm=[0.0, 0.0, -6.0], pct_diameter_stenosis=55.0,
                  pct_area_stenosis=80.0, mld_mm=1.4, mla_mm2=1.5, reference_diameter_mm=3.0,
                  length_mm=4.0, grade="moderate")


def test_report_and_film_name_the_model_with_its_version() -> None:
    from ccta_ai.report.content import algorithm_rows

    case_findings = tube_findings(line([0.0, 0.0, 0.0], [0.0, 0.0, -20.0]), np.full(41, 1.5))
    identity = dataclasses.replace(
        case_findings.algorithm,
        name="ccta-ai", version="0.1.0", model_name="coronary_seg", model_sha256="ab" * 32,
        parameters={"model_version": "0.2.0"},
    )
    findings = dataclasses.replace(case_findings, algorithm=identity)
    assert algorithm_rows(findings, "en") == [
        ("Algorithm", "ccta-ai"), ("Version", "0.1.0"), ("Model", "coronary_seg 0.2.0"),
        ("Model SHA-256", "ab" * 32),
    ]
    assert ("模型", "coronary_seg 0.2.0") in algorithm_rows(findings, "zh")
    calcium = "calcium_lumen 0.1.0 (weights sha256 " + "cd" * 32 + ")"
    identity.parameters["lumen_under_calcium"] = calcium
    assert ("模型", "coronary_seg 0.2.0, calcium_lumen 0.1.0") in algorithm_rows(findings, "zh")


def test_overview_names_each_vessel_once_without_overlapping_labels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Crossing vessels whose midpoints coincide, a name split over two pieces and two
    unnamed branches: each name is written once, "other" not at all, no two labels on
    top of each other (the film's overview had "other" over "acute marginal")."""
    from PIL import ImageDraw

    from ccta_ai.analysis.findings import Centerline, Vessel
    from ccta_ai.render.overview import render_view

    def piece(vessel_id: int, name: str, start: list[float], end: list[float]) -> Vessel:
        points = line(start, end, step_mm=0.5)
        return Vessel(vessel_id, Centerline(points.tolist(), [1.2] * len(points)), name=name)

    findings = tube_findings(line([0.0, 0.0, 0.0], [0.0, 0.0, -60.0], step_mm=0.5),
                             np.full(121, 1.5))  # LAD, vertical  # fmt: skip
    findings.vessels += [
        piece(1, "D1", [-20.0, 0.0, -40.0], [20.0, 0.0, -20.0]),  # crosses the LAD mid-way
        piece(2, "LAD", [0.0, 0.0, -60.0], [0.0, 0.0, -70.0]),  # a second, shorter LAD piece
        piece(3, "other", [10.0, 0.0, -30.0], [30.0, 0.0, -30.0]),
        piece(4, "other", [10.0, 0.0, -31.0], [30.0, 0.0, -32.0]),
        piece(5, "acute marginal", [12.0, 0.0, -30.5], [28.0, 0.0, -30.5]),
    ]
    written: list[tuple[str, tuple[float, float, float, float]]] = []
    original = ImageDraw.ImageDraw.text

    def record(self: ImageDraw.ImageDraw, xy: tuple[float, float], text: str,
               *args: object, **kwargs: object) -> None:
        written.append((text, self.textbbox(xy, text, font=kwargs.get("font"),  # type: ignore[arg-type]
                                            anchor=kwargs.get("anchor"))))  # type: ignore[arg-type]
        original(self, xy, text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    render_view(findings, "anterior")
    names = [text for text, _ in written if len(text) > 1]  # the view's letters are single
    assert sorted(names) == ["D1", "LAD", "acute marginal"]
    boxes = [box for text, box in written if len(text) > 1]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3], (a, b)
