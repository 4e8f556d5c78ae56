"""annotator.app.prompting without Qt: resuming a prompt, ids from the store, one undo step per
click, candidate cycling, brush strokes."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.app import prompting
from annotator.core.model import Prompts
from annotator.core.rle import encode
from annotator.core.store import Project

H, W = 20, 30


def _mask(x0, x1):
    m = np.zeros((H, W), bool)
    m[5:15, x0:x1] = True
    return m


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    yield p
    p.close()


def test_resume_reads_the_stored_clicks_or_boxes_a_mask_without_them(project):
    item = project.add_item("a.png", "image", W, H)
    t = project.add_track(item.id)
    assert prompting.resume(project, item.id, 0, None).points == []
    project.set_mask(t.id, 0, _mask(2, 9), source="manual", prompts=Prompts([[4.0, 8.0]], [1], None))
    ps = prompting.resume(project, item.id, 0, t.id)
    assert ps.points == [[4.0, 8.0]] and ps.labels == [1] and ps.box is None
    project.set_mask(t.id, 0, _mask(2, 9), source="propagated")
    assert prompting.resume(project, item.id, 0, t.id).box == [2, 5, 9, 15]


def test_multimask_rule_and_logits_feedback():
    ps = prompting.PromptState(1, 0, None)
    ps.add_point(3, 4, True)
    ps.logits = "L"
    assert ps.multimask and ps.mask_input is None  # one click: candidates, no feedback
    ps.add_point(5, 6, False)
    assert not ps.multimask and ps.mask_input == "L"
    ps2 = prompting.PromptState(1, 0, None)
    ps2.add_point(3, 4, True)
    ps2.set_box(0, 0, 9, 9)
    assert not ps2.multimask


def test_new_object_ids_come_from_the_store(project):
    item = project.add_item("v.mp4", "video", W, H, 5, 25.0)
    project.add_track(item.id, obj_id=7)
    ps = prompting.PromptState(item.id, 0, None)
    assert prompting.object_id(project, ps) == 8
    cands = prompting.Candidates([encode(_mask(1, 5))], [0.9])
    tid = prompting.apply_prediction(project, ps, cands, ps.prompts(), model="m")
    assert project.track(tid).obj_id == 8


def test_a_click_is_one_undo_step_with_its_new_object_and_category(project):
    item = project.add_item("a.png", "image", W, H)
    ps = prompting.PromptState(item.id, 0, None)
    ps.add_point(3, 8, True)
    made = []
    cands = prompting.Candidates([encode(_mask(1, 5)), encode(_mask(1, 9))], [0.5, 0.8], ["l0", "l1"], best=1)
    tid = prompting.apply_prediction(project, ps, cands, ps.prompts(), model="m",
                                     category=lambda: made.append(1) or project.add_category("cat").id)
    rec = project.mask(tid, 0)
    assert rec.source == "manual" and rec.model == "m" and rec.score == pytest.approx(0.8)
    assert rec.mask().sum() == _mask(1, 9).sum() and ps.logits == "l1" and ps.track_id == tid
    assert project.track(tid).category_id == project.category_by_name("cat").id and made == [1]
    assert project.undo() == "Click"
    assert project.tracks(item.id) == [] and project.category_by_name("cat") is None


def test_cycling_walks_the_candidates(project):
    item = project.add_item("a.png", "image", W, H)
    ps = prompting.PromptState(item.id, 0, None)
    ps.add_point(3, 8, True)
    cands = prompting.Candidates([encode(_mask(1, 5)), encode(_mask(1, 9)), encode(_mask(1, 20))],
                                 [0.5, 0.8, 0.7], ["a", "b", "c"], best=1)
    tid = prompting.apply_prediction(project, ps, cands, ps.prompts(), model="m")
    assert prompting.cycle_candidate(project, ps, "m") == (2, 3, pytest.approx(0.7))
    assert project.mask(tid, 0).mask().sum() == _mask(1, 20).sum() and ps.logits == "c"
    assert prompting.cycle_candidate(project, ps, "m")[0] == 0
    one = prompting.PromptState(item.id, 0, tid, candidates=prompting.Candidates([encode(_mask(1, 5))], [1.0]))
    assert prompting.cycle_candidate(project, one, "m") is None


def test_strokes_paint_erase_and_delete_an_emptied_mask(project):
    item = project.add_item("a.png", "image", W, H)
    assert prompting.apply_stroke(project, item.id, 0, None, _mask(1, 5), erase=True) is None
    tid = prompting.apply_stroke(project, item.id, 0, None, _mask(1, 5), erase=False)
    prompting.apply_stroke(project, item.id, 0, tid, _mask(4, 8), erase=False)
    assert project.mask(tid, 0).mask().sum() == _mask(1, 8).sum()
    prompting.apply_stroke(project, item.id, 0, tid, _mask(0, 30), erase=True)
    assert project.mask(tid, 0) is None
