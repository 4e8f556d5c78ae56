"""Box prompts for the classic engine: GrabCut candidates inside a drawn box, and a
score of how well a mask fills the box it was drawn for.

A drawn box is tight around the object: the object touches (or nearly touches) all
four sides and fills a fair part of it. A GrabCut run whose foreground model locked
onto one distinctive part (a ball held by a dog, a logo on a truck) gives a small
blob touching none of the sides; the fill score ranks such a candidate last.

Candidates differ in how the inside of the box is seeded: as published (everything
"probably object"), with a border prior (a ring just inside the box "probably
background", so the colour models start from a cleaner object sample), and with a
centre-weighted prior (an ellipse at the centre as hard object, for boxes where the
background fills the corners). Each runs in BGR and, as a second colour model, in Lab.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

_GC_BGD, _GC_FGD, _GC_PR_BGD, _GC_PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD

SEEDINGS = ("plain", "centre", "border")
RUNS = (("plain", "bgr"), ("centre", "bgr"), ("plain", "lab"))


def box_trimap(shape: tuple[int, int], box: tuple[int, int, int, int], seeding: str) -> np.ndarray:
    """GrabCut trimap over a region of `shape` with the box (region coordinates) seeded."""
    tri = np.full(shape, _GC_BGD, np.uint8)
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    tri[y0:y1, x0:x1] = _GC_PR_FGD
    if seeding == "border" and bw > 8 and bh > 8:
        # A ring a few percent of the box wide: mostly background in a tight box.
        rx, ry = max(1, int(0.08 * bw)), max(1, int(0.08 * bh))
        inner = tri[y0 + ry : y1 - ry, x0 + rx : x1 - rx].copy()
        tri[y0:y1, x0:x1] = _GC_PR_BGD
        tri[y0 + ry : y1 - ry, x0 + rx : x1 - rx] = inner
    elif seeding == "centre" and bw > 8 and bh > 8:
        core = np.zeros(shape, np.uint8)
        cv2.ellipse(core, ((x0 + x1) // 2, (y0 + y1) // 2), (max(1, bw // 8), max(1, bh // 8)), 0, 0, 360, 1, -1)
        tri[core > 0] = _GC_FGD
    return tri


def fill_score(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """0..1: how well `mask` fills a tight box (full-image coordinates). Half of it is
    the share of the box's four sides the mask reaches (within 6% of the box size),
    half the area ratio (best between 30% and 90% of the box; a mask equal to the box
    is as suspicious as a dot)."""
    x0, y0, x1, y1 = box
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    sub = mask[y0:y1, x0:x1]
    area = float(sub.sum())
    if area == 0:
        return 0.0
    ys, xs = np.nonzero(sub)
    tx, ty = max(2, 0.06 * bw), max(2, 0.06 * bh)
    sides = int(xs.min() <= tx) + int(xs.max() >= bw - 1 - tx) + int(ys.min() <= ty) + int(ys.max() >= bh - 1 - ty)
    ratio = area / (bw * bh)
    if ratio < 0.3:
        fill = ratio / 0.3
    elif ratio <= 0.9:
        fill = 1.0
    else:
        fill = max(0.0, 1.0 - (ratio - 0.9) / 0.1 * 0.5)
    outside = float(mask.sum()) - area  # a box mask should not spill out of its box
    spill = outside / max(1.0, float(mask.sum()))
    return float(0.5 * sides / 4 + 0.5 * fill) * (1.0 - spill)


def grabcut_region(bgr: np.ndarray, tri: np.ndarray, work_pixels: int, iterations: int) -> np.ndarray:
    """GrabCut on `bgr` with trimap `tri`, downscaled to at most `work_pixels`; bool result
    at the input size, hard labels kept."""
    ch, cw = tri.shape
    s = min(1.0, math.sqrt(work_pixels / max(1, ch * cw)))
    if s < 1.0:
        sw, sh = max(8, int(round(cw * s))), max(8, int(round(ch * s)))
        img = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
        t = cv2.resize(tri, (sw, sh), interpolation=cv2.INTER_NEAREST)
        fgd = cv2.resize((tri == _GC_FGD).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
        t[fgd] = _GC_FGD
    else:
        img, t = bgr, tri.copy()
    fg_any = np.isin(t, (_GC_FGD, _GC_PR_FGD))
    bg_any = np.isin(t, (_GC_BGD, _GC_PR_BGD))
    if fg_any.sum() < 2 or bg_any.sum() < 2 or not np.isin(t, (_GC_PR_FGD, _GC_PR_BGD)).any():
        res = fg_any
    else:
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.setRNGSeed(0)  # GMM k-means init draws from the global RNG: same input, same mask
            cv2.grabCut(img, t, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
            res = (t == _GC_FGD) | (t == _GC_PR_FGD)
        except cv2.error:  # too few pixels of one class for the GMMs
            res = fg_any
    if s < 1.0:
        out = cv2.resize(res.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR) > 0.5
        out |= tri == _GC_FGD
        out &= tri != _GC_BGD
        return out
    return res


def largest_parts(mask: np.ndarray, min_share: float = 0.15) -> np.ndarray:
    """Keep the connected parts at least `min_share` the size of the largest (drops specks
    without dropping a second limb or a part cut off by a thin occluder)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    sizes = stats[1:, cv2.CC_STAT_AREA]
    keep = [i + 1 for i, a in enumerate(sizes) if a >= min_share * sizes.max()]
    return np.isin(lab, keep)


def box_candidates(bgr: np.ndarray, box, work_pixels: int, iterations: int, runs=RUNS, margin: float = 0.2):
    """[(mask, fill score, name)] of GrabCut runs for `box` (x0, y0, x1, y1 ints, in bgr's
    coordinates), best first. runs: (seeding, colour space) pairs. The region is the box
    plus a margin of background (this fraction of the box size: the background sample)."""
    h, w = bgr.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = max(16, int(margin * (x1 - x0))), max(16, int(margin * (y1 - y0)))
    rx0, ry0, rx1, ry1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    region = np.ascontiguousarray(bgr[ry0:ry1, rx0:rx1])
    images = {"bgr": region}
    inner_box = (x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0)
    out = []
    for seeding, space in runs:
        if space not in images:
            images[space] = cv2.cvtColor(region, cv2.COLOR_BGR2LAB)
        tri = box_trimap(region.shape[:2], inner_box, seeding)
        m = np.zeros((h, w), bool)
        m[ry0:ry1, rx0:rx1] = largest_parts(grabcut_region(images[space], tri, work_pixels, iterations))
        out.append((m, fill_score(m, box), f"box-{seeding}-{space}"))
    out.sort(key=lambda t: -t[1])
    return out
