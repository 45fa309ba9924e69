"""Burned-in annotations: window/level, header, banner, scale bar, CPR labels.

Every picture we output is framed by :func:`frame`: a header band (patient and study,
then what the picture shows), the picture, and a footer band with a millimetre scale
bar and the banner "AI result — requires physician review". CPRs get their vessel and
segment names, segment boundaries as ticks, a ruler of the distance from the ostium
and lesion markers with the % diameter stenosis (:func:`annotate_cpr`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ccta_ai.phantom.labels import segment_name
from ccta_ai.render.cpr import CprImage
from ccta_ai.render.fonts import pil_font
from ccta_ai.render.path import VesselPath

#: CTA window (width, level) in HU.
CTA_WINDOW_HU = (800.0, 200.0)

BACKGROUND = (0, 0, 0)
HEADER_BG = (24, 24, 32)
TEXT = (235, 235, 235)
MUTED = (170, 170, 180)
SEGMENT = (120, 200, 255)
BANNER_BG = (150, 20, 20)
BANNER_TEXT = (255, 230, 80)


def severity_colour(pct_diameter_stenosis: float) -> tuple[int, int, int]:
    """Red ≥ 70 %, orange 50–69 %, yellow below."""
    if pct_diameter_stenosis >= 70:
        return (255, 60, 60)
    if pct_diameter_stenosis >= 50:
        return (255, 160, 40)
    return (255, 230, 60)


def window_u8(hu: np.ndarray, window_hu: tuple[float, float] = CTA_WINDOW_HU) -> np.ndarray:
    """HU mapped to 0-255 with a (width, level) window."""
    width, level = window_hu
    scaled = (np.asarray(hu, dtype=np.float32) - (level - width / 2.0)) * (255.0 / width)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_rgb(gray_u8: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(gray_u8), mode="L").convert("RGB")


def text_width(text: str, size_px: int, bold: bool = False) -> int:
    left, _, right, _ = pil_font(size_px, bold).getbbox(text)
    return int(right - left)


def fit_text(text: str, size_px: int, max_width_px: int, bold: bool = False) -> str:
    """``text`` shortened with an ellipsis to fit ``max_width_px``."""
    if text_width(text, size_px, bold) <= max_width_px:
        return text
    while text and text_width(text + "…", size_px, bold) > max_width_px:
        text = text[:-1]
    return text + "…"


@dataclass(frozen=True)
class Frame:
    """Texts around a picture: ``header`` lines (patient/study first), the ``banner``."""

    header: tuple[str, ...]
    banner: str
    font_px: int = 18


def frame(body: Image.Image, spec: Frame, pixel_mm: float | None, min_width_px: int = 640
          ) -> Image.Image:
    """``body`` with a header band above and a footer band (scale bar, banner) below."""
    size = spec.font_px
    line_h = int(size * 1.45)
    width = max(body.width, min_width_px)
    header_h = line_h * len(spec.header) + 10
    footer_h = line_h * 2 + 16
    canvas = Image.new("RGB", (width, header_h + body.height + footer_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, header_h - 1), fill=HEADER_BG)
    for i, line in enumerate(spec.header):
        bold = i == 1
        draw.text((8, 5 + i * line_h), fit_text(line, size, width - 16, bold),
                  font=pil_font(size, bold), fill=TEXT if i else MUTED)
    canvas.paste(body, ((width - body.width) // 2, header_h))
    top = header_h + body.height
    if pixel_mm:
        scale_bar(draw, (10, top + 6), pixel_mm, size)
    banner_top = top + line_h + 8
    draw.rectangle((0, banner_top, width, top + footer_h), fill=BANNER_BG)
    draw.text((width // 2, (banner_top + top + footer_h) // 2),
              fit_text(spec.banner, size, width - 12, True), font=pil_font(size, True),
              fill=BANNER_TEXT, anchor="mm")
    return canvas


def scale_bar(draw: ImageDraw.ImageDraw, origin: tuple[int, int], pixel_mm: float, size_px: int
              ) -> None:
    """A bar of a round number of mm (about 80-200 px long) with its label."""
    bar_mm = next((mm for mm in (1, 2, 5, 10, 20, 50, 100) if mm / pixel_mm >= 80), 100)
    length = round(bar_mm / pixel_mm)
    x, y = origin
    h = size_px // 2
    draw.line((x, y + h, x + length, y + h), fill=TEXT, width=3)
    for end in (x, x + length):
        draw.line((end, y + 2, end, y + 2 * h - 2), fill=TEXT, width=2)
    draw.text((x + length + 8, y), f"{bar_mm} mm", font=pil_font(size_px), fill=TEXT)


@dataclass(frozen=True)
class LesionMark:
    """A lesion on a path: arc lengths on the path, % diameter stenosis, a label and the
    reference diameter (the markers beside the vessel stay clear of its lumen)."""

    mld_s_mm: float
    start_s_mm: float
    end_s_mm: float
    pct_diameter_stenosis: float
    label: str
    reference_diameter_mm: float = 4.0


def _segment_runs(path: VesselPath, cpr: CprImage) -> list[tuple[int, int, int]]:
    """``(first row, last row, segment)`` runs of the rows' segment numbers."""
    index = np.clip(np.searchsorted(path.s_mm, cpr.row_s_mm), 0, len(path.s_mm) - 1)
    labels = path.segment[index]
    runs, start = [], 0
    for row in range(1, len(labels) + 1):
        if row == len(labels) or labels[row] != labels[start]:
            runs.append((start, row - 1, int(labels[start])))
            start = row
    return runs


