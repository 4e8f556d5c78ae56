"""annotator.app.propagation without Qt: the plan's keep/replace rules, one undo step per run,
a cancelled run keeps its frames, and `annotator propagate` writes what `export --format sav`
writes for the same masks."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from annotator.app.propagation import PropagationRun, plan
from annotator.core.rle import encode
from annotator.core.store import Project

H, W, N = 24, 32, 6


def _mask(x0: int, x1: int) -> dict:
    m = np.zeros((H, W), bool)
    m[4:12, x0:x1] = True
    return encode(m)


EMPTY = encode(np.zeros((H, W), bool))


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    yield p
    p.close()


def _video(project):
    item = project.add_item("clip.mp4", "video", W, H, N, 25.0)
    a = project.add_track(item.id)
    b = project.add_track(item.id)
    return item, a, b


def test_plan_seeds_keeps_manual_frames_and_skips_locked(project):
    item, a, b = _video(project)
    project.set_mask(a.id, 2, _mask(2, 8), source="manual")  # the start frame
    project.set_mask(a.id, 4, _mask(3, 9), source="manual")  # by hand elsewhere: kept
    project.set_mask(a.id, 5, _mask(3, 9), source="propagated")  # an earlier run: replaced
    project.set_mask(b.id, 2, _mask(10, 16), source="manual")
    project.update_track(b.id, locked=True)
    pl = plan(project, item, 2, "both")
    assert set(pl.seeds) == {a.obj_id} and pl.objmap == {a.obj_id: a.id}
    assert pl.keep == {a.id: frozenset({4})}
    assert pl.frame_range == (0, N - 1) and pl.total == N - 1
    assert plan(project, item, 2, "forward", track_ids=[b.id]).seeds == {}  # locked: nothing to do
    assert plan(project, item, 3, "forward").seeds == {}  # no mask on the start frame


def test_run_replaces_around_kept_frames_and_deletes_emptied(project):
    item, a, _ = _video(project)
    project.set_mask(a.id, 0, _mask(2, 8), source="manual")
    project.set_mask(a.id, 3, _mask(20, 30), source="manual")
    project.set_mask(a.id, 4, _mask(3, 9), source="propagated")
    pl = plan(project, item, 0, "forward")
    run = PropagationRun(project, pl, model="m")
    for f in range(N):
        run.add(f, {a.obj_id: EMPTY if f == 4 else _mask(1 + f, 9 + f), 99: _mask(0, 1)})  # 99: not planned
    run.finish()
    frames = project.mask_frames(a.id)
    assert frames == {0: "propagated", 1: "propagated", 2: "propagated", 3: "manual", 5: "propagated"}
    assert project.mask(a.id, 3).rle == _mask(20, 30)  # the hand-made frame is untouched
    assert project.mask(a.id, 5).rle == _mask(6, 14) and project.mask(a.id, 5).model == "m"
    assert run.frames == N and run.front == N - 1


def test_one_run_is_one_undo_step_however_many_flushes(project):
    item, a, _ = _video(project)
    project.set_mask(a.id, 0, _mask(2, 8), source="manual")
    run = PropagationRun(project, plan(project, item, 0, "forward"))
    for f in range(1, N):
        run.add(f, {a.obj_id: _mask(2, 8)})
        run.flush()  # every frame its own transaction, as the GUI's timer does
    run.finish()
    assert len(project.mask_frames(a.id)) == N
    assert project.undo() == "Propagate forward from frame 0"  # frames count from 0 everywhere
    assert project.mask_frames(a.id) == {0: "manual"}
    assert project.redo() and len(project.mask_frames(a.id)) == N


def test_cancel_keeps_the_frames_done(project, tmp_path):
    item, a, _ = _video(project)
    project.set_mask(a.id, 0, _mask(2, 8), source="manual")
    run = PropagationRun(project, plan(project, item, 0, "forward"))
    run.add(1, {a.obj_id: _mask(2, 8)})
    run.flush()
    run.add(2, {a.obj_id: _mask(2, 8)})
    run.finish()  # cancelled here: what arrived is written, the group closed
    run.finish()  # finishing twice is harmless
    assert set(project.mask_frames(a.id)) == {0, 1, 2}
    project.close()
    with Project.open(tmp_path / "p.annotator") as again:  # durable, not just in memory
        assert set(again.mask_frames(a.id)) == {0, 1, 2}


def test_new_object_ids_come_from_the_store(project):
    item, a, b = _video(project)
    assert project.next_obj_id(item.id) == 3
    project.delete_track(b.id)
    assert project.next_obj_id(item.id) == 2
    assert project.add_track(item.id).obj_id == 2
    other = project.add_item("b.mp4", "video", W, H, N, 25.0)
    assert project.next_obj_id(other.id) == 1


def test_cli_propagate_equals_export_sav_of_the_same_masks(tmp_path, capsys):
    from annotator.bench.video import SyntheticVideo
    from annotator.cli import main
    from annotator.engines.registry import create_video_session
    from annotator.media import open_video

    src = SyntheticVideo(5, width=W * 4, height=H * 4, discs=2)
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(src.frame(i)).save(folder / f"{i:05d}.png")
    cx, cy = src.centre(0, 1)
    prompts = [{"frame": 1, "obj_id": 1, "points": [[cx, cy]], "labels": [1]}]
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    cli_out = tmp_path / "cli.sav.json"
    assert main(["propagate", str(folder), "--model", "classic", "--prompts", str(tmp_path / "prompts.json"),
                 "-o", str(cli_out), "-q"]) == 0, capsys.readouterr().err

    # the same masks, made by the engine directly and stored the way a person's session would
    video = open_video(folder)
    session = create_video_session("classic")
    session.open(video)
    with Project.create(tmp_path / "p.annotator") as p:
        item = p.add_item(folder, "frames", video.width, video.height, video.num_frames, 0.0)
        t = p.add_track(item.id)
        first = session.add_prompt(1, 1, points=[[cx, cy]], labels=[1])
        p.set_mask(t.id, 1, encode(first[1]), source="manual")
        for f, masks in session.propagate(1, "both"):
            if f != 1 and masks[1].any():
                p.set_mask(t.id, f, encode(masks[1]), source="propagated")
    video.close()
    exp_out = tmp_path / "export.sav.json"
    assert main(["export", str(tmp_path / "p.annotator"), "-f", "sav", "-o", str(exp_out)]) == 0
    assert json.loads(cli_out.read_text()) == json.loads(exp_out.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch left behind


def test_a_run_that_changes_a_reviewed_frame_clears_its_mark_in_the_same_undo_step(project):
    item, a, _ = _video(project)
    project.set_mask(a.id, 0, _mask(2, 8), source="manual")
    for f in (1, 2, 3):
        project.set_mask(a.id, f, _mask(2, 8), source="propagated")
    project.mark_reviewed(a.id, [1, 2, 3, 5])  # 5: reviewed "absent"
    run = PropagationRun(project, plan(project, item, 0, "forward"))
    # frame 1 comes back the same, 2 changes, 3 is emptied (deleted), 5 gets a mask
    for f, m in {1: _mask(2, 8), 2: _mask(4, 10), 3: EMPTY, 4: _mask(2, 8), 5: _mask(2, 8)}.items():
        run.add(f, {a.obj_id: m})
    run.finish()
    assert project.reviewed_frames(a.id) == {1}  # the person saw frame 1's mask; the others changed
    assert project.undo() == "Propagate forward from frame 0"
    assert project.reviewed_frames(a.id) == {1, 2, 3, 5} and project.mask(a.id, 2).rle == _mask(2, 8)
    project.set_mask(a.id, 2, _mask(0, 3), source="manual")  # a person's own edit keeps the mark
    assert project.reviewed_frames(a.id) == {1, 2, 3, 5}
    project.delete_masks(a.id, 3, 3)  # as does a person's delete ("absent" stays reviewed)
    assert project.reviewed_frames(a.id) == {1, 2, 3, 5}
