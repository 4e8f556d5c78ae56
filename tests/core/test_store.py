import json
import sqlite3

import numpy as np
import pytest

from annotator.core import rle
from annotator.core.model import Prompts
from annotator.core.store import Project
from annotator.errors import ProjectError


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    yield p
    p.close()


def _video(p, tmp_path, frames=10, w=32, h=24):
    (tmp_path / "v.mp4").write_bytes(b"")
    return p.add_item(tmp_path / "v.mp4", "video", w, h, num_frames=frames, fps=24)


def test_create_add_query_and_reopen(tmp_path):
    path = tmp_path / "p.annotator"
    with Project.create(path) as p:
        cat = p.add_category("dog")
        item = _video(p, tmp_path)
        tr = p.add_track(item.id, category_id=cat.id)
        m = np.zeros((24, 32), bool)
        m[3:9, 4:20] = True
        p.set_mask(tr.id, 5, m, source="manual", prompts=Prompts.of([[5, 6]], [1]), model="classic", score=0.9)
        assert item.path == "v.mp4"  # inside the project folder: stored relative
    with Project.open(path) as p:
        [item] = p.items()
        assert item.exists and item.kind == "video" and item.num_frames == 10
        [tr] = p.tracks(item.id)
        assert tr.obj_id == 1 and p.category(tr.category_id).name == "dog"
        rec = p.mask(tr.id, 5)
        assert np.array_equal(rec.mask(), m)
        assert rec.prompts.points == [[5.0, 6.0]] and rec.prompts.labels == [1]
        assert rec.model == "classic" and rec.score == pytest.approx(0.9)
        assert rec.area == m.sum() and rec.bbox == [4.0, 3.0, 16.0, 6.0]
        assert p.mask_frames(tr.id) == {5: "manual"}


def test_undo_redo_across_items_and_groups(proj, tmp_path):
    a = _video(proj, tmp_path)
    b = proj.add_item(tmp_path / "img.png", "image", 32, 24)
    ta = proj.add_track(a.id)
    tb = proj.add_track(b.id)
    m = np.ones((24, 32), bool)
    proj.set_mask(tb.id, 0, m)
    with proj.group("Propagate forward"):
        for f in range(1, 6):
            proj.set_mask(ta.id, f, m, source="propagated")
    assert proj.undo_label == "Propagate forward"
    assert proj.undo() == "Propagate forward"
    assert proj.mask_frames(ta.id) == {}
    assert proj.mask(tb.id, 0) is not None  # other item untouched
    proj.undo()  # the mask on item b
    assert proj.mask(tb.id, 0) is None
    assert proj.redo() and proj.redo() == "Propagate forward"
    assert sorted(proj.mask_frames(ta.id)) == [1, 2, 3, 4, 5]
    proj.delete_track(ta.id)
    assert proj.tracks(a.id) == [] and proj.masks(track_id=ta.id) == []
    proj.undo()
    assert [t.id for t in proj.tracks(a.id)] == [ta.id] and len(proj.mask_frames(ta.id)) == 5
    # a new command clears the redo stack
    proj.undo()
    proj.set_mask(tb.id, 0, m)
    assert not proj.can_redo


