"""`annotator review`: flagged frames with scores and signals; reviewed frames leave the list."""
import json

import numpy as np
import pytest

from annotator.cli import main
from annotator.core.store import Project

H, W = 48, 64


def _square(x, y, s=12):
    m = np.zeros((H, W), bool)
    m[y:y + s, x:x + s] = True
    return m


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.annotator"
    (tmp_path / "clip.mp4").write_bytes(b"")  # not decodable: the colour signal is unknown, the rest is not
    with Project.create(path) as p:
        it = p.add_item(tmp_path / "clip.mp4", "video", W, H, num_frames=40, fps=24)
        for k, jumps in ((0, (12, 25)), (1, (30,))):
            t = p.add_track(it.id)
            p.set_mask(t.id, 0, _square(10 + 20 * k, 10), source="manual")
            for f in range(1, 40):
                x = 10 + 20 * k + (f % 3)  # a little jitter
                m = _square(x, 10 + (f % 2))
                if f in jumps:
                    m = _square(45 - 30 * k, 32, 8)  # lost for one frame: elsewhere and smaller
                p.set_mask(t.id, f, m, source="propagated")
    return path


@pytest.mark.parametrize("detector", ["rglasso", "threshold"])
def test_review_lists_flags_and_drops_reviewed(project, tmp_path, capsys, detector):
    out = tmp_path / "q.json"
    assert main(["review", str(project), "--detector", detector, "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["detector"] == detector and data["frames_scored"] == 80
    got = [(r["obj_id"], r["frame"]) for r in data["frames"]]
    # the lost frames and the ones after them (back in place: low IoU with the lost one) come first
    assert {(1, 12), (1, 25), (2, 30)} <= set(got[:6])
    assert (1, 0) not in got and (2, 0) not in got  # a person drew those
    if detector == "rglasso":  # (the threshold rule's default carries a loss forward for ~40 frames)
        assert len(got) < 78
    scores = [r["score"] for r in data["frames"]]
    assert scores == sorted(scores, reverse=True)
    row = next(r for r in data["frames"] if (r["obj_id"], r["frame"]) == (1, 12))
    assert row["signals"]["iou_prev"] == 0.0 and row["signals"]["hist_dist"] is None
    assert "flagged by " + detector in capsys.readouterr().out
    with Project.open(project) as p:
        t1 = p.tracks(p.items()[0].id)[0]
        p.mark_reviewed(t1.id, [12])
    assert main(["review", str(project), "--detector", detector, "--item", "1", "--json", str(out)]) == 0
    again = json.loads(out.read_text())
    left = [(r["obj_id"], r["frame"]) for r in again["frames"]]
    assert (1, 12) not in left and (1, 25) in left and again["reviewed_dropped"] == 1
    cut = float(np.median([r["score"] for r in data["frames"]]))  # a stricter threshold keeps the top
    assert main(["review", str(project), "--detector", detector, "--threshold", repr(cut), "--json", str(out)]) == 0
    strict = json.loads(out.read_text())
    want = {(r["obj_id"], r["frame"]) for r in data["frames"] if r["score"] > cut} - {(1, 12)}
    assert {(r["obj_id"], r["frame"]) for r in strict["frames"]} == want and strict["threshold"] == cut
    assert 0 < len(want) < len(got)


def test_review_bad_item_is_one_line(project, capsys):
    assert main(["review", str(project), "--item", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no media item 'nope'" in err and err.count("\n") == 1
