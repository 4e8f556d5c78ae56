"""Suppression methods: each does what its definition says, on cases built to tell them apart."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.core.rle import encode
from annotator.everything.nms import (MaskSet, box_iou, fast_nms, greedy_box_nms, greedy_mask_nms, noh_nms,
                                      suppress)


def _scalar_nms(boxes, scores, t):
    """The textbook loop, one pair at a time (reference for greedy_box_nms)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable
    keep = []
    for i in order:
        if all(box_iou(boxes[i:i + 1], boxes[j:j + 1])[0, 0] <= t for j in keep):
            keep.append(i)
    return keep


def _boxes(rng, n):
    xy = rng.uniform(0, 80, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    return np.concatenate([xy, xy + wh], 1).astype(np.float32)


def test_greedy_box_nms_equals_textbook_loop_ties_included():
    rng = np.random.default_rng(0)
    for case in range(40):
        b = _boxes(rng, 30)
        s = rng.integers(0, 4, 30).astype(np.float32) if case % 2 else rng.random(30).astype(np.float32)
        for t in (0.3, 0.7):
            assert greedy_box_nms(b, s, t).tolist() == _scalar_nms(b, s, t)


def test_threshold_one_suppresses_nothing_identical_boxes_included():
    b = np.tile(np.array([[0, 0, 10, 10]], np.float32), (5, 1))
    s = np.array([0.1, 0.5, 0.3, 0.5, 0.2], np.float32)
    assert greedy_box_nms(b, s, 1.0).tolist() == [1, 3, 2, 4, 0]  # all kept, stable order
    assert greedy_box_nms(b, s, 0.99).tolist() == [1]


def test_fast_nms_keeps_a_subset_of_greedy_and_differs_only_on_chains():
    # A > B > C: A-B overlap, B-C overlap, A-C do not. Greedy keeps A and C (B is gone so it
    # cannot remove C); Fast NMS also removes C (B, itself removed, still counts).
    b = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [12, 0, 22, 10]], np.float32)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    assert greedy_box_nms(b, s, 0.2).tolist() == [0, 2]
    assert fast_nms(s, 0.2, boxes=b).tolist() == [0]
    rng = np.random.default_rng(1)
    for _ in range(20):
        bb, ss = _boxes(rng, 40), rng.random(40).astype(np.float32)
        g, f = set(greedy_box_nms(bb, ss, 0.5).tolist()), set(fast_nms(ss, 0.5, boxes=bb).tolist())
        assert f <= g
        # every extra greedy survivor overlaps some higher-scored candidate that greedy removed
        for j in g - f:
            higher = [i for i in range(40) if ss[i] > ss[j] and box_iou(bb[i:i + 1], bb[j:j + 1])[0, 0] > 0.5]
            assert higher and not set(higher) & g


def _disc(h, w, cx, cy, r):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_mask_iou_rle_and_dense_agree_and_mask_nms_uses_pixels():
    h, w = 60, 80
    m = np.stack([_disc(h, w, 20, 30, 12), _disc(h, w, 22, 30, 12), _disc(h, w, 60, 30, 10),
                  np.zeros((h, w), bool)])
    dense, rle = MaskSet(m), MaskSet([encode(x) for x in m])
    a, b = dense.iou(range(4), range(4)), rle.iou(range(4), range(4))
    assert np.allclose(a, b) and a[0, 1] > 0.8 and a[0, 2] == 0 and a[3, 3] == 0
    s = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    assert greedy_mask_nms(dense, s, 0.5).tolist() == [0, 2, 3]
    assert greedy_mask_nms(dense, s, 0.5, pairwise=True).tolist() == [0, 2, 3]
    assert fast_nms(s, 0.5, masks=rle).tolist() == [0, 2, 3]


def test_noh_keeps_a_crowd_that_greedy_merges():
    # two people side by side: boxes overlap a lot, masks do not; plus a true duplicate of #0
    h, w = 100, 100
    left = np.zeros((h, w), bool)
    left[10:90, 20:50] = True
    right = np.zeros((h, w), bool)
    right[10:90, 45:75] = True
    left[10:20, 20:75] = True  # an arm across: the boxes of both become nearly the same
    right[80:90, 20:75] = True
    dup = left.copy()
    dup[85:90, 20:30] = True
    masks = [left, right, dup]
    boxes = np.array([[20, 10, 74, 89], [20, 10, 74, 89], [20, 10, 74, 89]], np.float32)
    s = np.array([0.9, 0.8, 0.7], np.float32)
    assert greedy_box_nms(boxes, s, 0.7).tolist() == [0]
    keep = noh_nms(boxes, s, 0.7, MaskSet([encode(m) for m in masks]))
    assert keep.tolist() == [0, 1]  # the neighbour stays, the duplicate goes
    assert suppress("noh", boxes, s, 0.7, [encode(m) for m in masks]).tolist() == [0, 1]
    with pytest.raises(ValueError):
        suppress("mask", boxes, s, 0.7)
