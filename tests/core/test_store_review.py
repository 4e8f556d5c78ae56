"""Reviewed marks and stored drift signals (schema v2)."""
import math
import sqlite3

import numpy as np
import pytest

from annotator.core.store import SCHEMA_VERSION, Project
from annotator.errors import ProjectError


@pytest.fixture
def proj(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    yield p
    p.close()


def _video(p, tmp_path, frames=10, w=32, h=24):
    (tmp_path / "v.mp4").write_bytes(b"")
    return p.add_item(tmp_path / "v.mp4", "video", w, h, num_frames=frames, fps=24)


def test_mark_unmark_undo_redo(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    proj.set_mask(t.id, 2, np.ones((24, 32), bool))
    assert proj.mark_reviewed(t.id, [2, 3, 4]) == 3  # frames 3, 4 have no mask: "absent" once reviewed
    assert proj.undo_label == "Mark object 1 frames 2-4 reviewed"
    assert proj.reviewed_frames(t.id) == {2, 3, 4}
    assert proj.is_reviewed(t.id, 3) and not proj.is_reviewed(t.id, 5)
    assert proj.mark_reviewed(t.id, 3) == 0  # already: no command, no undo step
    assert proj.undo_label == "Mark object 1 frames 2-4 reviewed"
    assert proj.unmark_reviewed(t.id, 3) == 1
    assert proj.undo_label == "Mark object 1 frame 3 not reviewed"
    assert proj.reviewed_frames(t.id) == {2, 4}
    proj.undo()
    assert proj.reviewed_frames(t.id) == {2, 3, 4}
    proj.undo()
    assert proj.reviewed_frames(t.id) == set()
    assert proj.mask(t.id, 2) is not None  # marks never touch masks
    proj.redo()
    assert proj.reviewed_frames(t.id) == {2, 3, 4}


def test_reviewed_marks_of_item_and_validation(proj, tmp_path):
    a = _video(proj, tmp_path)
    b = proj.add_item(tmp_path / "img.png", "image", 32, 24)
    t1, t2 = proj.add_track(a.id), proj.add_track(a.id)
    tb = proj.add_track(b.id)
    proj.mark_reviewed(t1.id, [0, 9])
    proj.mark_reviewed(t2.id, 5)
    proj.mark_reviewed(tb.id, 0)
    assert proj.reviewed_marks(a.id) == {t1.id: {0, 9}, t2.id: {5}}
    assert proj.reviewed_marks(b.id) == {tb.id: {0}}
    with pytest.raises(ProjectError, match="frame 10 is outside 0..9"):
        proj.mark_reviewed(t1.id, [3, 10])
    assert proj.reviewed_frames(t1.id) == {0, 9}  # nothing half-done
    with pytest.raises(ProjectError, match="no object"):
        proj.mark_reviewed(999, 0)


def test_marks_and_signals_go_with_the_object_and_come_back_on_undo(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    keep = proj.add_track(it.id)
    proj.set_mask(t.id, 1, np.ones((24, 32), bool))
    proj.mark_reviewed(t.id, [1, 2])
    proj.mark_reviewed(keep.id, [1])
    proj.set_signals(t.id, {1: {"a": 1.0, "b": 2.0}}, {1: 7})
    proj.delete_track(t.id)
    assert proj.reviewed_frames(t.id) == set() and proj.signals(t.id) == {}
    assert proj.reviewed_frames(keep.id) == {1}
    proj.undo()
    assert proj.reviewed_frames(t.id) == {1, 2}
    assert proj.signals(t.id) == {1: {"a": 1.0, "b": 2.0}} and proj.signal_digests(t.id) == {1: 7}
    proj.remove_item(it.id)
    con = sqlite3.connect(proj.path)
    assert con.execute("SELECT COUNT(*) FROM reviewed").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM signals").fetchone()[0] == 0
    con.close()
    proj.undo()
    assert proj.reviewed_marks(it.id) == {t.id: {1, 2}, keep.id: {1}}


def test_review_marks_notify_with_track_and_frames(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    events = []
    proj.on_change.append(lambda ev, payload: events.append((ev, payload)))
    proj.mark_reviewed(t.id, [4, 6])
    ev, payload = events[-1]
    assert ev == "command" and payload["tables"] == {"reviewed"}
    assert payload["track_ids"] == {t.id} and payload["frames"] == {4, 6}


def test_signals_roundtrip_layouts_and_float32(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    proj.set_signals(t.id, {0: {"area": 1.5, "iou": float("nan")}, 3: {"area": 0.1, "iou": 0.9}},
                     {0: -(2**63), 3: 2**63 - 1})
    proj.set_signals(t.id, {5: {"area": 2.0, "iou": 0.5, "score": 0.25}})  # another layout
    got = proj.signals(t.id)
    assert sorted(got) == [0, 3, 5]
    assert got[0]["area"] == 1.5 and math.isnan(got[0]["iou"])
    assert got[3]["area"] == pytest.approx(0.1, rel=1e-6) and got[3]["iou"] == pytest.approx(0.9, rel=1e-6)
    assert got[5] == {"area": 2.0, "iou": 0.5, "score": 0.25}
    assert proj.signals(t.id, first=1, last=4).keys() == {3}
    assert proj.signal_digests(t.id) == {0: -(2**63), 3: 2**63 - 1, 5: 0}
    con = sqlite3.connect(proj.path)  # compact: one float32 per value, names stored once per layout
    assert con.execute("SELECT length(data) FROM signals WHERE frame=5").fetchone()[0] == 12
    assert con.execute("SELECT COUNT(*) FROM signal_layouts").fetchone()[0] == 2
    con.close()
    proj.set_signals(t.id, {3: {"area": 9.0, "iou": 0.0}}, {3: 1})  # overwrite in place
    assert proj.signals(t.id)[3] == {"area": 9.0, "iou": 0.0} and proj.signal_digests(t.id)[3] == 1
    assert not proj.can_undo or proj.undo_label == "Add object"  # signals are not undo steps
    assert proj.delete_signals(t.id, [0, 4]) == 1
    assert sorted(proj.signals(t.id)) == [3, 5]
    assert proj.delete_signals(t.id) == 2 and proj.signals(t.id) == {}


def test_signals_validation(proj, tmp_path):
    it = _video(proj, tmp_path)
    t = proj.add_track(it.id)
    with pytest.raises(ProjectError, match="frame 12 is outside"):
        proj.set_signals(t.id, {1: {"a": 1.0}, 12: {"a": 1.0}})
    with pytest.raises(ProjectError, match="comma-free"):
        proj.set_signals(t.id, {1: {"a,b": 1.0}})
    assert proj.signals(t.id) == {}  # one transaction: nothing half-written


def test_v1_project_upgrades_with_its_data(tmp_path):
    path = tmp_path / "old.annotator"
    con = sqlite3.connect(path)
    from annotator.core.store import APP_ID, MIGRATIONS

    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            con.execute(stmt)
    con.execute("INSERT INTO meta VALUES ('app', ?)", (APP_ID,))
    con.execute("INSERT INTO items VALUES (1, 'v.mp4', 'video', 32, 24, 10, 24.0, 'v.mp4', '{}')")
    con.execute("INSERT INTO tracks VALUES (1, 1, 1, NULL, '[1,2,3]', '{}', 0, 0)")
    con.execute("PRAGMA user_version=1")
    con.commit()
    con.close()
    with Project.open(path) as p:
        assert [t.id for t in p.tracks(1)] == [1]
        p.mark_reviewed(1, [0])
        assert p.reviewed_frames(1) == {0}
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 2
    con.close()
