"""Issue 14 item 5: after picking a label (T popup, or the Labels panel), Enter and Esc reach
the window again: the keyboard focus is back on the canvas."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from gui_helpers import click, key, wait_for, wait_idle, wait_loaded
from annotator.gui.labels import LabelPickerDialog


def _in_popup(qtbot, typed: str | None):
    """Once the T popup is up, type `typed` and Enter in it (None: press Esc to cancel)."""
    def act():
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, LabelPickerDialog):
            QTimer.singleShot(20, act)
            return
        if typed is None:
            qtbot.keyClick(dlg.panel.filter, Qt.Key.Key_Escape)
        else:
            qtbot.keyClicks(dlg.panel.filter, typed)
            qtbot.keyClick(dlg.panel.filter, Qt.Key.Key_Return)
    QTimer.singleShot(20, act)


def _object(qtbot, win):
    click(qtbot, win, 900, 600)
    wait_idle(win, timeout=30)
    assert win.active_track is not None


def test_enter_and_esc_work_after_picking_a_label(qtbot, make_window, image_folder):
    win = make_window([str(image_folder / "images_truck.jpg")])
    wait_loaded(win, timeout=30)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=30000)
    win.canvas.setFocus()
    p = win.project

    # T, type a new label, Enter: the object gets it, then Enter commits the object
    _object(qtbot, win)
    _in_popup(qtbot, "truck")
    key(qtbot, win, Qt.Key.Key_T)
    assert p.track(win.active_track).category_id == p.category_by_name("truck").id
    wait_for(lambda: QApplication.focusWidget() is win.canvas, timeout=30, what="focus back on the canvas")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert win.active_track is None

    # T then Esc (cancelled popup): Esc still stops editing afterwards
    _object(qtbot, win)
    _in_popup(qtbot, None)
    key(qtbot, win, Qt.Key.Key_T)
    wait_for(lambda: QApplication.focusWidget() is win.canvas, timeout=30, what="focus back on the canvas")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert win.active_track is None

    # the Labels panel: type a label and Enter there, then Enter commits again
    _object(qtbot, win)
    win.labels.filter.setFocus()
    qtbot.keyClicks(win.labels.filter, "car")
    qtbot.keyClick(win.labels.filter, Qt.Key.Key_Return)
    assert p.track(win.active_track).category_id == p.category_by_name("car").id
    wait_for(lambda: QApplication.focusWidget() is win.canvas, timeout=30, what="focus back on the canvas")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert win.active_track is None
