"""Lumen cross-sections orthogonal to the centreline, at a lesion's MLD and reference.

The plane at arc length ``s`` is spanned by the path's frame there (columns along the
normal, rows along the binormal), centred on the centreline. The reference site is
the healthiest measured point (lumen closest to its reference diameter, so neither a
narrowing nor a bifurcation's bulge) within 10 mm proximal to the lesion (not inside
the parent vessel at a branch's origin), else distal to it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ccta_ai.analysis.findings import Lesion, Vessel
from ccta_ai.imaging.volume import Volume
from ccta_ai.render.annotate import (
    BACKGROUND,
    CTA_WINDOW_HU,
    MUTED,
    TEXT,
    severity_colour,
    to_rgb,
    window_u8,
)
from ccta_ai.render.cpr import sample_hu
from ccta_ai.render.fonts import pil_font
from ccta_ai.render.path import VesselPath

SEARCH_MM = 10.0


def orthogonal_plane(volume: Volume, path: VesselPath, s_mm: float, half_width_mm: float = 8.0,
                     pixel_mm: float = 0.05) -> np.ndarray:
    """HU on the plane orthogonal to ``path`` at path arc length ``s_mm``."""
    index = path.at(s_mm)
    half = round(half_width_mm / pixel_mm)
    offsets = np.arange(-half, half + 1) * pixel_mm
    centre = path.points_lps_mm[index]
    grid = (centre + offsets[None, :, None] * path.normals[index]
            + offsets[:, None, None] * path.binormals[index])
    return sample_hu(volume, grid)


def reference_site_s_mm(vessel: Vessel, lesion: Lesion) -> float:
    """Vessel arc length of the lesion's reference site (see the module docstring)."""
    profile = vessel.profile
    fallback = lesion.start_s_mm - 3.0 if lesion.start_s_mm >= 3.0 else lesion.end_s_mm + 3.0
    if profile is None or not profile.s_mm:
        return max(fallback, 0.0)
    s = np.asarray(profile.s_mm, dtype=np.float64)
    ratio = np.array([
        (e / r) if e is not None and r else np.nan
        for e, r in zip(profile.equivalent_diameter_mm, profile.reference_diameter_mm,
                        strict=False)
    ] + [np.nan] * (len(s) - len(profile.equivalent_diameter_mm)))
    radius = vessel.centerline.radius_mm
    # a branch's first points lie in its parent's lumen: its reference is not there
    first_mm = 2.0 * max(radius[:8]) if vessel.parent_id is not None and radius else 0.0
    for low, high in ((max(lesion.start_s_mm - SEARCH_MM, first_mm), lesion.start_s_mm - 1.0),
                      (lesion.end_s_mm + 1.0, lesion.end_s_mm + SEARCH_MM)):
        window = (s >= low) & (s <= high) & np.isfinite(ratio)
        if window.any():
            candidates = np.flatnonzero(window)
            return float(s[candidates[int(np.argmin(np.abs(ratio[candidates] - 1.0)))]])
    return float(np.clip(fallback, 0.0, s[-1]))


def _panel(hu: np.ndarray, title: str, lines: list[str], colour: tuple[int, int, int],
           font_px: int) -> Image.Image:
    image = to_rgb(window_u8(hu, CTA_WINDOW_HU))
    line_h = int(font_px * 1.4)
    panel = Image.new("RGB", (image.width, image.height + line_h * (len(lines) + 1) + 8),
                      BACKGROUND)
    draw = ImageDraw.Draw(panel)
    draw.text((4, 2), title, font=pil_font(font_px, True), fill=colour)
    panel.paste(image, (0, line_h + 4))
    centre_x, centre_y = image.width // 2, line_h + 4 + image.height // 2
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # edge ticks pointing at the centre
        end_x = centre_x + dx * (image.width // 2)
        end_y = centre_y + dy * (image.height // 2)
        draw.line((end_x, end_y, end_x - dx * 14, end_y - dy * 14), fill=colour, width=3)
    for i, line in enumerate(lines):
        draw.text((4, line_h + 8 + image.height + i * line_h), line, font=pil_font(font_px),
                  fill=TEXT if i == 0 else MUTED)
    return panel


def cross_section_picture(volume: Volume, path: VesselPath, vessel: Vessel, lesion: Lesion,
                          titles: tuple[str, str], font_px: int = 16,
                          half_width_mm: float = 8.0, pixel_mm: float = 0.05
                          ) -> tuple[Image.Image, float]:
    """Two panels side by side (MLD, reference) and the reference site's vessel arc
    length. ``titles`` name the two panels in the report's language."""
    reference_s = reference_site_s_mm(vessel, lesion)
    colour = severity_colour(lesion.pct_diameter_stenosis)
    mld = _panel(
        orthogonal_plane(volume, path, path.offset_mm + lesion.mld_s_mm, half_width_mm, pixel_mm),
        titles[0],
        [f"{lesion.pct_diameter_stenosis:.0f}%  MLD {lesion.mld_mm:.1f} mm  "
         f"MLA {lesion.mla_mm2:.1f} mm²", f"s = {lesion.mld_s_mm:.1f} mm"],
        colour, font_px)
    profile = vessel.profile
    diameter = ""
    if profile is not None and profile.s_mm:
        near = int(np.argmin(np.abs(np.asarray(profile.s_mm) - reference_s)))
        value = profile.equivalent_diameter_mm[near] if near < len(
            profile.equivalent_diameter_mm) else None
        diameter = f"Ø {value:.1f} mm" if value is not None else ""
    reference = _panel(
        orthogonal_plane(volume, path, path.offset_mm + reference_s, half_width_mm, pixel_mm),
        titles[1],
        [f"{diameter}  ref {lesion.reference_diameter_mm:.1f} mm".strip(),
         f"s = {reference_s:.1f} mm"],
        (120, 220, 120), font_px)
    gap = 12
    both = Image.new("RGB", (mld.width + reference.width + gap, max(mld.height, reference.height)),
                     BACKGROUND)
    both.paste(mld, (0, 0))
    both.paste(reference, (mld.width + gap, 0))
    ImageDraw.Draw(both).line((mld.width + gap // 2, 0, mld.width + gap // 2, both.height),
                              fill=MUTED, width=1)
    return both, reference_s
