"""Automatic stop: an object lost for N frames stops (and is said to), the others go on."""
import json

import numpy as np
from PIL import Image

from annotator.cli import main
from annotator.core.rle import area
from annotator.review.lost import AutoStop, LostRule, LostWatch

H, W = 96, 128


def _clip(tmp_path, n=16, gone=8):
    """A red disc that vanishes at frame `gone` and a blue one that stays, on a noisy grey ground."""
    rng = np.random.default_rng(0)
    bg = rng.normal(110, 12, (H, W, 3)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:H, 0:W]
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(n):
        im = bg.copy()
        if i < gone:
            im[(xx - (30 + 2 * i)) ** 2 + (yy - 40) ** 2 < 144] = (210, 40, 40)
        im[(xx - 95) ** 2 + (yy - (60 - i)) ** 2 < 121] = (40, 60, 220)
        Image.fromarray(im).save(folder / f"{i:05d}.png")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "obj_id": 1, "box": [16, 26, 44, 54]},
                                   {"frame": 0, "obj_id": 2, "box": [82, 47, 108, 73]}]))
    return folder, prompts


def test_propagate_stops_a_lost_object(tmp_path, capsys):
    folder, prompts = _clip(tmp_path)
    out = tmp_path / "out.sav.json"
    assert main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out),
                 "--stop-lost", "3", "-q"]) == 0
    err = capsys.readouterr().err
    assert "object 1 stopped forward at frame 10: lost for 3 frames (8-10" in err
    assert "object 2 stopped" not in err
    areas = [[area(r) for r in row] for row in json.loads(out.read_text())["masklet"]]
    assert all(a[0] > 200 for a in areas[:8]) and all(a[0] == 0 for a in areas[8:])
    assert all(a[1] > 200 for a in areas)
    assert main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out),
                 "--stop-lost", "-1", "-q"]) == 2


class _Scripted:
    """A session stand-in that replays given masks (to test the stop logic, not an engine)."""

    def __init__(self, frames):
        self.frames = frames
        self.removed = []

    def remove_object(self, oid):
        self.removed.append(oid)


def test_both_directions_are_watched_apart():
    ref = np.zeros((H, W), bool)
    ref[20:40, 20:40] = True
    empty = np.zeros((H, W), bool)
    rgb = np.full((H, W, 3), 100, np.uint8)
    session = _Scripted(None)
    stop = AutoStop(session, lambda f: rgb, start=5, direction="both", rule=LostRule(frames=2))
    stop.add_reference(1, 5, ref)
    seq = [(5, ref), (6, empty), (7, empty), (8, ref), (4, ref), (3, empty), (2, empty), (1, ref)]
    kept, stops = [], []
    for t, m in seq:
        k, s = stop.step(t, {1: m})
        kept.append((t, 1 in k))
        stops += s
    # forward: lost at 6-7, stopped at 7, frame 8 skipped; backward watched afresh, stopped at 2
    assert kept == [(5, True), (6, True), (7, False), (8, False), (4, True), (3, True), (2, False), (1, False)]
    assert [(o, lost) for o, lost, _ in stops] == [(1, [6, 7]), (1, [3, 2])]
    assert "stopped backward at frame 2" in stops[1][2]
    assert session.removed == [1]  # only once the last pass gave up on it


def test_watch_resets_on_a_good_frame():
    w = LostWatch(LostRule(frames=3))
    lost = {"log_area": 0.0}
    ok = {"log_area": 9.0, "log_area_ref": 0.0, "hist_dist": 0.1}
    assert [w.update(f, s) for f, s in enumerate([lost, lost, ok, lost, lost])] == [None] * 5
    assert w.update(5, lost) == "empty mask" and w.run == [3, 4, 5]
