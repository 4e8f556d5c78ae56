"""Issue 14 item 4: the label new objects take is the one the person set, shown in the
toolbar; labelling one object (or selecting a labelled one) does not change it."""
from __future__ import annotations

from PySide6.QtCore import Qt

from gui_helpers import click, drag, key, wait_for, wait_idle, wait_loaded


def _set_in_toolbar(win, name: str) -> None:
    combo = win.labeling.combo
    i = combo.findText(name)
    assert i >= 0, f"{name!r} is not offered in the toolbar"
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def _label_of(p, track_id):
    t = p.track(track_id)
    return p.category(t.category_id).name if t.category_id is not None else None


def test_new_objects_take_the_label_shown_in_the_toolbar(qtbot, make_window, image_folder):
    win = make_window([str(image_folder)])
    wait_loaded(win, timeout=30)
    win.activateWindow()
    win.canvas.setFocus()
    p = win.project

    # first image: a box, labelled "paper bag" while selected, committed
    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win, timeout=30)
    bag = win.active_track
    win.choose_label("paper bag")
    assert _label_of(p, bag) == "paper bag"
    key(qtbot, win, Qt.Key.Key_Return)

    # next image: a new object takes the toolbar's label (none), not the last one used
    key(qtbot, win, Qt.Key.Key_D)
    wait_loaded(win, timeout=30)
    click(qtbot, win, 900, 600)
    wait_idle(win, timeout=30)
    truck = win.active_track
    assert _label_of(p, truck) is None
    key(qtbot, win, Qt.Key.Key_Return)
    combo = win.labeling.combo  # labelling one object left the default alone, as the toolbar shows
    assert combo.isVisible() and combo.currentText() == "(no label)"

    # the person sets the default in the toolbar: new objects take it
    _set_in_toolbar(win, "paper bag")
    assert win.current_label == "paper bag" and combo.currentText() == "paper bag"
    drag(qtbot, win, (50, 50), (300, 250))
    wait_idle(win, timeout=30)
    assert _label_of(p, win.active_track) == "paper bag"
    key(qtbot, win, Qt.Key.Key_Return)

    # selecting another object (and labelling it) does not change the default either
    win.select_track(truck)
    win.choose_label("truck")
    assert _label_of(p, truck) == "truck"
    key(qtbot, win, Qt.Key.Key_Escape)
    assert combo.currentText() == "paper bag"

    # picking a label with no object selected sets the default, and the toolbar shows it
    win.choose_label("truck")
    wait_for(lambda: combo.currentText() == "truck", timeout=30, what="the toolbar to show the default")
    click(qtbot, win, 1000, 650)
    wait_idle(win, timeout=30)
    assert _label_of(p, win.active_track) == "truck"
