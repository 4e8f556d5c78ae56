"""Suppression of duplicate masks: four pluggable methods, numpy/torch only (no torchvision).

    name     what it suppresses                                              cost
    greedy   box IoU > t with a kept, higher-scored box (torchvision's NMS,  sequential, O(n*kept)
             SAM's default; stable descending sort, strict '>')
    mask     the same greedy walk on mask IoU (pixel overlap, not boxes)     sequential, pixel work
    fast     YOLACT Fast NMS: IoU matrix, upper triangle, column max <= t    one matrix operation
             keeps; a box may be removed by one that was itself removed
             (the published relaxation); box or mask IoU
    noh      density-aware greedy (NOH-NMS / adaptive NMS idea): the          sequential
             threshold around a kept box rises with the evidence that a
             distinct object is nearby, so crowds keep their members

Every function returns the kept indices in output order (descending score). `MaskSet` gives
mask IoU over either COCO RLEs (pycocotools, memory-light) or dense boolean masks (torch,
one matrix product in pixel chunks).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

METHODS = ("greedy", "mask", "fast", "noh")


# --------------------------------------------------------------------------------- IoU


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n,4] x [m,4] XYXY -> float32 [n,m]; area (x2-x1)*(y2-y1) without +1 (torchvision)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_a[:, None] + area_b[None, :] - inter)


class MaskSet:
    """IoU between masks given as COCO RLE dicts (pycocotools) or a dense bool array [n,H,W]."""

    CHUNK = 1 << 16  # pixels per matrix-product slice: bounded memory for the dense path

    def __init__(self, masks) -> None:
        if isinstance(masks, (list, tuple)):
            self.rles = [_rle_bytes(r) for r in masks]
            self.dense = None
            self.n = len(self.rles)
        else:
            import torch

            m = masks if isinstance(masks, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(masks, bool))
            self.dense = m.reshape(m.shape[0], -1).to(torch.uint8)
            self.rles = None
            self.n = int(m.shape[0])
            self.areas = self.dense.sum(1, dtype=torch.float64).numpy()

    def __len__(self) -> int:
        return self.n

    def iou(self, rows: Sequence[int] | np.ndarray, cols: Sequence[int] | np.ndarray) -> np.ndarray:
        rows, cols = np.asarray(rows, np.int64).reshape(-1), np.asarray(cols, np.int64).reshape(-1)
        if len(rows) == 0 or len(cols) == 0:
            return np.zeros((len(rows), len(cols)), np.float64)
        if self.rles is not None:
            from pycocotools import mask as mu

            return np.asarray(mu.iou([self.rles[i] for i in cols], [self.rles[i] for i in rows],
                                     [0] * len(rows)), np.float64).reshape(len(cols), len(rows)).T
        import torch

        r, c = torch.from_numpy(rows), torch.from_numpy(cols)
        inter = torch.zeros(len(rows), len(cols), dtype=torch.float64)
        for s in range(0, self.dense.shape[1], self.CHUNK):
            sl = self.dense[:, s:s + self.CHUNK]
            inter += (sl[r].float() @ sl[c].float().t()).double()  # exact: counts < 2^24 per chunk
        inter = inter.numpy()
        union = self.areas[rows][:, None] + self.areas[cols][None, :] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)

    def iou_pairwise_loop(self, i: int, kept: Sequence[int]) -> list[float]:
        """IoU of mask i with each kept mask, one pair at a time (the classic sequential loop)."""
        if self.rles is not None:
            return [float(v) for v in self.iou([i], kept)[0]]
        if getattr(self, "_bool", None) is None:
            self._bool = self.dense.bool()
        mi = self._bool[i]
        out = []
        for j in kept:
            mj = self._bool[j]
            inter = int((mi & mj).sum())
            union = float(self.areas[i] + self.areas[j] - inter)
            out.append(inter / union if union > 0 else 0.0)
        return out


def _rle_bytes(r: dict) -> dict:
    counts = r["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    if isinstance(counts, list):
        from pycocotools import mask as mu

        return mu.frPyObjects({"size": list(r["size"]), "counts": counts}, *r["size"])
    return {"size": [int(r["size"][0]), int(r["size"][1])], "counts": counts}


# --------------------------------------------------------------------------- methods


def _order(scores: np.ndarray) -> np.ndarray:
    """Stable descending order (torchvision's CPU NMS sorts stably; ties keep input order)."""
    s = np.asarray(scores)
    return np.argsort(-s.astype(np.float64), kind="stable")


def greedy_box_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """torchvision `nms` semantics: float32 IoU, suppression only when IoU > threshold."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    order = _order(scores)
    b = boxes[order]
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    suppressed = np.zeros(n, bool)
    keep = []
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(order[i])
        rest = np.arange(i + 1, n)[~suppressed[i + 1:]]
        if not len(rest):
            continue
        w = np.clip(np.minimum(b[i, 2], b[rest, 2]) - np.maximum(b[i, 0], b[rest, 0]), 0, None)
        h = np.clip(np.minimum(b[i, 3], b[rest, 3]) - np.maximum(b[i, 1], b[rest, 1]), 0, None)
        inter = (w * h).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            ovr = inter / (area[i] + area[rest] - inter)
        # the kernel compares its float IoU with the double threshold
        suppressed[rest[ovr.astype(np.float64) > iou_threshold]] = True
    return np.asarray(keep, np.int64)


def greedy_mask_nms(masks: MaskSet, scores: np.ndarray, iou_threshold: float, pairwise: bool = False) -> np.ndarray:
    """Greedy NMS on mask IoU. pairwise=True compares each candidate with every kept mask one
    pair at a time (the textbook loop, used as the timing baseline); the default computes
    one IoU row per kept mask."""
    order = _order(scores)
    n = len(order)
    keep: list[int] = []
    if pairwise:
        for i in order:
            ious = masks.iou_pairwise_loop(int(i), keep)
            if not any(v > iou_threshold for v in ious):
                keep.append(int(i))
        return np.asarray(keep, np.int64)
    suppressed = np.zeros(n, bool)
    for k in range(n):
        if suppressed[k]:
            continue
        keep.append(int(order[k]))
        rest = np.arange(k + 1, n)[~suppressed[k + 1:]]
        if len(rest):
            ov = masks.iou([order[k]], order[rest])[0]
            suppressed[rest[ov > iou_threshold]] = True
    return np.asarray(keep, np.int64)


def fast_nms(scores: np.ndarray, iou_threshold: float, *, boxes: np.ndarray | None = None,
             masks: MaskSet | None = None, top_k: int | None = None) -> np.ndarray:
    """YOLACT's Fast NMS for one class: sort, IoU matrix (boxes, or masks when given), keep a
    candidate when its largest IoU with any higher-ranked candidate is <= threshold, whether
    or not that one survived. Kept indices in descending score order."""
    order = _order(scores)
    if top_k is not None:
        order = order[:top_k]
    if len(order) == 0:
        return order.astype(np.int64)
    iou = masks.iou(order, order) if masks is not None else box_iou(boxes[order], boxes[order])
    iou = np.triu(iou, k=1)
    return order[iou.max(axis=0) <= iou_threshold].astype(np.int64)


def noh_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, masks: MaskSet | None = None,
            distinct_mask_iou: float = 0.5, max_threshold: float = 0.95) -> np.ndarray:
    """Density-aware greedy NMS in the spirit of NOH-NMS (Zhou et al. 2020) and adaptive NMS
    (Liu et al. 2019), without their learned heads: the density around candidate i is the
    largest box IoU between i and a candidate whose mask is a different object (mask IoU <
    `distinct_mask_iou`; without masks, box IoU < threshold stands in). A kept box M then
    suppresses j only when box IoU(M, j) > max(threshold, density(M)) and, with masks, the
    masks themselves also overlap by more than the threshold -- so two people whose boxes
    overlap heavily both stay, while true duplicates still go."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    if n == 0:
        return np.zeros(0, np.int64)
    order = _order(scores)
    biou = box_iou(boxes, boxes).astype(np.float64)
    np.fill_diagonal(biou, 0.0)
    cand = np.flatnonzero(biou.max(axis=1) > iou_threshold) if masks is not None else None
    if masks is not None:
        miou = np.zeros((n, n))
        if len(cand):
            miou[np.ix_(cand, cand)] = masks.iou(cand, cand)
        distinct = miou < distinct_mask_iou
    else:
        distinct = biou < iou_threshold
    density = np.where(distinct, biou, 0.0).max(axis=1)
    thr = np.minimum(np.maximum(iou_threshold, density), max_threshold)
    suppressed = np.zeros(n, bool)
    keep = []
    for k in range(n):
        i = order[k]
        if suppressed[i]:
            continue
        keep.append(int(i))
        rest = order[k + 1:]
        rest = rest[~suppressed[rest]]
        hit = biou[i, rest] > thr[i]
        if masks is not None:
            hit &= miou[i, rest] > iou_threshold
        suppressed[rest[hit]] = True
    return np.asarray(keep, np.int64)


def suppress(method: str, boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
             rles: list[dict] | None = None) -> np.ndarray:
    """Dispatch by name (the generators' `nms` option). Mask-based methods need `rles`."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if method == "greedy":
        return greedy_box_nms(boxes, scores, iou_threshold)
    if method in ("mask", "fast", "fast-mask", "noh") and rles is None and method != "fast":
        raise ValueError(f"nms {method!r} needs the masks")
    if method == "mask":
        return greedy_mask_nms(MaskSet(rles), scores, iou_threshold)
    if method == "fast":
        return fast_nms(scores, iou_threshold, boxes=boxes)
    if method == "fast-mask":
        return fast_nms(scores, iou_threshold, masks=MaskSet(rles))
    if method == "noh":
        return noh_nms(boxes, scores, iou_threshold, MaskSet(rles))
    raise ValueError(f"nms must be one of {METHODS + ('fast-mask',)}, not {method!r}")


# ----------------------------------------------------------- YOLACT's multi-class form


def yolact_fast_nms(boxes, scores, iou_threshold: float = 0.5, top_k: int = 200,
                    max_num_detections: int = 100, cross_class: bool = False):
    """YOLACT `Detect.fast_nms` / `cc_fast_nms` on torch tensors: boxes [n,4] point form,
    scores [C,n] class-major. Uses `Tensor.sort(descending=True)` as YOLACT does (not stable:
    the tie order is torch's), so results match the official ones bit for bit.
    Returns (index [k] into the n detections, classes [k], scores [k])."""
    import torch

    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    scores = torch.as_tensor(scores, dtype=torch.float32)
    if cross_class:
        best, classes = scores.max(dim=0)
        _, idx = best.sort(0, descending=True)
        idx = idx[:top_k]
        iou = _jaccard(boxes[idx], boxes[idx]).triu_(diagonal=1)
        keep = iou.max(dim=0)[0] <= iou_threshold
        out = idx[keep]
        return out, classes[out], best[out]
    s, idx = scores.sort(1, descending=True)
    idx, s = idx[:, :top_k].contiguous(), s[:, :top_k]
    c, k = idx.shape
    b = boxes[idx.reshape(-1)].reshape(c, k, 4)
    iou = _jaccard(b, b).triu_(diagonal=1)
    keep = iou.max(dim=1)[0] <= iou_threshold
    cls = torch.arange(c)[:, None].expand_as(keep)[keep]
    det, s = idx[keep], s[keep]
    s, order = s.sort(0, descending=True)
    order, s = order[:max_num_detections], s[:max_num_detections]
    return det[order], cls[order], s


def _jaccard(a, b):
    """Batched box IoU in float32 (no +1): a [..., n, 4], b [..., m, 4] -> [..., n, m]."""
    import torch

    lo = torch.max(a[..., :, None, :2], b[..., None, :, :2])
    hi = torch.min(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (hi - lo).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]))[..., :, None]
    area_b = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))[..., None, :]
    return inter / (area_a + area_b - inter)
