"""app/review.py, the queue the window shows: computed on a read-only connection (rows to store
handed back), the same flags as `annotator review`, reviewed / corrected frames hidden at once
and back on undo, frame-order stepping, rank colours and the reasons in words."""
import numpy as np
import pytest

from annotator.app import review
from annotator.core.store import Project
from annotator.review.queue import review_queue

H, W = 48, 64


def _square(x, y, s=12):
    m = np.zeros((H, W), bool)
    m[y:y + s, x:x + s] = True
    return m


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.annotator"
    (tmp_path / "clip.mp4").write_bytes(b"")  # not decodable: no colour signal, the rest is there
    p = Project.create(path)
    it = p.add_item(tmp_path / "clip.mp4", "video", W, H, num_frames=40, fps=24)
    for k, jumps in ((0, (12, 25)), (1, (30,))):
        t = p.add_track(it.id)
        p.set_mask(t.id, 0, _square(10 + 20 * k, 10), source="manual")
        for f in range(1, 40):
            m = _square(10 + 20 * k + (f % 3), 10 + (f % 2))
            if f in jumps:
                m = _square(45 - 30 * k, 32, 8)  # lost for one frame
            p.set_mask(t.id, f, m, source="propagated")
    yield p
    p.close()


def _keys(flags):
    return [(f.obj_id, f.frame) for f in flags]


def test_compute_reads_only_and_matches_the_cli_queue(project):
    item = project.items()[0]
    t1, t2 = project.tracks(item.id)
    iq = review.compute(project.path, item.id)
    assert iq.scored == 80 and iq.detector == "rglasso"
    assert {(1, 12), (1, 25), (2, 30)} <= set(_keys(iq.flags[:6]))
    assert (1, 0) not in _keys(iq.flags) and (2, 0) not in _keys(iq.flags)
    assert project.signal_digests(t1.id) == {}  # nothing written by the read-only side
    assert sum(len(u.values) for u in iq.updates.values()) == 80
    same = review_queue(project, [item.id], keep_reviewed=True)  # the CLI path stores, then scores
    assert _keys(same.flags) == _keys(iq.flags)
    assert [f.score for f in same.flags] == pytest.approx([f.score for f in iq.flags])

    assert review.store_signals(project, iq) == 80 and iq.updates == {}
    again = review.compute(project.path, item.id)
    assert sum(len(u.values) for u in again.updates.values()) == 0  # all fresh now
    assert _keys(again.flags) == _keys(iq.flags)

    # one propagated mask changes: only it and its follower are recomputed
    project.set_mask(t2.id, 20, _square(32, 12), source="propagated")
    upd = review.compute(project.path, item.id).updates
    assert sorted(upd[t2.id].values) == [20, 21] and upd[t1.id].values == {}


def test_visible_hides_reviewed_and_corrected_frames_and_undo_brings_them_back(project):
    item = project.items()[0]
    t1, t2 = project.tracks(item.id)
    iq = review.compute(project.path, item.id)
    assert (1, 12) in _keys(review.visible(project, iq))
    project.mark_reviewed(t1.id, 12)
    shown = review.visible(project, iq)
    assert (1, 12) not in _keys(shown) and len(shown) == len(iq.flags) - 1
    project.undo()
    assert (1, 12) in _keys(review.visible(project, iq))

    project.set_mask(t1.id, 25, _square(10, 10), source="manual")  # a correction is a person's frame
    assert (1, 25) not in _keys(review.visible(project, iq))
    project.delete_track(t2.id)
    assert all(f.obj_id == 1 for f in review.visible(project, iq))
    assert review.visible(project, None) == []

    # recomputed, a reviewed flag is kept (marked) so that undoing the mark shows it again
    project.undo()  # the object comes back
    project.mark_reviewed(t2.id, 30)
    iq = review.compute(project.path, item.id)
    (f30,) = [f for f in iq.flags if (f.obj_id, f.frame) == (2, 30)]
    assert f30.reviewed and (2, 30) not in _keys(review.visible(project, iq))
    plain = review_queue(project, [item.id])
    assert (2, 30) not in _keys(plain.flags) and plain.reviewed_dropped >= 1


def test_step_severity_and_reasons(project):
    item = project.items()[0]
    iq = review.compute(project.path, item.id)
    shown = review.visible(project, iq)
    order = sorted(_keys(shown), key=lambda k: (k[1], k[0]))
    first = review.step(shown, 0, None, 1)
    assert (first.obj_id, first.frame) == order[0]
    nxt = review.step(shown, first.frame, first.obj_id, 1)
    assert (nxt.obj_id, nxt.frame) == order[1]
    back = review.step(shown, nxt.frame, nxt.obj_id, -1)
    assert (back.obj_id, back.frame) == order[0]
    assert review.step(shown, order[0][1], order[0][0], -1) is None
    assert review.step(shown, order[-1][1], order[-1][0], 1) is None

    sev = review.severity(shown)
    assert sev[(shown[0].track_id, shown[0].frame)] == 1.0  # the highest score
    assert sev[(shown[-1].track_id, shown[-1].frame)] == 0.0
    assert review.severity(shown[:1]) == {(shown[0].track_id, shown[0].frame): 1.0}

    lost = next(f for f in shown if (f.obj_id, f.frame) == (1, 12))
    names = [n for n, _ in lost.reasons]
    assert "iou_loss" in names and all(z >= 2.0 for _, z in lost.reasons)
    assert "little overlap with the previous frame" in review.reasons_text(lost)