def test_overwrite_mask_undo_restores_previous(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    m1 = np.zeros((24, 32), bool)
    m1[0, 0] = True
    m2 = ~m1
    proj.set_mask(t.id, 2, m1, source="propagated")
    proj.set_mask(t.id, 2, m2, source="manual")
    proj.undo()
    rec = proj.mask(t.id, 2)
    assert np.array_equal(rec.mask(), m1) and rec.source == "propagated"


def test_delete_mask_range_is_one_command(proj, tmp_path):
    it = _video(proj, tmp_path, frames=20)
    t = proj.add_track(it.id)
    proj.set_masks([{"track_id": t.id, "frame": f, "mask": np.ones((24, 32), bool)} for f in range(20)])
    assert proj.delete_masks(t.id, 5, 9) == 5
    assert sorted(proj.mask_frames(t.id)) == [0, 1, 2, 3, 4] + list(range(10, 20))
    proj.undo()
    assert len(proj.mask_frames(t.id)) == 20


def test_validation_errors_leave_project_unchanged(proj, tmp_path):
    it = _video(proj, tmp_path, frames=3)
    t = proj.add_track(it.id)
    before = proj.counts()
    with pytest.raises(ProjectError, match="32x24"):
        proj.set_mask(t.id, 0, np.zeros((10, 10), bool))
    with pytest.raises(ProjectError, match="outside"):
        proj.set_mask(t.id, 3, np.zeros((24, 32), bool))
    with pytest.raises(ProjectError, match="already exists"):
        proj.add_category("x") and proj.add_category("x")
    with pytest.raises(ProjectError):
        proj.add_track(it.id, obj_id=t.obj_id)
    assert proj.counts()["masks"] == before["masks"]


def test_missing_media_keeps_annotations_and_relinks(proj, tmp_path):
    it = proj.add_item(tmp_path / "gone.mp4", "video", 32, 24, num_frames=4)
    assert not it.exists
    t = proj.add_track(it.id)
    proj.set_mask(t.id, 1, np.ones((24, 32), bool))
    (tmp_path / "here.mp4").write_bytes(b"x")
    it2 = proj.relink_item(it.id, tmp_path / "here.mp4")
    assert it2.exists and proj.mask(t.id, 1) is not None
    with pytest.raises(ProjectError, match="no such"):
        proj.relink_item(it.id, tmp_path / "nope.mp4")


def test_change_notifications(proj, tmp_path):
    events = []
    proj.on_change.append(lambda ev, payload: events.append((ev, payload)))
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    proj.set_mask(t.id, 3, np.ones((24, 32), bool))
    proj.undo()
    assert events[-1][0] == "undo" and events[-1][1]["track_ids"] == {t.id} and events[-1][1]["frames"] == {3}


def test_state_and_schema_version(tmp_path):
    path = tmp_path / "p.annotator"
    with Project.create(path) as p:
        p.set_state("last", {"item": 3, "frame": 7})
    with Project.open(path) as p:
        assert p.get_state("last") == {"item": 3, "frame": 7}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.execute("PRAGMA user_version=999")
    con.close()
    with pytest.raises(ProjectError, match="newer"):
        Project.open(path)


def test_foreign_and_corrupt_files_are_refused(tmp_path):
    junk = tmp_path / "junk.annotator"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectError, match="junk.annotator"):
        Project.open(junk)
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE x (a)")
    con.commit()
    con.close()
    with pytest.raises(ProjectError, match="not an Annotator project"):
        Project.open(other)


def test_readonly_open(tmp_path):
    path = tmp_path / "p.annotator"
    with Project.create(path) as p:
        p.add_category("cat")
    with Project.open(path) as writer, Project.open(path, readonly=True) as ro:
        assert [c.name for c in ro.categories()] == ["cat"]
        with pytest.raises(ProjectError, match="read-only"):
            ro.add_category("dog")
        writer.add_category("dog")


def test_undo_is_bounded(proj):
    from annotator.core import store

    for i in range(store.UNDO_LIMIT + 20):
        proj.set_state("x", i)  # state is not undoable
        proj.add_category(f"c{i}")
    n = 0
    while proj.undo():
        n += 1
    assert n == store.UNDO_LIMIT
    assert len(proj.categories()) == 20


def test_rle_roundtrip_uncompressed_counts():
    m = np.zeros((5, 4), bool)
    m[1:3, 2] = True
    r = rle.encode(m)
    assert isinstance(r["counts"], str)
    # column-major uncompressed RLE of the same mask
    flat = m.flatten(order="F")
    runs, cur, n = [], False, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    assert np.array_equal(rle.decode({"size": [5, 4], "counts": runs}), m)
    assert json.loads(json.dumps(r)) == r
