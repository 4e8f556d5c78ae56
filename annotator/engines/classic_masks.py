"""Mask helpers shared by the classic engine's image and video parts: logits
conversion, boxes, hole filling and stray-blob removal."""
from __future__ import annotations

import hashlib

import cv2
import numpy as np

LOWRES = 256
_GC_BGD, _GC_FGD, _GC_PR_BGD, _GC_PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD


# ----------------------------------------------------------------------------- helpers
def mask_to_logits(mask: np.ndarray) -> np.ndarray:
    """A bool mask as 256x256 pseudo-logits (+-10), the protocol's mask_input currency."""
    m = cv2.resize(mask.astype(np.float32), (LOWRES, LOWRES), interpolation=cv2.INTER_AREA)
    return ((m - 0.5) * 20.0).astype(np.float32)


def logits_to_mask(logits: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    lg = np.asarray(logits, np.float32)
    while lg.ndim > 2:
        lg = lg[0]
    return cv2.resize(lg, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) > 0


def _scaled(w: int, h: int, s: float) -> tuple[int, int]:
    """cv2 dsize of a w x h image scaled by s, never 0 wide or high (a 1x20000 strip)."""
    return max(1, int(round(w * s))), max(1, int(round(h * s)))


def _key(arr: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(arr).view(np.uint8).reshape(-1), digest_size=16).digest()


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _union_box(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _expand(box, margin_frac: float, margin_min: int, w: int, h: int):
    x0, y0, x1, y1 = box
    mx = max(margin_min, int(margin_frac * (x1 - x0)))
    my = max(margin_min, int(margin_frac * (y1 - y0)))
    return max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)


def fill_small_holes(mask: np.ndarray, max_frac: float = 0.01, min_px: int = 64, keep: list | None = None) -> np.ndarray:
    """Fill background holes enclosed by the mask that are small next to it (noise, glints),
    except holes that contain a point in `keep` (a negative click put it there)."""
    m = mask.astype(np.uint8)
    inv = (1 - m).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 1:
        return mask
    limit = max(min_px, max_frac * int(m.sum()))
    h, w = m.shape
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])).tolist())
    protect = {int(lab[int(y), int(x)]) for x, y in (keep or []) if 0 <= y < h and 0 <= x < w}
    fill = [i for i in range(1, n) if i not in border and i not in protect and stats[i, cv2.CC_STAT_AREA] <= limit]
    if not fill:
        return mask
    out = mask.copy()
    out[np.isin(lab, fill)] = True
    return out


def keep_components(mask: np.ndarray, seeds: list, prior: np.ndarray | None = None, min_overlap: float = 0.5) -> np.ndarray:
    """Keep the connected parts that hold a positive click, or that mostly lie on the
    prior mask (parts the user accepted before); drop stray blobs elsewhere."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    h, w = mask.shape
    keep = {int(lab[int(y), int(x)]) for x, y in seeds if 0 <= y < h and 0 <= x < w} - {0}
    if prior is not None and prior.any():
        counts = np.bincount(lab.ravel(), minlength=n)
        on_prior = np.bincount(lab[prior].ravel(), minlength=n)
        keep |= {i for i in range(1, n) if on_prior[i] >= min_overlap * counts[i]}
    if not keep:
        counts = np.bincount(lab.ravel(), minlength=n)
        counts[0] = 0
        keep = {int(counts.argmax())}
    return np.isin(lab, list(keep))
