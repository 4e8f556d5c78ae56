"""annotator.app.auto_objects without Qt: which objects are unaccepted auto ones, accept turns
their auto masks manual and reject deletes them, each one undo step, and what segment
everything's add_to_project stores is what the review sees."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.app import auto_objects as ao
from annotator.core.rle import encode
from annotator.core.store import Project

H, W = 20, 30


def _mask(x0: int, x1: int) -> dict:
    m = np.zeros((H, W), bool)
    m[3:9, x0:x1] = True
    return encode(m)


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    yield p
    p.close()


def _video_with(project, sources: list[dict[int, str]]):
    """One track per entry: {frame: source}."""
    item = project.add_item("clip.mp4", "video", W, H, 4, 25.0)
    ids = []
    for i, frames in enumerate(sources):
        t = project.add_track(item.id)
        ids.append(t.id)
        for f, src in frames.items():
            project.set_mask(t.id, f, _mask(i, i + 5), source=src, prompts={"points": [[i + 1, 4]], "labels": [1]},
                             model="m", score=0.5 + i / 10)
    return item, ids


def test_which_objects_are_auto(project):
    item, (a, b, c) = _video_with(project, [{0: "auto", 1: "propagated"}, {0: "manual"}, {2: "auto"}])
    assert ao.auto_tracks(project, item.id, 0) == [a]
    assert ao.auto_tracks(project, item.id, 2) == [c]
    assert ao.auto_tracks(project, item.id, 3) == []
    assert ao.auto_tracks(project, item.id) == [a, c]
    assert ao.is_auto(project, a, 0) and not ao.is_auto(project, a, 1) and not ao.is_auto(project, b)


def test_next_auto_walks_and_wraps(project):
    item, (a, b, c, d) = _video_with(project, [{0: "auto"}, {0: "manual"}, {0: "auto"}, {0: "auto"}])
    assert ao.next_auto(project, item.id, 0) == a
    assert ao.next_auto(project, item.id, 0, a) == c
    assert ao.next_auto(project, item.id, 0, d) == a  # wraps
    assert ao.next_auto(project, item.id, 0, a, step=-1) == d
    assert ao.next_auto(project, item.id, 0, b) == c  # from a manual object: the next auto after it
    assert ao.next_auto(project, item.id, 0, b, step=-1) == a
    assert ao.next_auto(project, item.id, 1) is None


def test_accept_makes_manual_in_one_undo_step(project):
    item, (a, b) = _video_with(project, [{0: "auto", 1: "auto", 2: "propagated"}, {0: "auto"}])
    before = {m.frame: m for m in project.masks(track_id=a)}
    steps = len(project._undo)
    assert ao.accept(project, a) == 2
    assert len(project._undo) == steps + 1
    after = {m.frame: m for m in project.masks(track_id=a)}
    assert {f: m.source for f, m in after.items()} == {0: "manual", 1: "manual", 2: "propagated"}
    for f in (0, 1):  # the mask, its clicks, model and score are kept
        assert after[f].rle == before[f].rle and after[f].prompts == before[f].prompts
        assert after[f].model == "m" and after[f].score == pytest.approx(before[f].score)
    assert ao.auto_tracks(project, item.id, 0) == [b]
    assert project.undo().startswith("Accept object")
    assert {m.frame: m.source for m in project.masks(track_id=a)} == {0: "auto", 1: "auto", 2: "propagated"}
    assert ao.accept(project, project.track(b).id) == 1 and ao.accept(project, b) == 0  # nothing left to accept


def test_reject_deletes_in_one_undo_step(project):
    item, (a, b) = _video_with(project, [{0: "auto", 1: "auto"}, {0: "auto"}])
    steps = len(project._undo)
    ao.reject(project, a)
    assert len(project._undo) == steps + 1
    assert [t.id for t in project.tracks(item.id)] == [b]
    project.undo()
    assert [t.id for t in project.tracks(item.id)] == [a, b]
    assert {m.frame: m.source for m in project.masks(track_id=a)} == {0: "auto", 1: "auto"}


def test_accept_all_and_reject_all_touch_only_the_frames_auto_objects(project):
    item, (a, b, c, d) = _video_with(project, [{0: "auto"}, {0: "manual"}, {0: "auto"}, {1: "auto"}])
    steps = len(project._undo)
    assert ao.accept_all(project, item.id, 0) == [a, c]
    assert len(project._undo) == steps + 1
    assert ao.auto_tracks(project, item.id) == [d]
    project.undo()
    assert ao.reject_all(project, item.id, 0) == [a, c]
    assert len(project._undo) == steps + 1
    assert [t.id for t in project.tracks(item.id)] == [b, d]
    project.undo()
    assert [t.id for t in project.tracks(item.id)] == [a, b, c, d]
    assert ao.reject_all(project, item.id, 3) == [] and len(project._undo) == steps


def test_segment_everything_results_are_reviewable(project):
    from annotator.everything.run import add_to_project

    item = project.add_item("a.png", "image", W, H)
    recs = [{"segmentation": _mask(i * 5, i * 5 + 4), "point_coords": [[i * 5 + 1, 5]], "predicted_iou": 0.9}
            for i in range(4)]
    tids = add_to_project(project, item, 0, recs, model="classic")
    assert ao.auto_tracks(project, item.id, 0) == tids
    ao.accept(project, tids[0])
    ao.accept(project, tids[1])
    assert ao.reject_all(project, item.id, 0) == tids[2:]
    assert [t.id for t in project.tracks(item.id)] == tids[:2]
    assert all(m.source == "manual" for m in project.masks(item_id=item.id))
    project.undo()
    assert ao.auto_tracks(project, item.id, 0) == tids[2:]
