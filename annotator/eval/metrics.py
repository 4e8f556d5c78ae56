"""DAVIS region (J) and boundary (F) measures, computed as the DAVIS toolkits do.

J is the IoU of two boolean masks (1.0 when both are empty). F matches one-pixel
boundary maps within a disk of radius ceil(0.008 * image diagonal) (8 px at 854x480)
and returns the harmonic mean of boundary precision and recall. See
docs/FORMATS.md section 1.5 for the edge cases reproduced here.
"""
from __future__ import annotations

import math

import cv2
import numpy as np


def j_measure(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """Region similarity (IoU); pixels under `ignore` count for neither mask."""
    p = np.asarray(pred, bool)
    g = np.asarray(gt, bool)
    if ignore is not None:
        keep = ~np.asarray(ignore, bool)
        p = p & keep
        g = g & keep
    inter = np.count_nonzero(p & g)
    union = np.count_nonzero(p | g)
    if union == 0:
        return 1.0
    return inter / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary: a pixel differs from its right, lower or lower-right neighbour.

    Pixels past the image edge copy the edge, so the image border never makes a boundary
    (an all-ones mask has none), as in the toolkits' seg2bmap.
    """
    seg = np.asarray(mask, bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def boundary_tolerance(shape: tuple[int, int], fraction: float = 0.008) -> int:
    """Radius in pixels of the boundary match: ceil(fraction * diagonal)."""
    return int(math.ceil(fraction * math.hypot(shape[0], shape[1])))


def disk(radius: int) -> np.ndarray:
    """Structuring element with x^2 + y^2 <= r^2 (same footprint as skimage.morphology.disk)."""
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return ((xx * xx + yy * yy) <= r * r).astype(np.uint8)


def f_measure(pred: np.ndarray, gt: np.ndarray, fraction: float = 0.008) -> float:
    """Boundary F-measure with the DAVIS tolerance."""
    p = np.asarray(pred, bool)
    g = np.asarray(gt, bool)
    if p.shape != g.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {g.shape}")
    se = disk(boundary_tolerance(p.shape, fraction))
    bp = boundary_map(p)
    bg = boundary_map(g)
    n_p = int(np.count_nonzero(bp))
    n_g = int(np.count_nonzero(bg))
    if n_p == 0 and n_g > 0:
        precision, recall = 1.0, 0.0
    elif n_p > 0 and n_g == 0:
        precision, recall = 0.0, 1.0
    elif n_p == 0 and n_g == 0:
        precision, recall = 1.0, 1.0
    else:
        dil_p = cv2.dilate(bp.astype(np.uint8), se) > 0
        dil_g = cv2.dilate(bg.astype(np.uint8), se) > 0
        precision = np.count_nonzero(bp & dil_g) / n_p
        recall = np.count_nonzero(bg & dil_p) / n_g
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)
