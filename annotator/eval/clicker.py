"""The standard robot user of interactive segmentation (RITM / SimpleClick / BRS).

Each click goes to the pixel farthest (Euclidean distance transform) from the
boundary of the error regions: the missed object pixels (FN) give a positive click,
the spilled background pixels (FP) a negative one, whichever has the larger inscribed
distance (a tie is negative). The image border counts as boundary (1-pixel zero pad),
already-clicked pixels are never chosen again, and ties go to the first pixel in
row-major order. See docs/FORMATS.md section 5.2.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Click:
    y: int
    x: int
    positive: bool


def _padded_dt(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask.astype(np.uint8), 1)
    dt = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dt[1:-1, 1:-1]


def next_click(
    gt: np.ndarray,
    pred: np.ndarray | None,
    clicks: list[Click] | tuple[Click, ...] = (),
    ignore: np.ndarray | None = None,
) -> Click | None:
    """Return the next simulated click, or None when prediction and GT already agree."""
    g = np.asarray(gt, bool)
    p = np.zeros_like(g) if pred is None else np.asarray(pred, bool)
    valid = np.ones_like(g) if ignore is None else ~np.asarray(ignore, bool)
    fn = g & ~p & valid
    fp = ~g & p & valid
    dt_fn = _padded_dt(fn)
    dt_fp = _padded_dt(fp)
    for c in clicks:  # never click the same pixel twice
        dt_fn[c.y, c.x] = 0
        dt_fp[c.y, c.x] = 0
    d_fn = float(dt_fn.max())
    d_fp = float(dt_fp.max())
    if d_fn == 0 and d_fp == 0:
        return None
    positive = d_fn > d_fp
    dt = dt_fn if positive else dt_fp
    ys, xs = np.nonzero(dt == dt.max())  # row-major order: first hit is the tie-break winner
    return Click(int(ys[0]), int(xs[0]), positive)


def clicks_to_arrays(clicks: list[Click]) -> tuple[np.ndarray, np.ndarray]:
    """Clicks as the engines take them: points float [n, 2] (x, y), labels int [n]."""
    pts = np.array([[c.x, c.y] for c in clicks], np.float32).reshape(-1, 2)
    lbl = np.array([1 if c.positive else 0 for c in clicks], np.int32)
    return pts, lbl
