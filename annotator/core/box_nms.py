"""Greedy box non-maximum suppression (numpy, no torch): the duplicate rule for masks found
from prompts (text prompts; one home for it until a shared mask-NMS lands)."""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of XYXY boxes a [n,4] against b [m,4] -> [n,m]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_nms(boxes, scores, iou_threshold: float = 0.7) -> list[int]:
    """Indices kept, best score first: a box is dropped when it overlaps a kept, higher-scoring
    box by more than `iou_threshold` (ties keep the earlier index)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if keep and (box_iou(boxes[i], boxes[keep])[0] > iou_threshold).any():
            continue
        keep.append(i)
    return keep
