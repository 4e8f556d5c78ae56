"""Workflows 2 and 3: video timeline + background propagation with progress/cancel, and
corrections (add an object later, fix and re-propagate one object, delete a range)."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from gui_helpers import click, drag, key, wait_for, wait_idle, wait_loaded


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


def _prompt_swan(qtbot, win, gt):
    ys, xs = np.nonzero(gt)
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win)


def test_video_propagation_streams_and_cancels(qtbot, make_window, frame_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    p = win.project
    item = win.item
    assert item.kind == "frames" and item.num_frames == 12
    assert win.timeline.isVisible() and win.timeline.num_frames == 12
    win.activateWindow()

    _prompt_swan(qtbot, win, blackswan_gt)
    (t,) = p.tracks(item.id)
    m0 = p.mask(t.id, 0).mask()
    assert (m0 & blackswan_gt).sum() > 0.3 * blackswan_gt.sum()

    # propagate forward in the background: masks land in the store frame by frame while
    # the job runs, and the canvas follows
    seen_running = []
    win.worker.propagated.connect(lambda *_: seen_running.append((win.propagating, len(p.mask_frames(t.id)))))
    key(qtbot, win, Qt.Key.Key_P)
    assert win.propagating and win.prop_progress.isVisible()
    wait_for(lambda: not win.propagating, 60, "propagation")
    frames = p.mask_frames(t.id)
    assert sorted(frames) == list(range(12))
    assert frames[0] == "manual" and all(frames[f] == "propagated" for f in range(1, 12))
    assert any(running for running, _ in seen_running)  # masks arrived while it ran
    assert win.timeline.lanes[0]["frames"] == frames  # the swimlane shows them with their source
    assert win.frame > 0  # the view followed the propagation

    # a whole propagation run is ONE undo step
    assert p.undo_label.startswith("Propagate forward")
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert sorted(p.mask_frames(t.id)) == [0]
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert sorted(p.mask_frames(t.id)) == list(range(12))

    # cancel: propagate backward from the last frame and cancel after the first frame arrives
    p.delete_masks(t.id, 0, 10)
    win.go_frame(11)
    wait_loaded(win)
    got = []

    def cancel_on_first(job_id, frame, masks):
        got.append(frame)
        if len(got) == 1:
            win.cancel_propagation()

    win.worker.propagated.connect(cancel_on_first)
    assert win.start_propagation("backward")
    wait_for(lambda: not win.propagating, 60, "cancelled propagation")
    win.worker.propagated.disconnect(cancel_on_first)
    kept = p.mask_frames(t.id)
    assert win.last_job_status == "cancelled"
    assert 11 in kept and 10 in kept  # frames done before the cancel are kept
    assert len(kept) < 12  # ...and it really stopped early
    assert not win.prop_progress.isVisible()


def test_corrections_touch_only_the_chosen_object(qtbot, make_window, frame_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    p = win.project
    item = win.item
    win.activateWindow()
    _prompt_swan(qtbot, win, blackswan_gt)
    (a,) = p.tracks(item.id)
    assert win.start_propagation("forward")
    wait_for(lambda: not win.propagating, 60, "propagation")
    a_before = {r.frame: r.rle["counts"] for r in p.masks(track_id=a.id)}
    assert len(a_before) == 12

    # add object B on a later frame (6): A is untouched
    win.go_frame(6)
    wait_loaded(win)
    key(qtbot, win, Qt.Key.Key_Return)  # commit A -> next click makes a new object
    click(qtbot, win, 60, 60)  # water in the top-left corner
    wait_idle(win)
    tracks = p.tracks(item.id)
    assert len(tracks) == 2
    b = [t for t in tracks if t.id != a.id][0]
    assert sorted(p.mask_frames(b.id)) == [6]
    assert {r.frame: r.rle["counts"] for r in p.masks(track_id=a.id)} == a_before

    # propagate B both ways, only B (A's frames stay exactly as they were)
    win.select_track(b.id)
    assert win.start_propagation("both", track_ids=[b.id])
    wait_for(lambda: not win.propagating, 60, "propagation of B")
    assert sorted(p.mask_frames(b.id)) == list(range(12))
    assert {r.frame: r.rle["counts"] for r in p.masks(track_id=a.id)} == a_before
    b_before = {r.frame: r.rle["counts"] for r in p.masks(track_id=b.id)}

    # correct A on frame 8 with the brush, then re-propagate only A forward
    win.select_track(a.id)
    win.go_frame(8)
    wait_loaded(win)
    key(qtbot, win, Qt.Key.Key_B)
    x, y = _centroid(p.mask(a.id, 8).mask())
    drag(qtbot, win, (x, y - 90), (x + 40, y - 90))
    wait_for(lambda: p.mask(a.id, 8).source == "manual", what="brush correction")
    assert not win.all_objects.isChecked()  # with A selected, P propagates A alone
    key(qtbot, win, Qt.Key.Key_P)
    wait_for(lambda: not win.propagating, 60, "re-propagation of A")
    after = {r.frame: r for r in p.masks(track_id=a.id)}
    assert all(after[f].rle["counts"] == a_before[f] for f in range(8))  # earlier frames untouched
    assert after[8].source == "manual"
    assert all(after[f].source == "propagated" for f in (9, 10, 11))
    assert any(after[f].rle["counts"] != a_before[f] for f in (9, 10, 11))  # later frames replaced
    assert {r.frame: r.rle["counts"] for r in p.masks(track_id=b.id)} == b_before  # B untouched

    # delete B's masks in frames 3..5: one command, one undo
    n = win.delete_masks_range(b.id, 3, 5)
    assert n == 3 and sorted(p.mask_frames(b.id)) == [0, 1, 2, 6, 7, 8, 9, 10, 11]
    win.undo()
    assert sorted(p.mask_frames(b.id)) == list(range(12))
    # delete object B entirely: one command
    win.select_track(b.id)
    key(qtbot, win, Qt.Key.Key_Delete)
    assert [t.id for t in p.tracks(item.id)] == [a.id]
    win.undo()
    assert len(p.tracks(item.id)) == 2 and len(p.mask_frames(b.id)) == 12
    # locked objects ignore clicks and are skipped by propagation
    win.select_track(b.id)
    key(qtbot, win, Qt.Key.Key_L)
    assert p.track(b.id).locked
    win.all_objects.setChecked(True)
    before_b = {r.frame: r.rle["counts"] for r in p.masks(track_id=b.id)}
    win.go_frame(0)
    wait_loaded(win)
    assert win.start_propagation("forward")
    wait_for(lambda: not win.propagating, 60, "propagation with B locked")
    assert {r.frame: r.rle["counts"] for r in p.masks(track_id=b.id)} == before_b


@pytest.mark.slow
def test_clicks_on_a_video_go_to_the_learned_video_model(qtbot, make_window, frame_folder):
    """With a learned video model active, a click on a frame is that model's point prompt
    (SAM 2 demo style); the mask, its clicks and the model land in the store, a second click
    refines the same object, and propagation then runs from that frame."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    from annotator.engines import registry

    name = next((n for n in ("edgetam", "efficienttam_ti", "sam2.1_hiera_tiny")
                 if n in registry.load_cards() and registry.is_implemented(registry.get_card(n))), None)
    if name is None:
        pytest.skip("no learned video model is implemented")
    win = make_window([str(frame_folder)], engine=name, weights="random")
    wait_loaded(win)
    wait_for(lambda: win.video_engine_name == name and "·" in win.status_engine.text(), 300, "model load")
    assert win.clicks_go_to_video_model()
    p, item = win.project, win.item
    win.go_frame(3)
    wait_loaded(win)
    click(qtbot, win, 420, 200)
    wait_idle(win, timeout=300)
    assert win.worker.video_prompts == 1
    (t,) = p.tracks(item.id)
    rec = p.mask(t.id, 3)
    assert rec is not None and rec.source == "manual" and rec.model == name
    assert np.allclose(rec.prompts.points, [[420, 200]], atol=1.5) and rec.prompts.labels == [1]
    assert win.prompt.candidates.ctx["via"] == "video" and win.prompt.obj_id == t.obj_id
    click(qtbot, win, 300, 300, Qt.MouseButton.RightButton)  # a negative point on the same object
    wait_idle(win, timeout=300)
    assert win.worker.video_prompts == 2 and len(p.tracks(item.id)) == 1
    rec = p.mask(t.id, 3)
    assert rec.prompts.labels == [1, 0] and len(rec.prompts.points) == 2
    done = []
    win.worker.propagated.connect(lambda *a: done.append(a[1]))
    assert win.start_propagation("forward")
    wait_for(lambda: len(done) >= 2 or not win.propagating, 300, "two propagated frames")
    win.cancel_propagation()
    wait_for(lambda: not win.propagating, 300, "the cancel")
    frames = p.mask_frames(t.id)
    assert frames[3] == "manual" and {4, 5} <= {f for f, s in frames.items() if s == "propagated"} <= set(range(4, 12))
