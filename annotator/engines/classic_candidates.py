"""Alternative masks for an ambiguous prompt (the M key, multimask=True) in the classic engine.

One click says little about how much of the scene is meant: the part under it, the
object, or the object with what it holds. The candidates are cuts at several guessed
extents (the object's inscribed radius times a few factors) plus the flat colour region
under the click. They are ranked by how well their outline follows image edges (mean
gradient magnitude along the boundary, relative to the image's typical gradient): a
cut through a flat area scores low, one along the object's contour high. Candidates that
overlap an earlier one by IoU >= 0.9 are dropped, so what is offered really differs.
"""
from __future__ import annotations

import cv2
import numpy as np


def gradient_magnitude(bgr: np.ndarray) -> np.ndarray:
    """Colour gradient magnitude (max over channels of smoothed Sobel), float32, scaled so
    that the image's 97th percentile is 1 (a strong edge)."""
    blur = cv2.GaussianBlur(bgr, (5, 5), 1.0).astype(np.float32)
    gx = cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy).max(axis=2)
    ref = float(np.percentile(mag[::4, ::4], 97)) or 1.0
    return mag / ref


def edge_score(mask: np.ndarray, grad: np.ndarray) -> float:
    """0..1: mean relative gradient along the mask's outline (image border excluded), each
    pixel capped at 1 so a few very strong edges cannot carry a cut through flat areas."""
    m = mask.astype(np.uint8)
    if not m.any() or m.all():
        return 0.0
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = False
    if not edge.any():
        return 0.0
    return float(np.minimum(grad[edge], 1.0).mean())


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / u) if u else 1.0


def distinct(cands: list, max_iou: float = 0.9) -> list:
    """Keep candidates (mask, score, name) in order, dropping any that overlaps a kept one
    by IoU >= max_iou, and empty masks."""
    kept: list = []
    for c in cands:
        if not c[0].any():
            continue
        if all(iou(c[0], k[0]) < max_iou for k in kept):
            kept.append(c)
    return kept
