"""Helpers that drive the main window in tests (imported by the GUI test modules)."""
from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QEventLoop, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from annotator.gui import errors as gui_errors


def spin(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for(cond, timeout: float = 20.0, what: str = "condition") -> None:
    # Waits in a QEventLoop so timers and queued signals run as they would in the app.
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}; dialogs: {gui_errors.shown}")
        spin(10)


def view_pos(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x, y)


def click(qtbot, win, x, y, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(win.canvas.viewport(), button, modifier, view_pos(win, x, y))


def drag(qtbot, win, a, b, button=Qt.MouseButton.LeftButton, steps: int = 6):
    vp = win.canvas.viewport()
    pa, pb = view_pos(win, *a), view_pos(win, *b)
    qtbot.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, pa)
    for i in range(1, steps + 1):
        p = pa + (pb - pa) * (i / steps)
        ev = QMouseEvent(QEvent.Type.MouseMove, QPointF(p), vp.mapToGlobal(QPointF(p)), Qt.MouseButton.NoButton,
                         button, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)
    qtbot.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, pb)


def wait_loaded(win, timeout=20.0):
    wait_for(lambda: win.item is not None and win._shown_key == win._key(), timeout, "the frame to show")


def wait_idle(win, n_masks_before=None, timeout=20.0):
    """Wait until the latest prompt has come back (generation answered)."""
    wait_for(lambda: win.prompt is None or win.prompt.candidates is not None and
             win.prompt.candidates.gen == win._gen, timeout, "the mask")


def key(qtbot, win, k, mod=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(win.canvas, k, mod)
