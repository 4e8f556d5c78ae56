"""Per-batch mask work shared by both generators: score filters, boxes, edge filter, RLE.

A batch of point prompts goes through the decoder once; its low-res logits are upsampled
one mask at a time (only for masks that passed the predicted-IoU filter), so memory stays at
one image-sized float map per mask instead of points_per_batch * 3 of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as _mu


class Cancelled(Exception):
    """Raised inside a generator when its `cancel` callback says stop."""


@dataclass
class Candidate:
    """One mask that survived the per-batch filters (boxes in the frame named)."""

    rle: dict  # COCO RLE over the full image, counts as bytes (pycocotools form)
    box: np.ndarray  # int64 XYXY, inclusive max, crop frame until uncropped
    iou: np.float32
    stability: np.float32
    point: np.ndarray  # float64 (x, y), crop frame until uncropped
    crop: int = 0
    stage: int = 0  # hierarchical: 0 sparse, 1 dense
    src: int = 0  # flat index point*3 + token within its pass


@dataclass
class Stats:
    decoder_calls: int = 0  # batched decoder invocations
    points: int = 0  # point prompts decoded
    upsampled: int = 0  # masks brought to full resolution
    candidates: int = 0  # masks that passed every per-batch filter
    encoder_runs: int = 0
    per_pass: list = field(default_factory=list)


def stability(logits: np.ndarray, threshold: float, offset: float) -> np.float32:
    """|logits > t+o| / |logits > t-o| as float32 (NaN when the looser mask is empty, as
    the official integer division gives)."""
    inter = np.count_nonzero(logits > np.float32(threshold + offset))
    union = np.count_nonzero(logits > np.float32(threshold - offset))
    if union == 0:
        return np.float32("nan")
    return np.float32(inter) / np.float32(union)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Inclusive XYXY box of the foreground; [0,0,0,0] for an empty mask."""
    cols = np.flatnonzero(mask.any(axis=0))
    if not len(cols):
        return np.zeros(4, np.int64)
    rows = np.flatnonzero(mask.any(axis=1))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.int64)


def near_crop_edge(box: np.ndarray, crop_box, image_hw: tuple[int, int], atol: float = 20.0) -> bool:
    """True when the (crop-frame) box lies within atol of a crop edge that is not an image
    edge (compares the inclusive max with the exclusive crop end, as the official code)."""
    x0, y0 = crop_box[0], crop_box[1]
    b = box.astype(np.float32) + np.array([x0, y0, x0, y0], np.float32)
    cb = np.asarray(crop_box, np.float32)
    ib = np.array([0, 0, image_hw[1], image_hw[0]], np.float32)
    near_crop = np.abs(b - cb) <= atol
    near_img = np.abs(b - ib) <= atol
    return bool(np.any(near_crop & ~near_img))


def encode_uncropped(mask: np.ndarray, crop_box, image_hw: tuple[int, int]) -> dict:
    h, w = image_hw
    x0, y0, x1, y1 = crop_box
    if (x0, y0, x1, y1) == (0, 0, w, h):
        full = np.asfortranarray(mask, dtype=np.uint8)
    else:
        full = np.zeros((h, w), np.uint8, order="F")
        full[y0:y1, x0:x1] = mask
    return _mu.encode(full)


def decode(rle: dict) -> np.ndarray:
    return _mu.decode(rle).astype(bool)


def area(rle: dict) -> int:
    return int(_mu.area(rle))


def process_batch(session, points_px: np.ndarray, crop_box, image_hw, opts, stats: Stats, *,
                  crop: int = 0, stage: int = 0, src_offset: int = 0,
                  coverage: np.ndarray | None = None) -> list[Candidate]:
    """Decode one batch of single-click prompts (crop-frame pixels) and keep the masks that
    pass: predicted IoU > pred_iou_thresh, stability >= stability_score_thresh, not cut by an
    inner crop edge. With `coverage` (bool HxW of the crop), pixels whose logit exceeds
    opts.high_score_thresh are OR-ed into it (TinySAM's first pass)."""
    low, iou = session.predict_points(points_px)
    stats.decoder_calls += 1
    stats.points += len(points_px)
    k = low.shape[1]
    low = low.reshape(-1, *low.shape[-2:])
    iou = np.asarray(iou, np.float32).reshape(-1)  # torch (models) or numpy (PromptAdapter)
    idx = np.arange(len(iou))
    if opts.pred_iou_thresh > 0.0:
        idx = idx[iou > np.float32(opts.pred_iou_thresh)]
    out = []
    for i in idx:
        logits = session.upsample_logits(low[i:i + 1])[0]
        stats.upsampled += 1
        st = stability(logits, 0.0, opts.stability_score_offset)
        if opts.stability_score_thresh > 0.0 and not st >= np.float32(opts.stability_score_thresh):
            continue
        m = logits > 0.0
        box = mask_box(m)
        if near_crop_edge(box, crop_box, image_hw):
            continue
        if coverage is not None:
            np.logical_or(coverage, logits > np.float32(opts.high_score_thresh), out=coverage)
        out.append(Candidate(rle=encode_uncropped(m, crop_box, image_hw), box=box, iou=iou[i], stability=st,
                             point=np.asarray(points_px[i // k], np.float64), crop=crop, stage=stage,
                             src=src_offset + int(i)))
    stats.candidates += len(out)
    return out


def remove_small_regions(mask: np.ndarray, min_area: int, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes ("holes") or drop islands ("islands") smaller than min_area (8-connected);
    when every island is small, the largest stays. Returns (mask, changed)."""
    import cv2

    holes = mode == "holes"
    work = (mask ^ holes).astype(np.uint8)
    n, labels, st, _ = cv2.connectedComponentsWithStats(work, connectivity=8)
    sizes = st[1:, cv2.CC_STAT_AREA]
    small = [i + 1 for i, s in enumerate(sizes) if s < min_area]
    if not small:
        return mask, False
    if holes:
        return np.isin(labels, [0] + small), True  # label 0 of the inverted mask = the foreground
    big = [i for i in range(1, n) if i not in small]
    if not big:
        big = [int(np.argmax(sizes)) + 1]
    return np.isin(labels, big), True
