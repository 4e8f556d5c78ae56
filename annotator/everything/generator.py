"""SAM's automatic mask generator ("grid") and TinySAM's hierarchical one, over any image
session that offers `set_image`, `predict_points` and `upsample_logits` (the SAM1 heads and
the SAM 2 image path; `PromptAdapter` gives other sessions the same surface).

Behaviour follows the official SamAutomaticMaskGenerator and
SamHierarchicalMaskGenerator.hierarchical_generate (../shared/parity/everything/README.md §5):
point grid per crop layer, batches of points_per_batch prompts, IoU and stability filters,
edge filter, suppression inside each crop then across crops (smaller crops preferred), and
optional small-region clean-up. Output records: COCO RLE with bbox (XYWH), area,
predicted_iou, stability_score, point_coords and crop_box.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable

import numpy as np

from annotator.everything import grid as _grid
from annotator.everything.masks import (Cancelled, Candidate, Stats, area, decode, encode_uncropped, mask_box,
                                        process_batch, remove_small_regions)
from annotator.everything.nms import METHODS, greedy_box_nms, suppress

MODES = ("grid", "hierarchical")


@dataclass
class Options:
    """Official option names; defaults are the official ones (SAM's AMG, TinySAM's 8.5)."""

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0
    high_score_thresh: float = 8.5  # hierarchical: logit that marks a pixel as covered
    nms: str = "greedy"  # greedy | mask | fast | noh (nms.py)

    @classmethod
    def from_dict(cls, d: dict, **over) -> "Options":
        """Take the known keys (a fixture's `options`, a settings dict); ignore the others
        (output_mode, point_grids)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in dict(d, **over).items() if k in names and v is not None}
        opts = cls(**kw)
        if opts.nms not in METHODS and opts.nms != "fast-mask":
            raise ValueError(f"nms must be one of {', '.join(METHODS)}, not {opts.nms!r}")
        if opts.points_per_side < 1 or opts.points_per_batch < 1:
            raise ValueError("points_per_side and points_per_batch must be positive")
        return opts


ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]


def _stream(session, points_px, crop_box, image_hw, opts, stats, *, crop=0, stage=0, coverage=None,
            progress=None, cancel=None, done=0, total=0) -> list[Candidate]:
    out: list[Candidate] = []
    bs = opts.points_per_batch
    for s in range(0, len(points_px), bs):
        if cancel is not None and cancel():
            raise Cancelled()
        out += process_batch(session, points_px[s:s + bs], crop_box, image_hw, opts, stats,
                             crop=crop, stage=stage, src_offset=3 * s, coverage=coverage)
        if progress is not None:
            progress(done + min(s + bs, len(points_px)), total)
    return out


def _suppress(cands: list[Candidate], scores: np.ndarray, thresh: float, method: str) -> list[Candidate]:
    if not cands:
        return []
    boxes = np.stack([c.box for c in cands]).astype(np.float32)
    rles = [c.rle for c in cands] if method != "greedy" else None
    keep = suppress(method, boxes, scores, thresh, rles)
    return [cands[i] for i in keep]


def _encoder_runs(session) -> int:
    return int(getattr(session, "encoder_runs", 0))


def generate_grid(session, rgb: np.ndarray, opts: Options, *, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, stats: Stats | None = None,
                  trace: dict | None = None) -> list[dict]:
    """SAM's automatic mask generator. The session is left set to the last crop."""
    per_crop, boxes = grid_candidates(session, rgb, opts, progress=progress, cancel=cancel, stats=stats)
    if trace is not None:
        trace.update(per_crop=per_crop, crop_boxes=boxes)
    return finish_grid(per_crop, boxes, opts, stats=stats)


