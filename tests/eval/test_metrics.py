"""J and F on hand-made masks whose values are worked out by hand (or by brute force)."""
import math

import numpy as np
import pytest

from annotator.eval.metrics import boundary_map, boundary_tolerance, disk, f_measure, j_measure


def square(shape, top, left, size):
    m = np.zeros(shape, bool)
    m[top : top + size, left : left + size] = True
    return m


def test_j_of_offset_squares():
    a = square((100, 100), 10, 10, 10)
    b = square((100, 100), 10, 12, 10)  # 2 px to the right: 80 shared, 120 in the union
    assert j_measure(a, b) == pytest.approx(80 / 120)
    assert j_measure(a, a) == 1.0
    assert j_measure(a, square((100, 100), 50, 50, 10)) == 0.0


def test_j_empty_cases_and_ignore():
    z = np.zeros((20, 20), bool)
    assert j_measure(z, z) == 1.0  # both empty: perfect, as in the toolkits
    assert j_measure(z, square((20, 20), 2, 2, 4)) == 0.0
    a = square((20, 20), 0, 0, 10)  # 100 px
    b = square((20, 20), 0, 0, 5)  # 25 px
    ignore = np.zeros((20, 20), bool)
    ignore[5:10, :] = True  # removes 50 px of `a` from both union and intersection
    assert j_measure(a, b, ignore) == pytest.approx(25 / 50)


def test_tolerance_radius_matches_davis():
    assert boundary_tolerance((480, 854)) == 8
    assert boundary_tolerance((1080, 1920)) == 18
    assert boundary_tolerance((100, 100)) == 2  # ceil(0.008 * 141.4) = ceil(1.13)
    d = disk(2)
    assert d.shape == (5, 5) and d.sum() == 13  # x^2 + y^2 <= 4


def test_boundary_map_hand_counted():
    # A 20x20 square at (10, 10): left outer column rows 9..29 (21 px), top outer row
    # cols 10..29 (20), right inner column (20), bottom inner row cols 10..28 (19) = 80.
    b = boundary_map(square((100, 100), 10, 10, 20))
    assert b.sum() == 80
    assert b[9, 9] and b[29, 29] and not b[30, 30]
    assert boundary_map(np.ones((10, 10), bool)).sum() == 0  # the image edge is no boundary


def _f_brute(pred, gt, r):
    """Reference F with explicit distance checks (no dilation), as defined by the toolkit."""
    bp, bg = boundary_map(pred), boundary_map(gt)
    P, G = np.argwhere(bp), np.argwhere(bg)

    def matched(src, dst):
        if len(dst) == 0:
            return 0
        return sum(1 for p in src if (((dst - p) ** 2).sum(1) <= r * r).any())

    prec = matched(P, G) / len(P)
    rec = matched(G, P) / len(G)
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)


def test_f_shift_within_tolerance_is_perfect():
    a = square((100, 100), 10, 10, 10)
    b = square((100, 100), 10, 12, 10)  # shift 2 px == tolerance 2 px
    assert f_measure(a, b) == 1.0
    assert j_measure(a, b) < 0.7


def test_f_shift_beyond_tolerance_hand_counted():
    # 20x20 squares, 5 px apart horizontally, tolerance 2 px. Of the GT's 80 boundary
    # pixels, 40 have a predicted boundary pixel within 2 px: none of the far column, 18 of
    # the top row, 5 of the near column (its two ends), 17 of the bottom row.
    gt = square((100, 100), 10, 10, 20)
    pred = square((100, 100), 10, 15, 20)
    r = boundary_tolerance(gt.shape)
    bp, bg = boundary_map(pred), boundary_map(gt)
    recall_hits = sum(1 for p in np.argwhere(bg) if (((np.argwhere(bp) - p) ** 2).sum(1) <= r * r).any())
    assert recall_hits == 40
    assert f_measure(pred, gt) == pytest.approx(_f_brute(pred, gt, r))
    assert 0.45 < f_measure(pred, gt) < 0.55


def test_f_random_blobs_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = np.zeros((60, 80), bool)
        b = np.zeros((60, 80), bool)
        for m in (a, b):
            for _ in range(3):
                y, x, s = rng.integers(0, 50), rng.integers(0, 70), rng.integers(4, 15)
                m[y : y + s, x : x + s] = True
        r = boundary_tolerance(a.shape)
        assert f_measure(a, b) == pytest.approx(_f_brute(a, b, r))


def test_f_edge_cases():
    z = np.zeros((30, 30), bool)
    s = square((30, 30), 5, 5, 10)
    assert f_measure(z, z) == 1.0
    assert f_measure(z, s) == 0.0  # nothing predicted
    assert f_measure(s, z) == 0.0  # something predicted where there is nothing
    far = square((30, 30), 18, 18, 10)
    assert f_measure(far, s) == 0.0
    assert math.isclose(f_measure(s, s), 1.0)
