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
