"""Lumen-diameter profile of a vessel, drawn with Pillow.

x: arc length from the vessel's first point (mm); y: diameter (mm). The band is the
minimum-to-maximum diameter, the solid line the area-equivalent diameter, the dashed
line the reference diameter; lesions are shaded over their extent and marked at the
MLD with their % stenosis; SCCT segment boundaries are dotted, names below the axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ccta_ai.analysis.findings import Lesion, Vessel
from ccta_ai.phantom.labels import segment_name
from ccta_ai.render.annotate import BACKGROUND, MUTED, SEGMENT, TEXT, severity_colour
from ccta_ai.render.fonts import pil_font

EQUIVALENT = (240, 240, 240)
BAND = (70, 90, 120)
REFERENCE = (110, 220, 120)
GRID = (55, 55, 65)


@dataclass(frozen=True)
class PlotLabels:
    x_axis: str
    y_axis: str
    equivalent: str
    min_max: str
    reference: str


def _column(values: list[float | None], n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    for i, v in enumerate(values[:n]):
        if v is not None:
            out[i] = v
    return out


def _nice_step(span: float, target_ticks: int) -> float:
    raw = span / max(target_ticks, 1)
    magnitude = 10 ** np.floor(np.log10(raw)) if raw > 0 else 1.0
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def _polyline(draw: ImageDraw.ImageDraw, xs: np.ndarray, ys: np.ndarray,
              colour: tuple[int, int, int], width: int, dash: int = 0) -> None:
    """Lines through finite points; gaps at NaN; dashed when ``dash`` > 0 (points)."""
    finite = np.isfinite(xs) & np.isfinite(ys)
    for i in range(len(xs) - 1):
        if finite[i] and finite[i + 1] and not (dash and (i // dash) % 2):
            draw.line((xs[i], ys[i], xs[i + 1], ys[i + 1]), fill=colour, width=width)


def _band(draw: ImageDraw.ImageDraw, xs: np.ndarray, low_px: np.ndarray, high_px: np.ndarray
          ) -> None:
    """Fill between two curves over each run of finite points."""
    finite = np.isfinite(low_px) & np.isfinite(high_px)
    start = None
    for i in range(len(xs) + 1):
        if i < len(xs) and finite[i]:
            start = i if start is None else start
            continue
        if start is not None and i - start >= 2:
            run = range(start, i)
            outline = [(xs[j], high_px[j]) for j in run] + [(xs[j], low_px[j]) for j in run[::-1]]
            draw.polygon([(float(x), float(y)) for x, y in outline], fill=BAND)
        start = None


def profile_plot(vessel: Vessel, lesions: list[Lesion], labels: PlotLabels,
                 size_px: tuple[int, int] = (1000, 460), font_px: int = 16) -> Image.Image:
    """The profile picture of ``vessel`` (an empty frame when it has no profile)."""
    width, height = size_px
    image = Image.new("RGB", size_px, BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = pil_font(font_px), pil_font(font_px - 2)
    left, right, top, bottom = 70, 20, 64, 80
    profile = vessel.profile
    s = np.asarray(profile.s_mm if profile else [], dtype=np.float64)
    n = len(s)
    if n < 2 or profile is None:
        draw.text((width // 2, height // 2), "—", font=font, fill=MUTED, anchor="mm")
        return image
    equivalent = _column(profile.equivalent_diameter_mm, n)
    low = _column(profile.min_diameter_mm, n)
    high = _column(profile.max_diameter_mm, n)
    reference = _column(profile.reference_diameter_mm, n)
    y_max = float(np.nanmax(np.concatenate([high, equivalent, reference, [1.0]]))) * 1.15
    x_max = float(s[-1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_px(v: np.ndarray | float) -> np.ndarray:
        return left + np.asarray(v, dtype=np.float64) / x_max * plot_w

    def y_px(v: np.ndarray | float) -> np.ndarray:
        return top + plot_h - np.asarray(v, dtype=np.float64) / y_max * plot_h

    for tick in np.arange(0.0, y_max, _nice_step(y_max, 5)):
        y = float(y_px(tick))
        draw.line((left, y, left + plot_w, y), fill=GRID)
        draw.text((left - 6, y), f"{tick:g}", font=small, fill=MUTED, anchor="rm")
    for tick in np.arange(0.0, x_max + 1e-9, _nice_step(x_max, 10)):
        x = float(x_px(tick))
        draw.line((x, top, x, top + plot_h), fill=GRID)
        draw.text((x, top + plot_h + 4), f"{tick:g}", font=small, fill=MUTED, anchor="mt")
    for lesion in lesions:
        colour = severity_colour(lesion.pct_diameter_stenosis)
        x0, x1 = float(x_px(lesion.start_s_mm)), float(x_px(lesion.end_s_mm))
        shade = tuple(int(c * 0.35) for c in colour)
        draw.rectangle((x0, top, max(x1, x0 + 2), top + plot_h), fill=shade)
    xs = x_px(s)
    _band(draw, xs, y_px(low), y_px(high))
    _polyline(draw, xs, y_px(reference), REFERENCE, 2)
    _polyline(draw, xs, y_px(equivalent), EQUIVALENT, 3)
    for lesion in lesions:
        colour = severity_colour(lesion.pct_diameter_stenosis)
        x, y = float(x_px(lesion.mld_s_mm)), float(y_px(lesion.mld_mm))
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour)
        draw.text((x, top - 4), f"{lesion.pct_diameter_stenosis:.0f}%",
                  font=pil_font(font_px, True), fill=colour, anchor="mb")
    segments = [0 if v is None else v for v in vessel.centerline.segment[:n]]
    if len(segments) == n:
        start = 0
        for i in range(1, n + 1):
            if i == n or segments[i] != segments[start]:
                x0, x1 = float(xs[start]), float(xs[i - 1])
                if start > 0:
                    for y in range(top, top + plot_h, 8):
                        draw.line((x0, y, x0, y + 4), fill=SEGMENT)
                if segments[start] and x1 - x0 > 30:
                    draw.text(((x0 + x1) / 2, top + plot_h + 24), segment_name(segments[start]),
                              font=small, fill=SEGMENT, anchor="mt")
                start = i
    draw.rectangle((left, top, left + plot_w, top + plot_h), outline=MUTED)
    draw.text((left + plot_w / 2, height - 4), labels.x_axis, font=small, fill=TEXT, anchor="mb")
    draw.text((4, 4), labels.y_axis, font=small, fill=TEXT, anchor="la")
    legend_x = left + plot_w - 8
    for text, colour in ((labels.reference, REFERENCE), (labels.min_max, BAND),
                         (labels.equivalent, EQUIVALENT)):
        draw.text((legend_x, 8), text, font=small, fill=colour, anchor="rt")
        legend_x -= int(draw.textlength(text, font=small)) + 24
    return image