def grid_candidates(session, rgb: np.ndarray, opts: Options, *, progress: ProgressFn | None = None,
                    cancel: CancelFn | None = None, stats: Stats | None = None):
    """Phase 1 (all the model work): the filtered candidates of every crop, crop frame.
    Returns (list per crop of Candidate lists, XYXY crop boxes)."""
    stats = stats if stats is not None else Stats()
    rgb = np.asarray(rgb)
    h, w = rgb.shape[:2]
    boxes, layers = _grid.crop_boxes(h, w, opts.crop_n_layers, opts.crop_overlap_ratio)
    grids = _grid.layer_grids(opts.points_per_side, opts.crop_n_layers, opts.crop_n_points_downscale_factor)
    total = sum(len(grids[li]) for li in layers)
    done = 0
    enc0 = _encoder_runs(session)
    per_crop = []
    for ci, (cb, li) in enumerate(zip(boxes, layers)):
        x0, y0, x1, y1 = cb
        session.set_image(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
        pts = grids[li] * np.array([[x1 - x0, y1 - y0]], np.float64)
        cands = _stream(session, pts, cb, (h, w), opts, stats, crop=ci, progress=progress, cancel=cancel,
                        done=done, total=total)
        done += len(pts)
        stats.per_pass.append({"crop": ci, "crop_box": list(cb), "points": len(pts), "filtered": len(cands)})
        per_crop.append(cands)
    stats.encoder_runs += _encoder_runs(session) - enc0
    return per_crop, boxes


def finish_grid(per_crop: list[list[Candidate]], boxes: list, opts: Options, stats: Stats | None = None) -> list[dict]:
    """Phase 2: suppression inside each crop (score = predicted IoU, crop frame), uncrop,
    suppression across crops (score = 1 / crop area: smaller crops win, ties keep crop
    order), optional small-region clean-up, records. Candidates are not modified."""
    all_c: list[Candidate] = []
    for ci, cands in enumerate(per_crop):
        cands = _suppress(cands, np.array([c.iou for c in cands], np.float32), opts.box_nms_thresh, opts.nms)
        x0, y0 = boxes[ci][0], boxes[ci][1]
        off = np.array([x0, y0, x0, y0], np.int64)
        all_c += [replace(c, box=c.box + off, point=c.point + (x0, y0)) for c in cands]
        if stats is not None and ci < len(stats.per_pass):
            stats.per_pass[ci]["kept"] = len(cands)
    if len(boxes) > 1 and all_c:
        ca = np.array([(boxes[c.crop][2] - boxes[c.crop][0]) * (boxes[c.crop][3] - boxes[c.crop][1])
                       for c in all_c], np.float32)
        all_c = _suppress(all_c, np.float32(1.0) / ca, opts.crop_nms_thresh, opts.nms)
    if opts.min_mask_region_area > 0:
        all_c = clean_small_regions(all_c, opts.min_mask_region_area, max(opts.box_nms_thresh, opts.crop_nms_thresh))
    return [record(c, boxes[c.crop]) for c in all_c]


def hierarchical_candidates(sparse_px: np.ndarray, coverage: np.ndarray, h: int, w: int,
                            points_per_side: int) -> np.ndarray:
    """TinySAM's second-pass points: around every first-pass point, the 15 offsets of a 4x4
    sub-grid at stride (w // pps, h // pps), skipped where the coverage map (HxW, [y, x])
    is set. Normalised to [0, 1] like the official point grid."""
    hs, ws = h // points_per_side, w // points_per_side
    out = []

    def add(x, y):
        if not coverage[int(y), int(x)]:
            out.append((x / w, y / h))

    for x, y in sparse_px:
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                if dx or dy:
                    add(x + ws * dx, y + hs * dy)
        right, down = x + ws * 2 < w, y + hs * 2 < h
        if right:
            for dy in (-1, 0, 1):
                add(x + ws * 2, y + hs * dy)
        if down:
            for dx in (-1, 0, 1):
                add(x + ws * dx, y + hs * 2)
        if right and down:
            add(x + ws * 2, y + hs * 2)
    return np.asarray(out, np.float64).reshape(-1, 2)


def generate_hierarchical(session, rgb: np.ndarray, opts: Options, *, progress: ProgressFn | None = None,
                          cancel: CancelFn | None = None, stats: Stats | None = None,
                          trace: dict | None = None) -> list[dict]:
    """TinySAM's hierarchical everything: a sparse grid (points_per_side // 4) first, then a
    dense pass only at points the first pass's confident masks (logit > high_score_thresh)
    left uncovered; one final suppression over dense then sparse survivors. No crops."""
    if opts.points_per_side < 4:
        raise ValueError("hierarchical mode needs points_per_side >= 4 (its first pass uses a quarter of it)")
    stats = stats if stats is not None else Stats()
    rgb = np.asarray(rgb)
    h, w = rgb.shape[:2]
    enc0 = _encoder_runs(session)
    session.set_image(rgb)
    cb = [0, 0, w, h]
    sparse_px = _grid.point_grid(opts.points_per_side // 4) * np.array([[w, h]], np.float64)
    coverage = np.zeros((h, w), bool)
    # the dense count is known only after the first pass: report against the worst case
    total = len(sparse_px) * 16
    sparse = _stream(session, sparse_px, cb, (h, w), opts, stats, stage=0, coverage=coverage,
                     progress=progress, cancel=cancel, done=0, total=total)
    dense_grid = hierarchical_candidates(sparse_px, coverage, h, w, opts.points_per_side)
    dense_px = dense_grid * np.array([[w, h]], np.float64)
    total = len(sparse_px) + len(dense_px)
    dense = _stream(session, dense_px, cb, (h, w), opts, stats, stage=1, progress=progress, cancel=cancel,
                    done=len(sparse_px), total=total)
    stats.per_pass += [{"stage": "sparse", "points": len(sparse_px), "kept": len(sparse)},
                       {"stage": "dense", "points": len(dense_px), "kept": len(dense)}]
    if trace is not None:
        trace.update(coverage=coverage, dense_grid=dense_grid, sparse=sparse, dense=dense)
    cands = dense + sparse
    cands = _suppress(cands, np.array([c.iou for c in cands], np.float32), opts.box_nms_thresh, opts.nms)
    stats.encoder_runs += _encoder_runs(session) - enc0
    if opts.min_mask_region_area > 0:
        cands = clean_small_regions(cands, opts.min_mask_region_area, max(opts.box_nms_thresh, opts.crop_nms_thresh))
    return [record(c, cb) for c in cands]


def generate(session, rgb: np.ndarray, opts: Options, mode: str = "grid", **kw) -> list[dict]:
    if mode == "grid":
        return generate_grid(session, rgb, opts, **kw)
    if mode == "hierarchical":
        return generate_hierarchical(session, rgb, opts, **kw)
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


def clean_small_regions(cands: list[Candidate], min_area: int, nms_thresh: float) -> list[Candidate]:
    """Fill small holes, drop small islands; masks that needed it rank below untouched ones
    in one more box NMS (so a cleaned duplicate does not replace a clean mask)."""
    if not cands:
        return cands
    masks, scores = [], []
    for c in cands:
        m = decode(c.rle)
        m, ch1 = remove_small_regions(m, min_area, "holes")
        m, ch2 = remove_small_regions(m, min_area, "islands")
        masks.append(m)
        scores.append(0.0 if (ch1 or ch2) else 1.0)
    boxes = np.stack([mask_box(m) for m in masks]).astype(np.float32)
    keep = greedy_box_nms(boxes, np.asarray(scores, np.float32), nms_thresh)
    out = []
    for i in keep:
        c = cands[i]
        if scores[i] == 0.0:
            h, w = masks[i].shape
            c = replace(c, rle=encode_uncropped(masks[i], [0, 0, w, h], (h, w)), box=boxes[i].astype(np.int64))
        out.append(c)
    return out


def record(c: Candidate, crop_box) -> dict:
    x0, y0, x1, y1 = (int(v) for v in crop_box)
    b = [int(v) for v in c.box]
    return {
        "segmentation": {"size": [int(c.rle["size"][0]), int(c.rle["size"][1])],
                         "counts": c.rle["counts"].decode("ascii") if isinstance(c.rle["counts"], bytes)
                         else c.rle["counts"]},
        "area": area(c.rle),
        "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
        "predicted_iou": float(c.iou),
        "point_coords": [[float(c.point[0]), float(c.point[1])]],
        "stability_score": float(c.stability),
        "crop_box": [x0, y0, x1 - x0, y1 - y0],
        "stage": int(c.stage),
    }
