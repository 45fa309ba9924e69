"""Overview of the labelled coronary tree: shaded tubes, one colour per vessel.

Each centreline point is drawn as a sphere of its lumen radius (a z-buffered impostor
with Lambert shading), seen from the front (anterior view: patient's right on the
image's left, head up) and from the patient's left (left lateral view: anterior on the
image's left). Vessel names label the tubes; lesions are ringed with their % stenosis.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ccta_ai.analysis.findings import Findings
from ccta_ai.phantom.labels import segment_name
from ccta_ai.render.annotate import BACKGROUND, MUTED, TEXT, severity_colour
from ccta_ai.render.fonts import pil_font

#: Distinct colours, cycled over vessels; no reds or yellows (they mark lesions).
PALETTE = (
    (86, 180, 233), (0, 158, 115), (204, 121, 167), (0, 114, 178), (180, 140, 255),
    (140, 200, 90), (100, 210, 200), (200, 160, 120), (150, 150, 255), (230, 140, 220),
)  # fmt: skip

#: (image column axis, image row axis, depth axis towards the viewer) in LPS, per view.
VIEWS: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, str, str, str]]] = {
    "anterior": (np.array([1.0, 0, 0]), np.array([0, 0, -1.0]), np.array([0, -1.0, 0]),
                 ("R", "L", "H", "F")),
    "lateral": (np.array([0, 1.0, 0]), np.array([0, 0, -1.0]), np.array([1.0, 0, 0]),
                ("A", "P", "H", "F")),
}


MARGIN_MM = 12.0
#: Names not written on the tubes: unnamed branches (their colour and the table say enough).
UNLABELLED = ("", "other")
_NAME_AT = (0.5, 0.35, 0.65, 0.2, 0.8)  # where along a vessel its name may go


def vessel_colour(vessel_id: int) -> tuple[int, int, int]:
    return PALETTE[vessel_id % len(PALETTE)]


def _project(points: np.ndarray, view: str, origin: np.ndarray, pixel_mm: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    column_axis, row_axis, depth_axis, _ = VIEWS[view]
    relative = points - origin
    return relative @ column_axis / pixel_mm, relative @ row_axis / pixel_mm, relative @ depth_axis


def render_view(findings: Findings, view: str, size_px: int = 560, margin_mm: float = MARGIN_MM,
                font_px: int = 16) -> Image.Image:
    """One view of the tree, ``size_px`` square."""
    clouds = _clouds(findings)
    column_axis, row_axis, _, letters = VIEWS[view]
    centre, extent_mm = _extent(clouds, margin_mm)
    pixel_mm = extent_mm / size_px
    origin = centre - (column_axis + row_axis) * extent_mm / 2.0
    depth = np.full((size_px, size_px), -np.inf)
    rgb = np.zeros((size_px, size_px, 3), dtype=np.float32)
    for vessel, points in zip(findings.vessels, clouds, strict=True):
        if len(points) == 0:
            continue
        colour = np.array(vessel_colour(vessel.vessel_id), dtype=np.float32)
        radius = np.asarray(vessel.centerline.radius_mm or [1.0] * len(points), dtype=np.float64)
        points, radius = _densify(points, radius, 0.7 * pixel_mm)  # no beads
        cols, rows, depths = _project(points, view, origin, pixel_mm)
        for col, row, z, r_mm in zip(cols, rows, depths, radius / pixel_mm, strict=False):
            r = max(float(r_mm), 1.0)
            c0, c1 = int(np.floor(col - r)), int(np.ceil(col + r)) + 1
            r0, r1 = int(np.floor(row - r)), int(np.ceil(row + r)) + 1
            if c1 <= 0 or r1 <= 0 or c0 >= size_px or r0 >= size_px:
                continue
            c0, r0, c1, r1 = max(c0, 0), max(r0, 0), min(c1, size_px), min(r1, size_px)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            rho2 = ((xx - col) ** 2 + (yy - row) ** 2) / (r * r)
            inside = rho2 <= 1.0
            nz = np.sqrt(np.clip(1.0 - rho2, 0.0, 1.0))
            z_here = z + nz * r * pixel_mm
            patch = depth[r0:r1, c0:c1]
            visible = inside & (z_here > patch)
            patch[visible] = z_here[visible]
            shade = (0.3 + 0.7 * nz)[visible][:, None]
            rgb[r0:r1, c0:c1][visible] = colour * shade
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(image)
    font = pil_font(font_px, True)
    placed: list[tuple[float, float, float, float]] = []
    named: set[str] = set()
    # one label per name (the longest piece carries it), none for unnamed branches,
    # each where it overlaps no label already placed (or not at all)
    by_length = sorted(zip(findings.vessels, clouds, strict=True), key=lambda vc: -len(vc[1]))
    for vessel, points in by_length:
        if vessel.name in UNLABELLED or vessel.name in named or len(points) == 0:
            continue
        cols, rows, _ = _project(points, view, origin, pixel_mm)
        box = _name_spot(draw, vessel.name, font, cols, rows, placed)
        if box is None:
            continue
        placed.append(box)
        named.add(vessel.name)
        draw.text((box[0], box[1]), vessel.name, font=font, fill=vessel_colour(vessel.vessel_id),
                  anchor="la", stroke_width=2, stroke_fill=BACKGROUND)
    for lesion in sorted(findings.lesions, key=lambda x: -x.pct_diameter_stenosis):
        cols, rows, _ = _project(np.asarray([lesion.mld_position_lps_mm]), view, origin, pixel_mm)
        x, y = float(cols[0]), float(rows[0])
        mark = severity_colour(lesion.pct_diameter_stenosis)
        draw.ellipse((x - 11, y - 11, x + 11, y + 11), outline=mark, width=3)
        label = f"{lesion.pct_diameter_stenosis:.0f}%"
        if lesion.segment:
            label += f" {segment_name(lesion.segment)}"
        box = _free_spot(draw, label, font, (x, y), placed)
        placed.append(box)
        draw.line((x, y, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2), fill=mark, width=1)
        draw.rectangle(box, fill=BACKGROUND, outline=mark)
        draw.text((box[0] + 4, box[1] + 2), label, font=font, fill=mark, anchor="la")
    small = pil_font(font_px)
    draw.text((6, size_px // 2), letters[0], font=small, fill=MUTED, anchor="lm")
    draw.text((size_px - 6, size_px // 2), letters[1], font=small, fill=MUTED, anchor="rm")
    draw.text((size_px // 2, 4), letters[2], font=small, fill=MUTED, anchor="mt")
    draw.text((size_px // 2, size_px - 4), letters[3], font=small, fill=MUTED, anchor="mb")
    return image


def _name_spot(draw: ImageDraw.ImageDraw, name: str, font: ImageFont.FreeTypeFont,
               cols: np.ndarray, rows: np.ndarray,
               placed: list[tuple[float, float, float, float]]
               ) -> tuple[float, float, float, float] | None:
    """A box for a vessel's name beside one of its points (right of it, else left),
    overlapping no box in ``placed``; None when every spot is taken."""
    left, top, right, bottom = draw.textbbox((0, 0), name, font=font, anchor="la")
    w, h = right - left + 4, bottom - top + 4
    for fraction in _NAME_AT:
        i = min(int(fraction * len(cols)), len(cols) - 1)
        x, y = float(cols[i]), float(rows[i])
        for bx in (x + 8, x - 8 - w):
            box = (bx, y - h / 2, bx + w, y + h / 2)
            if not any(_overlap(box, p) for p in placed):
                return box
    return None


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return not (a[2] < b[0] or a[0] > b[2] or a[3] < b[1] or a[1] > b[3])


def _free_spot(draw: ImageDraw.ImageDraw, label: str, font: ImageFont.FreeTypeFont,
               at: tuple[float, float], placed: list[tuple[float, float, float, float]]
               ) -> tuple[float, float, float, float]:
    """A label box near ``at`` overlapping no box in ``placed`` (the first try when all
    overlap)."""
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font, anchor="la")
    w, h = right - left + 8, bottom - top + 6
    x, y = at
    tries = [(x + 40, y - 50), (x - 40 - w, y - 50), (x + 40, y + 30), (x - 40 - w, y + 30),
             (x + 60, y - 10), (x - 60 - w, y - 10), (x - w / 2, y - 90), (x - w / 2, y + 70)]
    boxes = [(bx, by, bx + w, by + h) for bx, by in tries]
    for box in boxes:
        if not any(_overlap(box, p) for p in placed):
            return box
    return boxes[0]


def overview_picture(findings: Findings, titles: tuple[str, str], size_px: int = 560,
                     font_px: int = 16) -> tuple[Image.Image, float]:
    """Anterior and left lateral views side by side, with their titles; also the pixel
    size in mm (the same in both views)."""
    views = [render_view(findings, view, size_px, font_px=font_px)
             for view in ("anterior", "lateral")]
    line_h = int(font_px * 1.5)
    gap = 10
    canvas = Image.new("RGB", (2 * size_px + gap, size_px + line_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, (view, title) in enumerate(zip(views, titles, strict=True)):
        x = i * (size_px + gap)
        draw.text((x + 4, 2), title, font=pil_font(font_px, True), fill=TEXT)
        canvas.paste(view, (x, line_h))
    _, extent_mm = _extent(_clouds(findings), MARGIN_MM)
    return canvas, extent_mm / size_px


def _densify(points: np.ndarray, radius: np.ndarray, step_mm: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """Points (and radii) resampled every ``step_mm`` along the polyline."""
    if len(points) < 2 or len(radius) != len(points):
        return points, radius
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    targets = np.arange(0.0, s[-1] + 1e-9, step_mm)
    dense = np.stack([np.interp(targets, s, points[:, i]) for i in range(3)], axis=1)
    return dense, np.interp(targets, s, radius)


def _clouds(findings: Findings) -> list[np.ndarray]:
    return [np.asarray(v.centerline.points_lps_mm, dtype=np.float64).reshape(-1, 3)
            for v in findings.vessels]


def _extent(clouds: list[np.ndarray], margin_mm: float) -> tuple[np.ndarray, float]:
    """Centre of the tree's bounding box and the side of a cube holding it (both views
    then share one pixel size)."""
    every = np.concatenate(clouds) if clouds else np.zeros((1, 3))
    low, high = every.min(axis=0) - margin_mm, every.max(axis=0) + margin_mm
    return (low + high) / 2.0, float(np.max(high - low))
