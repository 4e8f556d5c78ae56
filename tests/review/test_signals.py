"""Drift signals: values on hand-made masks, and the store round trip with staleness digests."""
import math

import numpy as np
import pytest

from annotator.core.store import Project
from annotator.review.signals import NAMES, TrackSignals, compute_item_signals, track_signals

H, W = 60, 80


def _rect(x0, y0, x1, y1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_signals_of_a_moving_square():
    rgb = np.full((H, W, 3), 40, np.uint8)
    rgb[10:30, 10:50] = (200, 30, 30)  # red object on grey
    a = _rect(10, 10, 30, 30)  # 20x20 on red
    b = _rect(20, 10, 40, 30)  # moved 10 px right, still on red
    c = _rect(0, 40, 20, 60) | _rect(60, 40, 80, 60)  # two parts on grey, touching the border
    sig = track_signals({0: a, 1: b, 2: c}, frame_rgb=lambda f: rgb)
    s0, s1, s2 = sig[0], sig[1], sig[2]
    assert set(s0) == set(NAMES)
    assert s0["log_area"] == pytest.approx(math.log1p(400))
    assert math.isnan(s0["iou_prev"]) and math.isnan(s0["centroid_step"])  # nothing before frame 0
    assert s0["hist_dist"] == pytest.approx(0.0, abs=1e-6)  # the reference itself
    assert s1["iou_prev"] == pytest.approx(200 / 600)
    assert s1["centroid_step"] == pytest.approx(10 / 20)
    assert s1["hist_dist"] < 0.05 and s1["log_area_ref"] == pytest.approx(0.0)
    assert s0["components"] == 1 and s2["components"] == 2
    assert s0["border_frac"] == 0.0
    # each 20x20 part has 76 boundary pixels; 20 + 20 of them on the image's left/bottom or right/bottom edge
    assert s2["border_frac"] == pytest.approx(78 / 152)
    assert s2["iou_prev"] == 0.0
    assert s2["hist_dist"] > 0.9  # grey pixels: nothing like the red reference
    assert s1["boundary_ratio"] == pytest.approx(76 / 20)
    assert math.isnan(s0["pred_iou"]) and math.isnan(s0["object_score"])


def test_flow_iou_tells_a_mask_that_moves_with_the_picture_from_one_that_does_not():
    rng = np.random.default_rng(3)
    h, w = 120, 160
    texture = (rng.random((h, w + 40)) * 255).astype(np.uint8)
    texture = np.asarray(np.dstack([texture] * 3))
    frame = lambda dx: np.ascontiguousarray(texture[:, 20 - dx:20 - dx + w])  # the picture shifts right by dx
    box = lambda x0: _box(h, w, x0, 40, x0 + 40, 80)
    both = track_signals({0: box(50), 1: box(56)}, frame_rgb=lambda f: frame(6 * f))
    stuck = track_signals({0: box(50), 1: box(50)}, frame_rgb=lambda f: frame(6 * f))
    # the mask that followed the picture overlaps its flow-carried predecessor almost fully; the
    # one that stayed put overlaps its own previous mask fully but not where the flow says it went
    assert both[1]["iou_flow"] > 0.8 and both[1]["iou_prev"] < 0.8
    assert stuck[1]["iou_prev"] == 1.0 and stuck[1]["iou_flow"] < 0.8
    assert math.isnan(both[0]["iou_flow"])  # nothing before frame 0
    assert math.isnan(track_signals({0: box(50), 1: box(56)})[1]["iou_flow"])  # no frames given


def _box(h, w, x0, y0, x1, y1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def test_empty_mask_and_gaps():
    ts = TrackSignals()
    a = _rect(10, 10, 30, 30)
    ts.add_reference(0, a, None)
    ts.push(0, a)
    empty = ts.push(1, np.zeros((H, W), bool), pred_iou=0.2)
    assert empty["log_area"] == 0.0 and empty["log_area_ref"] == pytest.approx(-math.log1p(400))
    assert empty["iou_prev"] == 0.0 and empty["components"] == 0 and empty["hist_dist"] == 1.0
    assert empty["pred_iou"] == pytest.approx(0.2)
    both_empty = ts.push(2, np.zeros((H, W), bool))
    assert both_empty["iou_prev"] == 1.0
    after_gap = ts.push(5, a)  # frames 3-4 have no mask: no "previous" to compare with
    assert math.isnan(after_gap["iou_prev"])


def test_store_round_trip_and_staleness(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    try:
        (tmp_path / "v.mp4").write_bytes(b"")  # no decodable media: the colour signal is unknown
        it = p.add_item(tmp_path / "v.mp4", "video", W, H, num_frames=6, fps=24)
        t = p.add_track(it.id)
        p.set_mask(t.id, 0, _rect(10, 10, 30, 30), source="manual")
        for f in range(1, 5):
            p.set_mask(t.id, f, _rect(10 + f, 10, 30 + f, 30), source="propagated", score=0.9)
        assert compute_item_signals(p, it.id) == {t.id: 5}
        stored = p.signals(t.id)
        assert sorted(stored) == [0, 1, 2, 3, 4]
        assert stored[2]["iou_prev"] == pytest.approx(19 * 20 / (21 * 20), rel=1e-6)
        assert stored[3]["pred_iou"] == pytest.approx(0.9) and math.isnan(stored[3]["hist_dist"])
        assert compute_item_signals(p, it.id) == {t.id: 0}  # nothing changed: nothing recomputed
        p.set_mask(t.id, 2, _rect(40, 30, 60, 50), source="propagated")  # frame 2 jumps
        assert compute_item_signals(p, it.id) == {t.id: 2}  # frame 2 and its follower 3
        stored = p.signals(t.id)
        assert stored[2]["iou_prev"] == 0.0 and stored[3]["iou_prev"] == 0.0
        assert stored[4]["iou_prev"] > 0.9
        p.delete_masks(t.id, 4, 4)
        compute_item_signals(p, it.id)
        assert sorted(p.signals(t.id)) == [0, 1, 2, 3]  # rows of a deleted mask go too
        assert compute_item_signals(p, it.id, force=True) == {t.id: 4}
    finally:
        p.close()
