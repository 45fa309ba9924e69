"""The PDF report (A4), laid out with fpdf2 and an embedded subset of a CJK font.

Page 1: title, the AI banner, patient and study, technique, the CAD-RADS 2.0 result
(category, meaning, modifiers, plaque burden, management, reasons) and the per-vessel
findings table. Then the key images. Last: algorithm and model identification, notes
and the disclaimer. Every page ends with the banner and its page number.

Only the regular face of the font is embedded (emphasis by size and colour): each face
costs about a second to parse and subset.
"""

from __future__ import annotations

import io

from fpdf import FPDF
from fpdf.enums import WrapMode
from fpdf.fonts import FontFace
from PIL import Image

from ccta_ai.render.fonts import cjk_font_file
from ccta_ai.render.keyimages import KeyImage
from ccta_ai.report import strings as words
from ccta_ai.report.content import ReportContent

FONT = "cjk"
ACCENT = (150, 20, 20)
GREY = (90, 90, 90)
HEAD_FILL = (225, 228, 235)
#: Key images in the report: the overview, straightened CPRs at 0°, cross-sections,
#: profiles (at most this many of each).
KEY_IMAGE_LIMITS = {"overview": 1, "cpr": 4, "cross-section": 4, "profile": 4}


class _Report(FPDF):
    def __init__(self, content: ReportContent) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.content = content
        self.t = words.TEXT[content.language]
        self.wrap = WrapMode.CHAR if content.language == "zh" else WrapMode.WORD

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(*ACCENT)
        self.cell(0, 5, self.t["banner"], align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(*GREY)
        self.cell(0, 4, self.t["page"].format(page=self.page_no()), align="C")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(FONT, size=12)
        self.set_text_color(*ACCENT)
        self.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(*ACCENT)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)
        self.set_text_color(0, 0, 0)
        self.set_font(FONT, size=9)

    def pairs(self, rows: list[tuple[str, str]], label_mm: float | None = None,
              x_mm: float | None = None, width_mm: float = 0.0) -> float:
        """Label: value rows (values wrap) from ``x_mm`` (the left margin by default),
        ``width_mm`` wide (to the right margin when 0); the label column fits the
        longest label unless ``label_mm`` is given. Returns the y below them."""
        self.set_font(FONT, size=9)
        if label_mm is None:
            label_mm = min(max((self.get_string_width(k) for k, _ in rows), default=20) + 4, 62)
        x = self.l_margin if x_mm is None else x_mm
        value_w = (width_mm or (self.w - self.r_margin - x)) - label_mm
        for label, value in rows:
            self.set_x(x)
            self.set_text_color(*GREY)
            self.cell(label_mm, 4.6, label)
            self.set_text_color(0, 0, 0)
            self.multi_cell(value_w, 4.6, value or "—", wrapmode=self.wrap, new_x="LMARGIN",
                            new_y="NEXT")
        return self.get_y()

    def two_columns(self, titles: tuple[str, str],
                    columns: tuple[list[tuple[str, str]], list[tuple[str, str]]]) -> None:
        """Two headed lists of pairs side by side."""
        half = (self.epw - 6) / 2
        top = self.get_y()
        bottoms = []
        for i, (title, rows) in enumerate(zip(titles, columns, strict=True)):
            x = self.l_margin + i * (half + 6)
            self.set_xy(x, top)
            self.set_font(FONT, size=12)
            self.set_text_color(*ACCENT)
            self.cell(half, 7, title, new_x="LEFT", new_y="NEXT")
            self.set_draw_color(*ACCENT)
            self.line(x, self.get_y(), x + half, self.get_y())
            self.ln(1.5)
            self.set_text_color(0, 0, 0)
            bottoms.append(self.pairs(rows, None, x, half))
        self.set_y(max(bottoms))

    def grid(self, header: list[str], rows: list[list[str]], widths: tuple[float, ...]) -> None:
        self.set_font(FONT, size=7.5)
        self.set_fill_color(255, 255, 255)
        style = FontFace(emphasis=None, fill_color=HEAD_FILL)
        with self.table(col_widths=widths, line_height=4.2, text_align="LEFT",
                        headings_style=style, wrapmode=self.wrap, padding=0.8) as table:
            for cells in [header, *rows]:
                row = table.row()
                for cell in cells:
                    row.cell(cell)


