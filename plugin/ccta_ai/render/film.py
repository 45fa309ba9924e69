"""One print-ready film page: key images, the findings table and the grade.

14 x 17 inch at 150 dpi (2100 x 2550 pixels, RGB). From top to bottom: title,
patient and study, CAD-RADS box; a row of straightened CPRs (0°) of the reported
vessels; the tree overview and the cross-sections of the worst lesions; the findings
table; the grade rows, management and reasons; the disclaimer and the banner.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ccta_ai.render.annotate import BANNER_BG, BANNER_TEXT, MUTED, TEXT, fit_text
from ccta_ai.render.fonts import pil_font
from ccta_ai.render.keyimages import KeyImage
from ccta_ai.report import strings as words
from ccta_ai.report.content import ReportContent

FILM_INCH = (14.0, 17.0)
FILM_DPI = 150
PAGE_BG = (0, 0, 0)
RULE = (90, 90, 100)
MARGIN = 30
MAX_TABLE_ROWS = 10


def film_size_px(dpi: int = FILM_DPI) -> tuple[int, int]:
    return int(FILM_INCH[0] * dpi), int(FILM_INCH[1] * dpi)


def _fit(image: np.ndarray, box: tuple[int, int]) -> Image.Image:
    picture = Image.fromarray(image)
    scale = min(box[0] / picture.width, box[1] / picture.height)
    size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _row(page: Image.Image, images: list[KeyImage], top: int, height: int) -> None:
    """Images side by side, each cell as wide as its picture's aspect asks."""
    if not images:
        return
    width = page.width - 2 * MARGIN - 10 * (len(images) - 1)
    aspects = np.array([key.pixels.shape[1] / key.pixels.shape[0] for key in images])
    cells = (aspects / aspects.sum() * width).astype(int)
    x = MARGIN
    for key, cell in zip(images, cells, strict=True):
        picture = _fit(key.pixels, (int(cell), height))
        page.paste(picture, (x + (int(cell) - picture.width) // 2,
                             top + (height - picture.height) // 2))
        x += int(cell) + 10


def _wrap(text: str, size_px: int, width_px: int, bold: bool = False) -> list[str]:
    """Greedy wrap at spaces, or anywhere for text without spaces (Chinese)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        units = paragraph.split(" ") if " " in paragraph else list(paragraph)
        joiner = " " if " " in paragraph else ""
        line = ""
        for unit in units:
            candidate = f"{line}{joiner}{unit}" if line else unit
            left, _, right, _ = pil_font(size_px, bold).getbbox(candidate)
            if right - left > width_px and line:
                lines.append(line)
                line = unit
            else:
                line = candidate
        lines.append(line)
    return lines


def _table(draw: ImageDraw.ImageDraw, header: list[str], rows: list[list[str]], top: int,
           width: int, size_px: int) -> int:
    """Draw the findings table (cells wrap; a cell followed by empty ones spans them);
    return the y below it."""
    weights = np.array([1.3, 1.4, 1.5, 0.9, 1.0, 0.9, 1.3, 1.1, 2.6, 0.7])[: len(header)]
    columns = (weights / weights.sum() * width).astype(int)
    line_h = int(size_px * 1.4)
    y = top
    for r, cells in enumerate([header, *rows]):
        bold = r == 0
        spans = []
        for j, cell in enumerate(cells):
            last = j
            while last + 1 < len(cells) and not cells[last + 1]:
                last += 1
            spans.append(int(columns[j: last + 1].sum()) if cell else 0)
        wrapped = [_wrap(cell, size_px, span - 12, bold) if cell else [] for cell, span in
                   zip(cells, spans, strict=False)]
        height = line_h * max(1, *(len(lines) for lines in wrapped)) + 8
        if r % 2 == 0 and r:
            draw.rectangle((MARGIN, y, MARGIN + width, y + height), fill=(22, 22, 28))
        x = MARGIN
        for lines, column in zip(wrapped, columns, strict=False):
            for i, line in enumerate(lines):
                draw.text((x + 6, y + 4 + i * line_h), line, font=pil_font(size_px, bold),
                          fill=TEXT if r else MUTED)
            x += int(column)
        y += height
        if r == 0:
            draw.line((MARGIN, y, MARGIN + width, y), fill=RULE, width=2)
    return y


def compose_film(images: list[KeyImage], content: ReportContent, dpi: int = FILM_DPI
                 ) -> np.ndarray:
    """The film page as ``(rows, columns, 3)`` uint8 RGB."""
    t = words.TEXT[content.language]
    page = Image.new("RGB", film_size_px(dpi), PAGE_BG)
    draw = ImageDraw.Draw(page)
    k = dpi / FILM_DPI
    big, normal, small = int(40 * k), int(26 * k), int(22 * k)
    width = page.width - 2 * MARGIN
    draw.text((MARGIN, MARGIN), t["title"], font=pil_font(big, True), fill=TEXT)
    study = content.study
    draw.text((MARGIN, MARGIN + int(60 * k)), study.header_line(), font=pil_font(normal),
              fill=TEXT)
    draw.text((MARGIN, MARGIN + int(100 * k)), study.study_description, font=pil_font(small),
              fill=MUTED)
    grade = content.grade_rows[0][1] if content.grade_rows else ""
    box_w = int(640 * k)
    box = (page.width - MARGIN - box_w, MARGIN, page.width - MARGIN, MARGIN + int(130 * k))
    draw.rectangle(box, outline=(255, 160, 40), width=3)
    draw.text(((box[0] + box[2]) // 2, box[1] + int(40 * k)), grade, font=pil_font(big, True),
              fill=(255, 160, 40), anchor="mm")
    meaning = dict(content.grade_rows).get(t["meaning"], "")
    draw.text(((box[0] + box[2]) // 2, box[1] + int(95 * k)),
              fit_text(meaning, small, box_w - 20), font=pil_font(small), fill=TEXT, anchor="mm")
    top = MARGIN + int(160 * k)
    cprs = [key for key in images if key.kind == "cpr" and key.angle_deg == 0.0
            and "straightened" in key.description][:4]
    _row(page, cprs, top, int(1000 * k))
    top += int(1010 * k)
    sections = [key for key in images if key.kind == "cross-section"][:2]
    overview = [key for key in images if key.kind == "overview"][:1]
    _row(page, overview + sections, top, int(520 * k))
    top += int(540 * k)
    draw.line((MARGIN, top, MARGIN + width, top), fill=RULE, width=2)
    footer = page.height - MARGIN - int(150 * k)
    rows = content.lesion_rows
    if len(rows) > MAX_TABLE_ROWS:  # the PDF report lists them all
        rows = [*rows[: MAX_TABLE_ROWS - 1], ["…", "", f"+{len(rows) - MAX_TABLE_ROWS + 1}"]]
    top = _table(draw, content.lesion_header, rows, top + 10, width, small)
    top += int(16 * k)
    for label, value in content.grade_rows[1:]:
        lines = _wrap(value, small, width - int(420 * k))
        if top + len(lines) * int(small * 1.45) > footer - int(10 * k):
            break
        draw.text((MARGIN, top), label, font=pil_font(small, True), fill=MUTED)
        for line in lines:
            draw.text((MARGIN + int(420 * k), top), line, font=pil_font(small), fill=TEXT)
            top += int(small * 1.45)
    for line in _wrap(t["disclaimer"], small, width)[:3]:
        draw.text((MARGIN, footer), line, font=pil_font(small), fill=MUTED)
        footer += int(small * 1.45)
    algorithm = "  |  ".join(f"{label}: {value}" for label, value in content.algorithm_rows
                             if label != t["sha256"])
    draw.text((MARGIN, footer), fit_text(algorithm, small, width), font=pil_font(small),
              fill=MUTED)
    banner_top = page.height - MARGIN - int(50 * k)
    draw.rectangle((0, banner_top, page.width, page.height), fill=BANNER_BG)
    draw.text((page.width // 2, (banner_top + page.height) // 2), t["banner"],
              font=pil_font(normal, True), fill=BANNER_TEXT, anchor="mm")
    return np.asarray(page, dtype=np.uint8)
