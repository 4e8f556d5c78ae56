"""Workflow 1: images — open a folder, click/box prompts, multimask cycling, brush/eraser,
commit and next object, label pick, next image. Asserts on the project store."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from gui_helpers import click, drag, key, wait_for, wait_idle, wait_loaded


def test_image_workflow(qtbot, make_window, image_folder):
    win = make_window([str(image_folder)])
    wait_loaded(win)
    p = win.project
    assert p is not None and len(p.items()) == 2
    item = win.item
    assert item.kind == "image" and item.name == "images_groceries.jpg"
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow(), timeout=3000)

    # label for the first object: type-to-filter panel creates it
    win.labels.filter.setText("bottle")
    qtbot.keyClick(win.labels.filter, Qt.Key.Key_Return)
    assert p.category_by_name("bottle") is not None

    # left click = positive point -> a track with a manual mask, clicks stored as prompts
    click(qtbot, win, 405, 270)
    wait_idle(win)
    tracks = p.tracks(item.id)
    assert len(tracks) == 1
    t1 = tracks[0]
    assert t1.category_id == p.category_by_name("bottle").id
    rec = p.mask(t1.id, 0)
    assert rec is not None and rec.source == "manual" and rec.area > 0
    assert rec.prompts.points == [[405.0, 270.0]] or np.allclose(rec.prompts.points, [[405, 270]], atol=1.5)

    # right click = negative point on the same object (accumulates)
    click(qtbot, win, 475, 260, Qt.MouseButton.RightButton)
    wait_idle(win)
    rec2 = p.mask(t1.id, 0)
    assert rec2.prompts.labels == [1, 0]
    # shift+click is negative too
    click(qtbot, win, 300, 220, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(win)
    assert p.mask(t1.id, 0).prompts.labels == [1, 0, 0]

    # multimask cycle key: with one candidate the mask stays, with more it changes
    before = p.mask(t1.id, 0).rle["counts"]
    key(qtbot, win, Qt.Key.Key_M)
    k = len(win.prompt.candidates.rles)
    after = p.mask(t1.id, 0).rle["counts"]
    assert (after == before) if k == 1 else (win.prompt.choice == 1)

    # brush adds pixels, eraser removes them (each one undo step)
    area0 = p.mask(t1.id, 0).area
    key(qtbot, win, Qt.Key.Key_B)
    assert win.canvas.tool == "brush"
    drag(qtbot, win, (200, 450), (260, 460))
    wait_for(lambda: p.mask(t1.id, 0).area > area0, what="brush stroke")
    area1 = p.mask(t1.id, 0).area
    key(qtbot, win, Qt.Key.Key_E)
    drag(qtbot, win, (200, 450), (260, 460))
    wait_for(lambda: p.mask(t1.id, 0).area < area1, what="eraser stroke")
    assert p.mask(t1.id, 0).prompts is None  # painted: no clicks describe it any more
    key(qtbot, win, Qt.Key.Key_V)
    assert win.canvas.tool == "prompt"

    # Enter commits; the next click starts object 2
    key(qtbot, win, Qt.Key.Key_Return)
    assert win.active_track is None
    # a box drag prompts the new object
    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win)
    tracks = p.tracks(item.id)
    assert len(tracks) == 2
    t2 = [t for t in tracks if t.id != t1.id][0]
    assert p.mask(t2.id, 0).prompts.box is not None
    # digit 1 picks the first label for the selected object; a second label via the panel
    win.choose_label("can")
    assert p.track(t2.id).category_id == p.category_by_name("can").id
    key(qtbot, win, Qt.Key.Key_1)
    assert p.track(t2.id).category_id == p.category_by_name("bottle").id
    # N also commits
    key(qtbot, win, Qt.Key.Key_N)
    assert win.active_track is None
    assert p.mask(t1.id, 0).area > 0 and p.mask(t2.id, 0).area > 0

    # next image (D): the first image keeps its objects
    key(qtbot, win, Qt.Key.Key_D)
    wait_loaded(win)
    assert win.item.name == "images_truck.jpg"
    assert len(p.tracks(item.id)) == 2
    click(qtbot, win, 900, 600)
    wait_idle(win)
    assert len(p.tracks(win.item.id)) == 1
    key(qtbot, win, Qt.Key.Key_A)
    wait_loaded(win)
    assert win.item.id == item.id
    assert not gui_errors_shown()


def gui_errors_shown():
    from annotator.gui import errors

    return [m for m in errors.shown if "went wrong" in m[1]]


def test_drop_files_opens_them(qtbot, make_window, image_folder):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    win = make_window()
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(image_folder / "images_truck.jpg"))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, md, Qt.MouseButton.NoButton,
                    Qt.KeyboardModifier.NoModifier)
    win.dropEvent(ev)
    wait_loaded(win)
    assert [i.name for i in win.project.items()] == ["images_truck.jpg"]


def test_bad_file_gives_a_message_not_a_traceback(qtbot, make_window, tmp_path):
    from annotator.gui import errors

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    win = make_window()
    win.open_paths([str(bad)])
    wait_for(lambda: errors.shown, what="an error message")
    title, text = errors.shown[-1]
    assert "broken.mp4" in text and "Traceback" not in text
