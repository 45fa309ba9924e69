"""Find a CJK-capable font installed by the set-up (no downloads) and load it for Pillow.

Searched in order: Noto Sans CJK (Debian ``fonts-noto-cjk``, face "SC" of its
collection), WenQuanYi Zen Hei (``fonts-wqy-zenhei``), Droid Sans Fallback
(``fonts-droid-fallback``). Each covers Latin and Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from ccta_ai.errors import CctaAiError


class FontNotFoundError(CctaAiError):
    """No CJK-capable font is installed (says which packages provide one)."""


@dataclass(frozen=True)
class FontFile:
    """A font file and the face inside it (collections hold several)."""

    path: Path
    index: int = 0


_NOTO = Path("/usr/share/fonts/opentype/noto")
#: (regular, bold) candidates, best first. Noto's collections: face 2 is Simplified Chinese.
CANDIDATES: tuple[tuple[FontFile, FontFile], ...] = (
    (FontFile(_NOTO / "NotoSansCJK-Regular.ttc", 2), FontFile(_NOTO / "NotoSansCJK-Bold.ttc", 2)),
    (FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),) * 2,
    (FontFile(Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),) * 2,
)
PACKAGES = "fonts-noto-cjk, fonts-wqy-zenhei or fonts-droid-fallback"


def cjk_font_file(bold: bool = False) -> FontFile:
    """The best installed CJK font (bold face when there is one).

    Raises:
        FontNotFoundError: none of :data:`CANDIDATES` exists.
    """
    for regular, bold_face in CANDIDATES:
        chosen = bold_face if bold and bold_face.path.is_file() else regular
        if chosen.path.is_file():
            return chosen
    tried = ", ".join(str(pair[0].path) for pair in CANDIDATES)
    raise FontNotFoundError(f"no CJK font found (tried {tried}); apt-get install {PACKAGES}")


@lru_cache(maxsize=32)
def pil_font(size_px: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The CJK font at ``size_px`` pixels for drawing with Pillow."""
    font = cjk_font_file(bold)
    return ImageFont.truetype(str(font.path), size=size_px, index=font.index)
