"""The review queue in the window: propagate a DAVIS clip with the classic engine, see the
flags in the panel and on the timeline, jump to the next flagged frame, mark it reviewed (its
flag goes), undo (it comes back), and a correction updates the queue."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from gui_helpers import key, wait_for, wait_loaded

SEQ = "motocross-jump"  # the classic engine loses the rider around frame 15
N_FRAMES = 20


@pytest.fixture
def moto_folder(shared_data, tmp_path):
    src = shared_data / "davis2016" / "JPEGImages" / "480p" / SEQ
    d = tmp_path / SEQ
    d.mkdir()
    for f in sorted(src.glob("*.jpg"))[:N_FRAMES]:
        shutil.copy(f, d / f.name)
    return d


@pytest.fixture
def moto_gt(shared_data):
    from annotator.media import load_image

    return load_image(shared_data / "davis2016" / "Annotations" / "480p" / SEQ / "00000.png")[..., 0] > 127


def _settled(win):
    r = win.review
    return r.queue is not None and not r.computing and not r._timer.isActive() and not win.propagating


def _panel_rows(win):
    return list(win.review_panel.rows)


def _assert_marks_painted(win, track_id, shown):
    """Each flag is a notch in its score's colour on the object's lane; unflagged frames have none."""
    from annotator.app.review import severity
    from annotator.gui.timeline import RULER_H, severity_color

    tl = win.timeline
    img = tl.grab().toImage()
    y = RULER_H + 3 + 2  # lane 0, inside the notch
    sev = severity(shown)

    def near(c, want):
        return max(abs(c.red() - want.red()), abs(c.green() - want.green()), abs(c.blue() - want.blue())) <= 12

    flagged = {f.frame for f in shown}
    for f in shown:
        want = severity_color(sev[(track_id, f.frame)])
        assert near(img.pixelColor(int(tl._x_of(f.frame + 0.5)), y), want), f"no mark at frame {f.frame}"
    for frame in set(range(N_FRAMES)) - flagged:
        c = img.pixelColor(int(tl._x_of(frame + 0.5)), y)
        assert not any(near(c, severity_color(s)) for s in (0.0, 0.5, 1.0)), f"a mark at frame {frame}"


def test_default_shortcuts_do_not_clash(tmp_path):
    from PySide6.QtGui import QKeySequence

    from annotator.gui.settings import DEFAULT_SHORTCUTS, LABEL_DIGITS, Settings

    s = Settings(tmp_path / "absent.yaml")  # the defaults
    seen = {k: "label digit" for k in LABEL_DIGITS}
    for action in DEFAULT_SHORTCUTS:
        for seq in s.shortcut(action):
            norm = QKeySequence(seq).toString()
            assert norm not in seen, f"{seq} is both {seen[norm]} and {action}"
            seen[norm] = action
    assert {"next_flagged", "prev_flagged", "mark_reviewed"} <= set(seen.values())


def test_review_queue_flags_jump_mark_undo(qtbot, make_window, moto_folder, moto_gt):
    win = make_window([str(moto_folder)])
    wait_loaded(win)
    win.activateWindow()
    p, item = win.project, win.item
    assert item.num_frames == N_FRAMES and win.review_dock.windowTitle() == "Review"

    # the person's first-frame mask (as a click would leave it), then propagate forward with P
    t = p.add_track(item.id)
    p.set_mask(t.id, 0, moto_gt, source="manual")
    win.select_track(t.id)
    wait_for(lambda: _settled(win) and win.review.computes >= 1, 60, "the first queue")
    assert win.review.shown == []  # one frame drawn by a person: nothing to review

    computing_while_propagating = []
    win.worker.propagated.connect(lambda *_: computing_while_propagating.append(win.review.computing))
    key(qtbot, win, Qt.Key.Key_P)
    assert win.propagating
    wait_for(lambda: not win.propagating, 120, "propagation")
    assert sorted(p.mask_frames(t.id)) == list(range(N_FRAMES))
    done_before = win.review.computes
    wait_for(lambda: _settled(win) and win.review.computes > done_before, 60, "the queue after propagation")
    assert computing_while_propagating and not any(computing_while_propagating)  # waits for the run to end
    assert set(p.signal_digests(t.id)) == set(range(N_FRAMES))  # the rows it computed are stored

    # flags: in the panel by score, on the object's timeline lane, never on the drawn frame 0
    shown = win.review.shown
    assert shown, "the drifting clip should raise flags"
    assert len(shown) < N_FRAMES - 1
    scores = [f.score for f in shown]
    assert scores == sorted(scores, reverse=True)
    assert _panel_rows(win) == [(t.id, f.frame) for f in shown]
    assert win.review_panel.tree.topLevelItemCount() == len(shown)
    assert sorted(win.timeline.flagged_frames(t.id)) == sorted(f.frame for f in shown)
    assert 0 not in win.timeline.flagged_frames(t.id)
    assert all(f.track_id == t.id and p.mask_frames(t.id)[f.frame] == "propagated" for f in shown)
    _assert_marks_painted(win, t.id, shown)

    # next flagged frame (G) from frame 0: the first flagged frame in frame order, object selected
    win.select_track(None)
    win.go_frame(0)
    wait_loaded(win)
    key(qtbot, win, Qt.Key.Key_G)
    first = min(f.frame for f in shown)
    assert win.frame == first and win.active_track == t.id
    wait_loaded(win)
    if len(shown) > 1:
        key(qtbot, win, Qt.Key.Key_G)
        second = sorted(f.frame for f in shown)[1]
        assert win.frame == second
        key(qtbot, win, Qt.Key.Key_G, Qt.KeyboardModifier.ShiftModifier)
        assert win.frame == first

    # mark reviewed (R): the flag leaves the panel and the timeline, the frame shows as reviewed
    n = len(shown)
    key(qtbot, win, Qt.Key.Key_R)
    assert p.is_reviewed(t.id, first)
    wait_for(lambda: (t.id, first) not in _panel_rows(win), 10, "the reviewed flag to leave")
    assert len(win.review.shown) == n - 1
    assert first not in win.timeline.flagged_frames(t.id) and first in win.timeline.reviewed[t.id]

    # undo brings the flag back (the mark is one undo step)
    key(qtbot, win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not p.is_reviewed(t.id, first)
    wait_for(lambda: (t.id, first) in _panel_rows(win), 10, "the flag to come back")
    assert len(win.review.shown) == n and first in win.timeline.flagged_frames(t.id)

    # a click on a row goes to that frame and selects its object
    win.select_track(None)
    win.go_frame(0)
    wait_loaded(win)
    last_row = len(shown) - 1
    target = shown[last_row]
    tree = win.review_panel.tree
    tree.scrollToItem(tree.topLevelItem(last_row))
    rect = tree.visualItemRect(tree.topLevelItem(last_row))
    at = QPoint(rect.left() + 6, rect.center().y())
    assert tree.viewport().rect().contains(at)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert win.frame == target.frame and win.active_track == t.id

    # a correction on a flagged frame is a person's frame: its flag goes at once, and the queue
    # is recomputed from the new masks
    fix = shown[0].frame
    done_before = win.review.computes
    p.set_mask(t.id, fix, p.mask(t.id, fix).mask() & np.ones_like(moto_gt), source="manual")
    wait_for(lambda: (t.id, fix) not in _panel_rows(win), 10, "the corrected frame to leave")
    wait_for(lambda: _settled(win) and win.review.computes > done_before, 60, "the queue after the correction")
    assert all(f.frame != fix for f in win.review.shown)
