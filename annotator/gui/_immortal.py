"""Work around a reference-count bug of the pinned PySide6/shiboken6 build on Python < 3.12.

Every call of a Qt method that returns nothing (`widget.update()`, `painter.fillRect(...)`,
`QApplication.processEvents()`) drops one reference to `None` that it never took. Python
3.12+ makes None, True and False immortal, so the bug is invisible there; on 3.10/3.11
None's count reaches zero after some thousands of calls and the interpreter aborts
("none_dealloc: deallocating None"). These singletons are never freed anyway, so giving
them a huge reference count once, at import, is exactly what 3.12 does and is harmless.
"""
from __future__ import annotations

import ctypes
import sys

_MARGIN = 1 << 48


def make_singletons_immortal() -> None:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    for obj in (None, True, False, Ellipsis, NotImplemented):
        ref = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of every object
        if ref.value < _MARGIN:
            ref.value += _MARGIN
