"""Reviewing auto objects with the keys: J selects the next unaccepted auto object, Y accepts
it (its mask becomes manual), X rejects it (deleted), Shift+X rejects the rest of the frame;
the object list and the status bar say which objects are still auto; undo brings a rejected
object back. The auto objects are stored the way segment everything stores them."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from gui_helpers import key, wait_for, wait_loaded


def _records(item, n=5):
    from annotator.core.rle import encode

    recs = []
    for i in range(n):
        m = np.zeros((item.height, item.width), bool)
        m[20 + 60 * i:60 + 60 * i, 30:200] = True
        recs.append({"segmentation": encode(m), "point_coords": [[100.0, 40.0 + 60 * i]], "predicted_iou": 0.9})
    return recs


def test_review_keys_accept_reject_and_undo(qtbot, make_window, image_folder):
    from annotator.everything.run import add_to_project

    win = make_window([str(image_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=30000)
    tids = add_to_project(p, item, 0, _records(item), model="test")
    wait_for(lambda: win.objects.auto_ids == set(tids), 30, "the object list to mark the auto objects")
    wait_for(lambda: "5 auto object" in win.auto_review.indicator.text(), 30, "the status-bar indicator")

    key(qtbot, win, Qt.Key.Key_J)
    assert win.active_track == tids[0]
    wait_for(lambda: "not accepted" in win.auto_review.indicator.text(), 30, "the selected-is-auto indicator")
    key(qtbot, win, Qt.Key.Key_Y)  # accept -> manual, next auto selected
    assert p.mask(tids[0], 0).source == "manual" and win.active_track == tids[1]
    key(qtbot, win, Qt.Key.Key_Y)
    assert p.mask(tids[1], 0).source == "manual" and win.active_track == tids[2]
    key(qtbot, win, Qt.Key.Key_X)  # reject -> deleted, next auto selected
    assert [t.id for t in p.tracks(item.id)] == [tids[0], tids[1], tids[3], tids[4]]
    assert win.active_track == tids[3]
    key(qtbot, win, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)  # reject the rest of the frame
    assert [t.id for t in p.tracks(item.id)] == tids[:2]
    wait_for(lambda: win.objects.auto_ids == set() and win.auto_review.indicator.text() == "", 30,
             "the indicators to clear")

    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the last reject comes back
    assert [t.id for t in p.tracks(item.id)] == [tids[0], tids[1], tids[3], tids[4]]
    assert [m.source for m in p.masks(item_id=item.id)] == ["manual", "manual", "auto", "auto"]
    wait_for(lambda: win.objects.auto_ids == {tids[3], tids[4]}, 30, "the restored auto objects to show")