def _jpeg(key: KeyImage) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(key.pixels).save(buffer, format="JPEG", quality=88)
    buffer.seek(0)
    return buffer


def _key_images(images: list[KeyImage]) -> list[KeyImage]:
    chosen: list[KeyImage] = []
    for kind, limit in KEY_IMAGE_LIMITS.items():
        matches = [k for k in images if k.kind == kind
                   and (kind != "cpr" or (k.angle_deg == 0.0 and "straightened" in k.description))]
        chosen.extend(matches[:limit])
    return chosen


def _place_images(pdf: _Report, images: list[KeyImage]) -> None:
    """Two images per row, scaled to the column width (tall ones capped in height)."""
    column_w = (pdf.epw - 6) / 2
    max_h = 115.0
    x_positions = (pdf.l_margin, pdf.l_margin + column_w + 6)
    row_h = 0.0
    for i, key in enumerate(images):
        rows, cols = key.pixels.shape[:2]
        width = column_w
        height = width * rows / cols
        if height > max_h:
            height, width = max_h, max_h * cols / rows
        if i % 2 == 0:
            if row_h:
                pdf.set_y(pdf.get_y() + row_h + 4)
            row_h = 0.0
            if pdf.get_y() + height > pdf.h - pdf.b_margin:
                pdf.add_page()
        x = x_positions[i % 2] + (column_w - width) / 2
        pdf.image(_jpeg(key), x=x, y=pdf.get_y(), w=width, h=height)
        row_h = max(row_h, height)
    pdf.set_y(pdf.get_y() + row_h + 4)


def build_pdf(content: ReportContent, images: list[KeyImage]) -> bytes:
    """The report as PDF bytes."""
    t = words.TEXT[content.language]
    pdf = _Report(content)
    font = cjk_font_file()
    pdf.add_font(FONT, "", str(font.path), collection_font_number=font.index)
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_title(t["title"])
    pdf.set_author("CCTA AI")
    pdf.set_creator("ccta-ai")
    pdf.set_lang("zh-CN" if content.language == "zh" else "en")
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 9, t["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_fill_color(*ACCENT)
    pdf.set_text_color(255, 230, 80)
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 7, t["banner"], fill=True, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    study = content.study
    pdf.ln(3)
    patient = [(t["name"], study.patient_name), (t["patient_id"], study.patient_id),
               (t["sex"], study.sex), (t["birth_date"], study.birth_date),
               (t["age"], study.age), (t["study_date"], study.study_date),
               (t["accession"], study.accession), (t["study_description"],
                                                   study.study_description)]
    pdf.two_columns((t["patient"], t["technique"]),
                    ([(k, v) for k, v in patient if v], content.technique))
    pdf.heading(t["summary"])
    if content.grade_rows:
        pdf.set_font(FONT, size=14)
        pdf.set_text_color(*ACCENT)
        pdf.cell(0, 8, content.grade_rows[0][1], new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.pairs(content.grade_rows[1:])
    if content.reasons:
        pdf.pairs([(t["reasons"], "\n".join(f"• {reason}" for reason in content.reasons))])
    pdf.heading(t["findings"])
    pdf.grid(content.lesion_header, content.lesion_rows,
             (18, 20, 13, 11, 11, 11, 14, 13, 24, 9))
    selected = _key_images(images)
    if selected:
        pdf.add_page()
        pdf.heading(t["key_images"])
        _place_images(pdf, selected)
    pdf.heading(t["algorithm"])
    pdf.pairs(content.algorithm_rows)
    if content.warnings:
        pdf.pairs([(t["warnings"], "\n".join(content.warnings))])
    pdf.ln(3)
    pdf.set_font(FONT, size=9)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(0, 5, t["disclaimer"], wrapmode=pdf.wrap)
    return bytes(pdf.output())