def annotate_cpr(cpr: CprImage, path: VesselPath, lesions: list[LesionMark],
                 window_hu: tuple[float, float] = CTA_WINDOW_HU, font_px: int = 16
                 ) -> Image.Image:
    """The CPR with margins: segment names and boundaries and a 10 mm ruler on the left,
    lesion markers (extent bracket, arrow, % stenosis) on the right."""
    image = to_rgb(window_u8(cpr.hu, window_hu))
    left, right, pad = 120, 150, font_px
    canvas = Image.new("RGB", (left + image.width + right, image.height + 2 * pad), BACKGROUND)
    canvas.paste(image, (left, pad))
    draw = ImageDraw.Draw(canvas)
    font = pil_font(font_px)
    x0, x1 = left, left + image.width - 1
    for first, last, number in _segment_runs(path, cpr):
        if first > 0:
            y = pad + first
            draw.line((8, y, x0 + 10, y), fill=SEGMENT, width=2)
            draw.line((x1 - 10, y, x1 + 6, y), fill=SEGMENT, width=2)
        if number and last - first > font_px:
            draw.text((8, pad + (first + last) // 2), segment_name(number), font=font,
                      fill=SEGMENT, anchor="lm")
    for s_mm in np.arange(0.0, float(cpr.row_s_mm[-1]) + 1e-9, 10.0):
        y = pad + cpr.row_of(float(s_mm))
        draw.line((x0 - 8, y, x0 - 1, y), fill=MUTED, width=1)
        draw.text((x0 - 10, y), f"{s_mm:.0f}", font=pil_font(font_px - 4), fill=MUTED,
                  anchor="rm")
    for mark in lesions:
        colour = severity_colour(mark.pct_diameter_stenosis)
        top, bottom = pad + cpr.row_of(mark.start_s_mm), pad + cpr.row_of(mark.end_s_mm)
        y = pad + cpr.row_of(mark.mld_s_mm)
        draw.line((x1 + 6, top, x1 + 6, bottom), fill=colour, width=3)
        draw.line((x1 + 2, top, x1 + 6, top), fill=colour, width=2)
        draw.line((x1 + 2, bottom, x1 + 6, bottom), fill=colour, width=2)
        draw.polygon([(x1 + 10, y), (x1 + 22, y - 7), (x1 + 22, y + 7)], fill=colour)
        draw.text((x1 + 26, y), f"{mark.pct_diameter_stenosis:.0f}%", font=pil_font(font_px + 2,
                  True), fill=colour, anchor="lm")
        draw.text((x1 + 26, y + font_px + 2), mark.label, font=pil_font(font_px - 2),
                  fill=colour, anchor="lm")
        centre = left + float(np.interp(y - pad, np.arange(len(cpr.centre_column)),
                                         cpr.centre_column))
        gap = (mark.reference_diameter_mm / 2 + 2.0) / cpr.pixel_mm  # clear of the lumen
        for side in (-1, 1):
            tip = centre + side * gap
            draw.polygon([(tip, y), (tip + side * 10, y - 5), (tip + side * 10, y + 5)],
                         fill=colour)
    return canvas
