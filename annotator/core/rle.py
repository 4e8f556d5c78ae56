"""Binary masks <-> COCO RLE (pycocotools), plus area, bbox and polygons.

Every mask in the project is stored as compressed COCO RLE with `counts` as an ASCII
string, the form COCO, SA-V and YouTube-VIS files use.
"""
from __future__ import annotations

import numpy as np
from pycocotools import mask as _mask


def encode(mask: np.ndarray) -> dict:
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    r = _mask.encode(m)
    return {"size": [int(r["size"][0]), int(r["size"][1])], "counts": r["counts"].decode("ascii")}


def _compressed(r: dict) -> dict:
    counts = r["counts"]
    h, w = (int(v) for v in r["size"])
    if isinstance(counts, list):  # uncompressed RLE (column-major run lengths)
        return _mask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [h, w], "counts": counts}


def counts_total(s: str) -> int:
    """Sum of the run lengths in a compressed counts string (the COCO 5-bit varint codec with
    delta coding), vectorised. pycocotools does not validate: a corrupt string decodes to garbage
    or crashes, so we check the runs are non-negative and add up to h*w before trusting it."""
    c = np.frombuffer(s.encode("ascii"), np.uint8).astype(np.int64) - 48
    if c.size == 0:
        return 0
    if c.min() < 0 or c.max() > 63:
        raise ValueError("character outside the codec")
    last = (c & 0x20) == 0                       # a group without the "more" bit ends a number
    if not last[-1]:
        raise ValueError("truncated run")
    tok = np.concatenate(([0], np.cumsum(last)[:-1]))   # which number each group belongs to
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    k = np.arange(c.size) - starts[tok]          # group position within its number
    if k.max() > 11:
        raise ValueError("run length too large")
    vals = np.zeros(int(tok[-1]) + 1, np.int64)
    np.add.at(vals, tok, (c & 0x1F) << (5 * k))
    neg = last & ((c & 0x10) != 0)               # sign bit on the final group
    vals[tok[neg]] -= np.left_shift(1, 5 * (k[neg] + 1))
    # delta coding: run i > 2 is stored as cnt[i] - cnt[i-2]
    runs = vals.copy()
    if runs.size > 3:
        runs[3::2] = np.cumsum(vals[3::2]) + vals[1]
        runs[4::2] = np.cumsum(vals[4::2]) + vals[2]
    if (runs < 0).any():
        raise ValueError("negative run")
    return int(runs.sum())


def check(r: dict, h: int, w: int) -> str | None:
    """Why a stored RLE does not fit an h x w frame (None when it does): its size, or
    compressed counts that do not cover exactly h*w pixels (a damaged string)."""
    rh, rw = (int(v) for v in r["size"])
    if (rh, rw) != (int(h), int(w)):
        return f"its RLE is {rw}x{rh} but the media is {w}x{h}"
    counts = r["counts"]
    if isinstance(counts, str):
        try:
            total = counts_total(counts) if counts.isascii() else -1
        except ValueError as e:
            return f"its RLE counts are corrupt ({e})"
        if total != rh * rw:
            return f"its RLE counts cover {total} pixels, not {rh}x{rw}"
    return None


def union(rles: list[dict]) -> dict:
    """The pixels of any of `rles` (same size), computed on the runs, no full mask needed."""
    if len(rles) == 1:
        return rles[0]
    merged = _mask.merge([_compressed(r) for r in rles], intersect=0)
    return {"size": [int(merged["size"][0]), int(merged["size"][1])], "counts": merged["counts"].decode("ascii")}


def decode(r: dict) -> np.ndarray:
    return _mask.decode(_compressed(r)).astype(bool)


def area(r: dict) -> int:
    return int(_mask.area(_compressed(r)))


def bbox(r: dict) -> list[float]:
    """COCO [x, y, w, h] of the mask (all zeros for an empty mask)."""
    return [float(v) for v in _mask.toBbox(_compressed(r))]


def is_empty(r: dict) -> bool:
    return area(r) == 0


def size(r: dict) -> tuple[int, int]:
    h, w = r["size"]
    return int(h), int(w)


def from_polygons(polys: list[list[float]], h: int, w: int) -> dict:
    """Rasterise COCO polygons ([x0, y0, x1, y1, ...] each) the way pycocotools does."""
    polys = [list(map(float, p)) for p in polys if len(p) >= 6]
    if not polys:
        return encode(np.zeros((h, w), bool))
    merged = _mask.merge(_mask.frPyObjects(polys, h, w))
    return {"size": [h, w], "counts": merged["counts"].decode("ascii")}


def to_polygons(mask: np.ndarray, tolerance: float = 1.0) -> list[list[float]]:
    """Outer contours (and holes as separate rings are lost: polygons cannot carry them
    faithfully in COCO/labelme), simplified with Douglas-Peucker at `tolerance` pixels."""
    import cv2

    m = np.ascontiguousarray(np.asarray(mask, dtype=np.uint8))
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        if tolerance > 0:
            c = cv2.approxPolyDP(c, tolerance, True)
        pts = c.reshape(-1, 2).astype(float)
        if len(pts) >= 3:
            polys.append([float(v) for v in pts.reshape(-1)])
    return polys
