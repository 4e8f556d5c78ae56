"""Tools > Segment everything in the app, end to end on a shared photo with the classic engine:
the dialog, the run on the engine worker, the results as auto objects in one undo step, the
review keys (accept two, reject the rest, undo brings the last reject back), Cancel, and on a
video frame an accepted object propagates like any other."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from annotator.gui import errors as gui_errors
from gui_helpers import key, wait_for, wait_loaded

RUN_TIMEOUT = 240  # a loaded 2-core machine: classic segments one click at a time


def _fill_dialog(mode="grid", density=4, nms="greedy", accept=True):
    """Answer the modal dialog when it opens (exec() blocks the test until then)."""
    from annotator.gui.segment_everything import EverythingDialog

    def fill():
        dlg = QApplication.activeModalWidget()
        if not isinstance(dlg, EverythingDialog):
            QTimer.singleShot(50, fill)
            return
        seen.append(dlg)
        models = [dlg.model.itemData(i) for i in range(dlg.model.count())]
        seen.append(models)
        seen.append(dlg.note.isVisibleTo(dlg))
        dlg.mode.setCurrentIndex(dlg.mode.findData(mode))
        dlg.density.setValue(density)
        dlg.nms.setCurrentIndex(dlg.nms.findData(nms))
        dlg.accept() if accept else dlg.reject()

    seen: list = []
    QTimer.singleShot(50, fill)
    return seen


def test_segment_everything_then_review_on_a_photo(qtbot, make_window, image_folder):
    win = make_window([str(image_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=30000)
    assert win.actions["segment_everything"] in win.menuBar().actions()[2].menu().actions()  # Tools
    steps = len(p._undo)

    seen = _fill_dialog(mode="grid", density=4, nms="fast")
    win.actions["segment_everything"].trigger()
    assert seen and seen[1][0] == "classic" and seen[2]  # the classic engine is offered, with its note
    assert win.everything.running and win.everything.progress.isVisible()
    wait_for(lambda: win.everything.last_status is not None, RUN_TIMEOUT, "segment everything")
    assert win.everything.last_status == "done", win.everything.last_status
    assert not win.everything.progress.isVisible()
    added = win.everything.added
    assert len(added) >= 4, f"only {len(added)} objects on a busy photo"
    assert len(p._undo) == steps + 1 and p.undo_label.startswith("Segment everything")
    assert [t.id for t in p.tracks(item.id)] == added
    recs = {m.track_id: m for m in p.masks(item_id=item.id)}
    assert all(recs[t].source == "auto" and recs[t].area > 0 and recs[t].model == "classic" for t in added)
    # the masks are those of the everything run itself (same engine, options, image)
    from annotator.everything.run import open_session, segment_image
    from annotator.media import load_image

    session, _ = open_session("classic")
    ref = segment_image(session, load_image(item.abspath), mode="grid", nms="fast", points_per_side=4)
    assert [recs[t].rle["counts"] for t in added] == [r["segmentation"]["counts"] for r in ref.records]

    # the UI shows them as unaccepted auto objects, and the first is selected for review
    wait_for(lambda: win.objects.auto_ids == set(added), 30, "the object list to mark auto objects")
    assert win.active_track == added[0]
    wait_for(lambda: "not accepted" in win.auto_review.indicator.text(), 30, "the status-bar indicator")

    win.activateWindow()  # keys are window shortcuts: the window is active again after the dialog
    qtbot.waitUntil(win.isActiveWindow, timeout=30000)
    key(qtbot, win, Qt.Key.Key_Y)
    key(qtbot, win, Qt.Key.Key_Y)
    assert [p.mask(t, 0).source for t in added[:2]] == ["manual", "manual"]
    rejected = []
    for _ in range(len(added)):
        if win.active_track is None:
            break
        rejected.append(win.active_track)
        key(qtbot, win, Qt.Key.Key_X)
    assert rejected == added[2:]
    assert [t.id for t in p.tracks(item.id)] == added[:2]
    wait_for(lambda: win.objects.auto_ids == set() and win.auto_review.indicator.text() == "", 30,
             "the review to finish")

    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the last reject comes back
    assert [t.id for t in p.tracks(item.id)] == added[:2] + [added[-1]]
    final = {m.track_id: m for m in p.masks(item_id=item.id)}
    assert {t: m.source for t, m in final.items()} == {added[0]: "manual", added[1]: "manual", added[-1]: "auto"}
    for t in (added[0], added[1], added[-1]):
        assert final[t].rle["counts"] == recs[t].rle["counts"]
    wait_for(lambda: win.objects.auto_ids == {added[-1]}, 30, "the restored object to show as auto")


def test_segment_everything_cancel_adds_nothing(qtbot, make_window, image_folder):
    from annotator.gui.segment_everything import EverythingRequest

    win = make_window([str(image_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    assert win.everything.start(EverythingRequest("", "grid", "greedy", 16))  # 256 clicks, 4 batches
    assert not win.everything.start(EverythingRequest("", "grid", "greedy", 4))  # one run at a time
    wait_for(lambda: win.everything.progress.value() > 0, RUN_TIMEOUT, "the first batch")
    win.everything.cancel_button.click()
    wait_for(lambda: win.everything.last_status is not None, RUN_TIMEOUT, "the cancel")
    assert win.everything.last_status == "cancelled"
    assert p.tracks(item.id) == [] and not win.everything.cancel_button.isVisible()


def test_accepted_auto_object_propagates_on_video(qtbot, make_window, frame_folder):
    from annotator.gui.segment_everything import EverythingRequest

    win = make_window([str(frame_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    win.go_frame(2)
    wait_loaded(win)
    assert win.everything.start(EverythingRequest("", "grid", "greedy", 4))
    wait_for(lambda: win.everything.last_status is not None, RUN_TIMEOUT, "segment everything")
    assert win.everything.last_status == "done"
    added = win.everything.added
    assert added and all(p.mask_frames(t) == {2: "auto"} for t in added)
    # the largest one is accepted, the rest rejected
    keep = max(added, key=lambda t: p.mask(t, 2).area)
    win.select_track(keep)
    assert win.auto_review.accept()
    p_before = len(p.tracks(item.id))
    assert win.auto_review.reject_all() == [t for t in added if t != keep]
    assert len(p.tracks(item.id)) == p_before - (len(added) - 1)
    win.select_track(keep)
    assert win.start_propagation("forward")
    wait_for(lambda: not win.propagating, RUN_TIMEOUT, "propagation")
    frames = p.mask_frames(keep)
    assert frames[2] == "manual" and sorted(f for f, s in frames.items() if s == "propagated") == list(range(3, 12))
    assert np.any([p.mask(keep, f).area > 0 for f in range(3, 12)])


def test_learned_engine_reuses_its_cached_embedding(qtbot, make_window, image_folder):
    """The run goes through the engine in use (random-weight MobileSAM, its batched decoder): the
    image it already encoded is not encoded again."""
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    from annotator.gui.segment_everything import EverythingRequest

    win = make_window([str(image_folder)], engine="mobilesam", weights="random")
    wait_loaded(win)
    wait_for(lambda: win.status_engine.text().startswith("Engine: mobilesam") and "·" in win.status_engine.text(),
             RUN_TIMEOUT, "the model")
    wait_for(lambda: win.worker._encoded_key == win._key(), RUN_TIMEOUT, "the image to be encoded")
    session = win.worker._image
    runs = session.encoder_runs
    assert win.everything.start(EverythingRequest("", "grid", "greedy", 4))
    wait_for(lambda: win.everything.last_status is not None, RUN_TIMEOUT, "segment everything")
    assert win.everything.last_status == "done", gui_errors.shown
    assert win.worker._image is session and session.encoder_runs == runs
    assert len(win.everything.added) == len(win.project.tracks(win.item.id))
