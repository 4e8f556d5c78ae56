"""The robot user on synthetic masks (RITM rules: padded EDT, strict >, row-major ties)."""
import numpy as np

from annotator.eval.clicker import Click, clicks_to_arrays, next_click


def test_first_click_is_the_centre():
    gt = np.zeros((40, 50), bool)
    gt[10:20, 10:20] = True  # 10x10: four centre pixels tie, row-major picks (14, 14)
    c = next_click(gt, None)
    assert c == Click(14, 14, True)


def test_image_border_counts_as_boundary():
    gt = np.zeros((60, 60), bool)
    gt[0:30, 0:30] = True
    c = next_click(gt, None)
    assert (c.y, c.x) == (14, 14)  # not (0, 0): the padding makes the border a boundary


def test_negative_click_in_the_larger_false_region():
    gt = np.zeros((100, 100), bool)
    gt[10:30, 10:30] = True
    pred = gt.copy()
    pred[50:90, 50:90] = True  # 40x40 spill, larger than any miss
    pred[10:14, 10:30] = False  # a thin miss
    c = next_click(gt, pred)
    assert not c.positive
    assert 50 <= c.y < 90 and 50 <= c.x < 90


def test_thin_long_miss_loses_to_a_compact_one():
    gt = np.zeros((120, 220), bool)
    gt[5:11, 10:200] = True  # 6x190 = 1140 px
    gt[60:90, 60:90] = True  # 30x30 = 900 px, but a larger inscribed disk
    c = next_click(gt, np.zeros_like(gt))
    assert c.positive and 60 <= c.y < 90 and 60 <= c.x < 90


def test_tie_between_miss_and_spill_is_negative():
    gt = np.zeros((40, 40), bool)
    gt[5:15, 5:15] = True
    pred = np.zeros_like(gt)
    pred[25:35, 25:35] = True  # equal-size spill: d_fn == d_fp
    c = next_click(gt, pred)
    assert c.positive is False


def test_never_the_same_pixel_twice_and_done_when_perfect():
    gt = np.zeros((30, 30), bool)
    gt[10:13, 10:13] = True  # 3x3: single best pixel (11, 11)
    first = next_click(gt, None)
    assert (first.y, first.x) == (11, 11)
    second = next_click(gt, None, [first])
    assert (second.y, second.x) != (11, 11)
    assert next_click(gt, gt.copy()) is None


def test_ignore_pixels_are_never_errors():
    gt = np.zeros((30, 30), bool)
    pred = np.zeros_like(gt)
    pred[0:20, 0:20] = True
    ignore = pred.copy()
    assert next_click(gt, pred, ignore=ignore) is None


def test_clicks_to_arrays_are_xy():
    pts, lbl = clicks_to_arrays([Click(3, 7, True), Click(5, 1, False)])
    assert pts.tolist() == [[7.0, 3.0], [1.0, 5.0]]
    assert lbl.tolist() == [1, 0]
