"""The app's CLIP features, offscreen, with the real window, the classic image engine and a small
CLIP installed as a model (tests/clip/clip_synth: the real ClipModel, narrower and shallower,
with the parity fill for weights, so its rankings are arbitrary but deterministic):

- Find: type a label, Enter; the found masks come back from the worker as `auto` objects with
  that label, in one undo step; the auto review starts on them and Y accepts one; undo, undo.
- Without a CLIP model Find says which one is missing and how to get it, and changes nothing.
- The label picker (T) lists the suggestions first, the best pre-selected; Enter applies it.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from gui_helpers import wait_for, wait_loaded

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clip"))
import clip_synth  # noqa: E402

PHOTO = "images_groceries.jpg"


@pytest.fixture(scope="module")
def small_clip_files(tmp_path_factory):
    """(ClipModel, vocab.json, merges.txt) of the small synthetic CLIP."""
    from annotator.engines.clip_model import load_clip
    from annotator.engines.clip_tokenizer import ClipTokenizer

    vocab, merges = clip_synth.write_vocab(tmp_path_factory.mktemp("clip_vocab"))
    tok = ClipTokenizer(vocab, merges)
    clip = load_clip(clip_synth.small_card(clip_synth.small_arch(tok.vocab_size, tok.end_id)), "random", vocab, merges)
    return clip, vocab, merges


@pytest.fixture
def with_clip(monkeypatch, tmp_path, small_clip_files):
    """clip_small installed as the CLIP model (cards and models folders through the environment)."""
    clip, vocab, merges = small_clip_files
    return clip_synth.install_small_clip(monkeypatch, tmp_path / "installed", clip, vocab, merges)


@pytest.fixture
def photo(shared_data, tmp_path) -> Path:
    d = tmp_path / "photo"
    d.mkdir()
    shutil.copy(shared_data / PHOTO, d / PHOTO)
    return d / PHOTO


def _find(qtbot, win, text):
    from annotator.app.text_find import FindOptions

    # relative threshold: a random-weight CLIP's probabilities are flat, its maxima still mark regions
    win.find.options = FindOptions(threshold=0.8, relative=True, max_per_label=3)
    win.find.edit.setFocus()
    qtbot.keyClicks(win.find.edit, text)
    qtbot.keyClick(win.find.edit, Qt.Key.Key_Return)
    assert win.find.running
    wait_for(lambda: not win.find.running, 120, "the Find to finish")


def test_find_adds_auto_objects_in_one_undo_step(qtbot, make_window, with_clip, photo):
    win = make_window([str(photo)])
    wait_loaded(win, 60)
    p, item = win.project, win.item
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow(), timeout=5000)
    _find(qtbot, win, "bottle, can")
    tracks = p.tracks(item.id)
    assert tracks, win.find.last_message
    assert sorted(t.id for t in tracks) == sorted(win.find.last_added)
    names = {c.id: c.name for c in p.categories()}
    assert {names[t.category_id] for t in tracks} <= {"bottle", "can"}
    for t in tracks:
        rec = p.mask(t.id, 0)
        assert rec.source == "auto" and rec.area > 0
        assert rec.model == f"classic+{with_clip}"
        assert t.attributes["found_by_text"] == names[t.category_id]
    assert p.undo_label.startswith("Find ")
    assert "Found" in win.find.last_message

    # the masks are the image engine's answers to the prompts text_find made
    from annotator.engines.classic import ClassicImageSession
    from annotator.media.image import load_image

    sess = ClassicImageSession()
    sess.set_image(load_image(photo))
    rec = p.mask(tracks[0].id, 0)
    pred = sess.predict(points=np.asarray(rec.prompts.points, np.float32), labels=np.asarray(rec.prompts.labels),
                        box=np.asarray(rec.prompts.box, np.float32), multimask=False)
    assert (np.asarray(pred.mask, bool) == rec.mask().astype(bool)).all()

    # the review starts on the new objects: the first is selected, Y accepts it (its mask becomes
    # manual) and moves on; undo takes the accept back, the next undo the whole Find
    from annotator.app import auto_objects

    first = tracks[0].id
    assert win.active_track == first and auto_objects.auto_tracks(p, item.id, 0) == [t.id for t in tracks]
    qtbot.keyClick(win.canvas, Qt.Key.Key_Y)
    assert p.mask(first, 0).source == "manual"
    assert auto_objects.auto_tracks(p, item.id, 0) == [t.id for t in tracks[1:]]
    assert p.track(first).category_id == tracks[0].category_id  # the label stays
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_for(lambda: p.mask(first, 0).source == "auto", 10, "the accept to be undone")
    assert len(p.tracks(item.id)) == len(tracks)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_for(lambda: p.tracks(item.id) == [], 10, "the Find to be undone")
    assert {c.name for c in p.categories()} == set()
    win.redo()
    assert len(p.tracks(item.id)) == len(tracks)


def test_find_cancelled_adds_nothing(qtbot, make_window, with_clip, photo):
    from annotator.app.text_find import FindOptions

    win = make_window([str(photo)])
    wait_loaded(win, 60)
    win.find.options = FindOptions(threshold=0.8, relative=True, max_per_label=3)
    assert win.find.find("bottle")
    win.find.cancel()  # before the answer can be handled: it is dropped whenever it comes
    wait_for(lambda: not win.find.running, 120, "the Find to stop")
    assert "cancelled" in win.find.last_message
    assert win.project.tracks(win.item.id) == [] and win.project.categories() == []
    assert not (win.project.undo_label or "").startswith("Find")
    assert win.find.find("bottle")  # and the next one runs
    wait_for(lambda: not win.find.running, 120, "the second Find")
    assert win.project.tracks(win.item.id)


def test_without_clip_find_says_how_to_get_one_and_the_picker_is_as_before(qtbot, make_window, photo):
    from annotator.gui import errors as gui_errors

    win = make_window([str(photo)])
    wait_loaded(win, 60)
    win.find.edit.setText("bottle")
    qtbot.keyClick(win.find.edit, Qt.Key.Key_Return)
    assert not win.find.running
    assert gui_errors.shown and "annotator models download clip_b16" in gui_errors.shown[-1][1]
    assert "Model manager" in gui_errors.shown[-1][1]
    p, item = win.project, win.item
    assert p.tracks(item.id) == []

    p.add_category("shelf")
    p.add_category("can")
    m = np.zeros((item.height, item.width), bool)
    m[10:100, 10:100] = True
    t = p.add_track(item.id)
    p.set_masks([{"track_id": t.id, "frame": 0, "mask": m, "source": "manual"}])
    win.current_label = "can"
    win.select_track(t.id)
    seen = {}

    def in_dialog():
        panel = QApplication.activeModalWidget().panel
        seen["rows"] = panel.list.count()
        seen["suggested"] = panel.suggestions()
        qtbot.keyClick(panel.filter, Qt.Key.Key_Return)

    QTimer.singleShot(50, in_dialog)
    win.pick_label_dialog()
    assert seen == {"rows": 2, "suggested": []} and win.label_suggestions.task is None
    # as before: an unlabelled object highlights no label, so Enter takes the list's first row
    assert p.category(p.track(t.id).category_id).name == "shelf"


def _labelled(p, item_id, name, mask, frame=0):
    cat = p.ensure_category(name)
    t = p.add_track(item_id, category_id=cat.id)
    p.set_masks([{"track_id": t.id, "frame": frame, "mask": mask, "source": "manual"}])
    return t.id


def test_picker_lists_suggestions_first_and_enter_takes_the_top_one(qtbot, make_window, with_clip, photo):
    from annotator.app.label_suggest import LabelSuggester, learn_from_project
    from annotator.engines.clip_session import create_clip_session
    from annotator.gui.labels import SUGGESTED
    from annotator.media.image import load_image

    win = make_window([str(photo)])
    wait_loaded(win, 60)
    p, item = win.project, win.item
    h, w = item.height, item.width
    boxes = {"shelf": (0, 0, w // 3, h // 2), "bottle": (w // 3, h // 4, w // 2, h), "can": (w // 2, 0, w, h // 3)}
    for name, (x0, y0, x1, y1) in boxes.items():
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = True
        _labelled(p, item.id, name, m)
    p.add_category("floor")
    target = np.zeros((h, w), bool)
    target[h // 2:, w // 2:] = True
    t = p.add_track(item.id)
    p.set_masks([{"track_id": t.id, "frame": 0, "mask": target, "source": "manual"}])
    win.current_label = ""
    win.select_track(t.id)

    # what the suggester says for this mask, computed here the way the CLI does
    ref = LabelSuggester(create_clip_session(), [c.name for c in p.categories()])
    learn_from_project(ref, p, exclude_track=t.id)
    expected = ref.suggest(load_image(photo), target, top=3)
    assert len(expected) == 3

    seen = {}

    def in_dialog():
        dlg = QApplication.activeModalWidget()
        seen["dialog"] = dlg
        panel = dlg.panel
        try:
            wait_for(lambda: panel.suggestions(), 60, "the suggestions")
            items = [panel.list.item(i) for i in range(panel.list.count())]
            seen["rows"] = [(it.data(Qt.ItemDataRole.UserRole), bool(it.data(SUGGESTED))) for it in items]
            seen["current"] = panel.list.currentItem().data(Qt.ItemDataRole.UserRole)
        finally:
            qtbot.keyClick(panel.filter, Qt.Key.Key_Return)

    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow(), timeout=5000)
    QTimer.singleShot(50, in_dialog)
    qtbot.keyClick(win.canvas, Qt.Key.Key_T)
    assert seen.get("dialog") is not None, "the picker did not open"
    rows = seen["rows"]
    top = [s.label for s in expected]
    assert rows[:3] == [(name, True) for name in top]  # suggestions first, in the suggester's order
    assert [name for name, sug in rows[3:]] == [c.name for c in p.categories()] and not any(s for _, s in rows[3:])
    assert seen["current"] == top[0]
    assert [s.label for s in win.label_suggestions.last] == top
    for a, b in zip(win.label_suggestions.last, expected):
        assert a.score == pytest.approx(b.score, rel=1e-4)
    assert p.category(p.track(t.id).category_id).name == top[0]  # Enter applied the top suggestion
