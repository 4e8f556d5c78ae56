"""Issue 14 item 1: after a commit the next prompt starts a new object; refining an existing
object is an explicit choice (select it in the list or Ctrl+click it on the canvas) and the
window says which object is being edited."""
from __future__ import annotations

from PySide6.QtCore import Qt

from gui_helpers import click, drag, key, wait_for, wait_idle, wait_loaded


def _truck(win):
    wait_loaded(win, timeout=30)
    win.activateWindow()
    win.canvas.setFocus()
    return win.project, win.item


def test_box_after_commit_leaves_the_committed_object_alone(qtbot, make_window, image_folder):
    win = make_window([str(image_folder / "images_truck.jpg")])
    p, item = _truck(win)
    click(qtbot, win, 900, 600)
    # commit at once, while the truck's mask is still being computed: the answer must not
    # make the truck the object the next prompt goes to
    key(qtbot, win, Qt.Key.Key_Return)
    wait_for(lambda: len(p.tracks(item.id)) == 1 and p.mask(p.tracks(item.id)[0].id, 0) is not None,
             timeout=30, what="the truck's mask")
    truck = p.tracks(item.id)[0]
    before = p.mask(truck.id, 0).rle["counts"]
    assert win.active_track is None
    assert "next prompt starts object 2" in win.prompting.target_text()

    drag(qtbot, win, (100, 100), (400, 300))
    wait_for(lambda: len(p.tracks(item.id)) == 2, timeout=30, what="a second object")
    wait_idle(win, timeout=30)
    assert p.mask(truck.id, 0).rle["counts"] == before, "the box replaced the committed truck's mask"
    new = [t for t in p.tracks(item.id) if t.id != truck.id][0]
    assert p.mask(new.id, 0).prompts.box is not None


def test_refining_an_object_is_explicit_and_shown(qtbot, make_window, image_folder):
    win = make_window([str(image_folder / "images_truck.jpg")])
    p, item = _truck(win)
    win.choose_label("truck")
    click(qtbot, win, 900, 600)
    wait_idle(win, timeout=30)
    truck = p.tracks(item.id)[0]
    key(qtbot, win, Qt.Key.Key_Return)
    # committed: listed, not marked as being edited
    wait_for(lambda: win.objects.rowCount() == 1 and "✎" not in win.objects.item(0, 0).text(), timeout=30,
             what="the object list without the editing mark")

    # selecting it in the list is the explicit choice: the banner and the list say so
    win.objects.selectRow(0)
    assert win.active_track == truck.id
    assert win.prompting.target_text() == "Editing object 1 (truck)"
    wait_for(lambda: "✎" in win.objects.item(0, 0).text(), timeout=30, what="the editing mark")
    n_before = len(p.mask(truck.id, 0).prompts.points)
    click(qtbot, win, 950, 620)
    wait_idle(win, timeout=30)
    assert len(p.tracks(item.id)) == 1
    assert len(p.mask(truck.id, 0).prompts.points) == n_before + 1

    # Esc stops editing; Ctrl+click on the object's mask selects it again on the canvas
    key(qtbot, win, Qt.Key.Key_Escape)
    assert win.active_track is None
    wait_for(lambda: "✎" not in win.objects.item(0, 0).text(), timeout=30, what="the mark to go")
    click(qtbot, win, 900, 600, modifier=Qt.KeyboardModifier.ControlModifier)
    assert win.active_track == truck.id
    assert len(p.tracks(item.id)) == 1
    # Ctrl+click where no object is: back to "new object"
    click(qtbot, win, 5, 5, modifier=Qt.KeyboardModifier.ControlModifier)
    assert win.active_track is None
