"""qtawesome icons as pre-rendered pixmaps.

qtawesome's icon engine rasterises the font glyph in Python on every paint (4-10 ms per
toolbar repaint, measured on the GUI thread while propagation toggles buttons); an icon built
from pixmaps rendered once is only blitted."""
from __future__ import annotations

import functools

import qtawesome as qta
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon

SIZES = (16, 20, 24, 32, 48, 64)  # physical pixels: covers toolbar/menu sizes at 1x and 2x


@functools.lru_cache(maxsize=256)
def _icon(name: str, rgba: int) -> QIcon:
    src = qta.icon(name, color=QColor.fromRgba(rgba))
    out = QIcon()
    for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled, QIcon.Mode.Active, QIcon.Mode.Selected):
        for s in SIZES:
            out.addPixmap(src.pixmap(QSize(s, s), mode), mode)
    return out


def icon(name: str, color: QColor) -> QIcon:
    return _icon(name, color.rgba())
