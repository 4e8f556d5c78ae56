"""Workflow 4: everything undoable (clicks, commits, labels, deletions, propagation) with
Ctrl+Z / Ctrl+Shift+Z, and durable: a kill loses nothing acknowledged, reopening returns
to the item and frame last seen."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from gui_helpers import drag, key, wait_for, wait_idle, wait_loaded

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


def _box_swan(qtbot, win, gt):
    ys, xs = np.nonzero(gt)
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win)


def test_undo_redo_every_kind_of_edit(qtbot, make_window, frame_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    win.activateWindow()

    _box_swan(qtbot, win, blackswan_gt)  # click (box) -> new object + mask: one step
    (t,) = p.tracks(item.id)
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert p.tracks(item.id) == []
    key(qtbot, win, Qt.Key.Key_Z, CTRL_SHIFT)
    assert [x.id for x in p.tracks(item.id)] == [t.id] and p.mask(t.id, 0) is not None

    # label pick (creates the category and sets it): one step
    win.select_track(t.id)
    win.choose_label("swan")
    assert p.track(t.id).category_id == p.category_by_name("swan").id
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert p.track(t.id).category_id is None and p.category_by_name("swan") is None
    key(qtbot, win, Qt.Key.Key_Z, CTRL_SHIFT)
    assert p.track(t.id).category_id == p.category_by_name("swan").id

    # commit gives an unlabelled object the current label: undoable
    win.commit_object()
    win.choose_label("bird")
    _box_swan(qtbot, win, blackswan_gt)
    t2 = [x for x in p.tracks(item.id) if x.id != t.id][0]
    assert p.track(t2.id).category_id == p.category_by_name("bird").id  # new objects take the current label

    # propagation: one step for the whole run
    win.select_track(t.id)
    assert win.start_propagation("forward")
    wait_for(lambda: not win.propagating, 60, "propagation")
    assert len(p.mask_frames(t.id)) == 12
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert sorted(p.mask_frames(t.id)) == [0]
    key(qtbot, win, Qt.Key.Key_Z, CTRL_SHIFT)
    assert len(p.mask_frames(t.id)) == 12

    # deleting an object (all its frames) and undoing it
    win.select_track(t.id)
    key(qtbot, win, Qt.Key.Key_Delete)
    assert t.id not in [x.id for x in p.tracks(item.id)]
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert len(p.mask_frames(t.id)) == 12

    # hide/show and lock are undoable commands too
    win.select_track(t.id)
    key(qtbot, win, Qt.Key.Key_H)
    assert p.track(t.id).hidden
    key(qtbot, win, Qt.Key.Key_Z, CTRL)
    assert not p.track(t.id).hidden


def test_reopen_returns_to_last_item_and_frame(qtbot, make_window, frame_folder, image_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    _box_swan(qtbot, win, blackswan_gt)
    path = Path(win.project.path)
    n_masks = len(win.project.masks())
    win.go_frame(7)
    wait_loaded(win)
    win.shutdown()  # like closing the window

    win2 = make_window([str(path)])
    wait_loaded(win2)
    assert win2.frame == 7 and win2.item.kind == "frames"
    assert len(win2.project.masks()) == n_masks


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from PySide6.QtWidgets import QApplication
    from annotator.gui import errors
    errors.DIALOGS_ENABLED = False
    from annotator.gui.main_window import MainWindow
    from gui_helpers import wait_for
    app = QApplication([])
    w = MainWindow([{folder!r}], engine="classic")
    w.show()
    wait_for(lambda: w.item is not None and w._shown_key == w._key(), 30)
    w.on_box(300, 100, 600, 350, time.perf_counter())
    wait_for(lambda: len(w.project.masks()) == 1, 30)
    print("ACK", w.project.path, flush=True)
    time.sleep(60)
""")


def test_kill_loses_nothing_acknowledged(frame_folder, tmp_path):
    from annotator.core.store import Project

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), folder=str(frame_folder))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(Path(__file__).parents[2]))
    try:
        line = ""
        while not line.startswith("ACK"):
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise AssertionError(proc.stderr.read())
        project_path = line.split(" ", 1)[1].strip()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Project.open(project_path) as p:
        recs = p.masks()
        assert len(recs) == 1 and recs[0].source == "manual" and recs[0].area > 0
        assert recs[0].prompts.box is not None


def test_missing_media_keeps_annotations_and_relinks(qtbot, make_window, image_folder, tmp_path):
    from annotator.gui import errors

    win = make_window([str(image_folder / "images_groceries.jpg")])
    wait_loaded(win)
    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win)
    path = Path(win.project.path)
    win.shutdown()
    moved = tmp_path / "moved"
    moved.mkdir()
    (image_folder / "images_groceries.jpg").rename(moved / "images_groceries.jpg")

    win2 = make_window([str(path)])
    wait_for(lambda: win2.item is not None, what="the project")
    assert not win2.item.exists and len(win2.project.masks()) == 1
    assert any("missing" in text and "images_groceries.jpg" in text for _, text in errors.shown)
    win2.relink(win2.item.id, str(moved / "images_groceries.jpg"))
    wait_loaded(win2)
    assert win2.item.exists and len(win2.project.masks()) == 1
