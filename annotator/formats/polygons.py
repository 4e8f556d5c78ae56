"""Masks -> polygons that rasterise back to the same pixels.

A pixel (x, y) covers the square [x, x+1) x [y, y+1) (the COCO convention). Tracing the
boundary along pixel *edges* gives rectilinear polygons with integer corners, which
pycocotools rasterises back to exactly the same pixels; contour tracers that return pixel
centres (OpenCV) lose half a pixel on every side instead. Holes cannot be expressed (COCO and
labelme union all parts), so a mask with holes comes back filled: use RLE for those.

`tolerance > 0` additionally simplifies each ring with Douglas-Peucker (smaller files, no
longer exact).
"""
from __future__ import annotations

import numpy as np

# Directions as (dx, dy) in image coordinates (y down).
_RIGHT, _DOWN, _LEFT, _UP = (1, 0), (0, 1), (-1, 0), (0, -1)
_TURN_RIGHT = {_RIGHT: _DOWN, _DOWN: _LEFT, _LEFT: _UP, _UP: _RIGHT}
_TURN_LEFT = {v: k for k, v in _TURN_RIGHT.items()}


def _edges(m: np.ndarray) -> dict[tuple[int, int], list[tuple[int, int]]]:
    """Directed boundary edges with the inside on the right-hand side (clockwise outer rings
    on screen), keyed by start corner."""
    p = np.pad(m, 1)
    out: dict[tuple[int, int], list[tuple[int, int]]] = {}
    # Horizontal edges on the line y between rows y-1 and y (padded rows y and y+1).
    dh = p[1:, 1:-1].astype(np.int8) - p[:-1, 1:-1].astype(np.int8)  # +1: inside below
    ys, xs = np.nonzero(dh)
    for y, x, s in zip(ys.tolist(), xs.tolist(), dh[ys, xs].tolist()):
        if s < 0:   # inside above the line: walk left
            out.setdefault((x + 1, y), []).append(_LEFT)
        else:       # inside below: walk right (facing +x with y down, the right-hand side is below)
            out.setdefault((x, y), []).append(_RIGHT)
    dv = p[1:-1, 1:].astype(np.int8) - p[1:-1, :-1].astype(np.int8)  # +1: inside to the right
    ys, xs = np.nonzero(dv)
    for y, x, s in zip(ys.tolist(), xs.tolist(), dv[ys, xs].tolist()):
        if s > 0:   # inside right of the line x: walk up
            out.setdefault((x, y + 1), []).append(_UP)
        else:       # inside left: walk down
            out.setdefault((x, y), []).append(_DOWN)
    return out


def _trace(edges) -> list[list[tuple[int, int]]]:
    rings = []
    while edges:
        # Start where only one edge leaves, so a ring that touches itself at a corner is not
        # closed early at that corner.
        start = next((k for k, v in edges.items() if len(v) == 1), None) or next(iter(edges))
        ring = []
        pos, d = start, None
        while True:
            outs = edges.get(pos)
            if not outs:
                break
            if d is None or len(outs) == 1:
                nd = outs[0]
            else:
                # Two regions touching only at this corner: turn towards the inside (right) so
                # 8-connected neighbours become separate rings instead of a figure eight.
                nd = _TURN_RIGHT[d] if _TURN_RIGHT[d] in outs else outs[0]
            outs.remove(nd)
            if not outs:
                del edges[pos]
            if nd != d:
                ring.append(pos)
            d = nd
            pos = (pos[0] + nd[0], pos[1] + nd[1])
            if pos == start:
                break
        if len(ring) >= 3:
            rings.append(ring)
    return rings


def _signed_area(ring) -> float:
    a = np.asarray(ring, float)
    x, y = a[:, 0], a[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def mask_to_polygons(mask: np.ndarray, tolerance: float = 0.0) -> list[list[float]]:
    """Outer boundaries as COCO polygons [x0, y0, x1, y1, ...] (integer pixel corners)."""
    m = np.asarray(mask).astype(bool)
    rings = _trace(_edges(m))
    polys = []
    for ring in rings:
        # With the inside on the right and y pointing down, outer rings have positive
        # shoelace area; holes come out negative and are dropped.
        if _signed_area(ring) <= 0:
            continue
        pts = np.asarray(ring, np.float64)
        if tolerance > 0:
            import cv2

            pts = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), float(tolerance), True)
            pts = pts.reshape(-1, 2).astype(np.float64)
        if len(pts) >= 3:
            polys.append([float(v) for v in pts.reshape(-1)])
    return polys


def polygons_to_mask(polys: list[list[float]], h: int, w: int) -> np.ndarray:
    from annotator.core import rle

    return rle.decode(rle.from_polygons(polys, h, w))


def has_holes(mask: np.ndarray) -> bool:
    """True if some background pixels are enclosed by the mask (they cannot survive polygons)."""
    import cv2

    m = np.pad(np.asarray(mask, np.uint8), 1)
    n, labels = cv2.connectedComponents((m == 0).astype(np.uint8), connectivity=4)
    return n > 2


def mask_to_centre_polygons(mask: np.ndarray, tolerance: float = 0.0) -> list[list[float]]:
    """Outer outlines through the centres of the boundary pixels (labelme's, PIL's and
    cv2.fillPoly's convention: a vertex (x, y) is the centre of pixel x, y). Filled with the
    outline drawn, as those readers do, they give back exactly the mask's pixels, holes filled.
    Outlines of 1 or 2 pixels repeat a vertex to reach the 3 a polygon needs. Also islands
    inside holes are outer outlines (RETR_CCOMP keeps them)."""
    import cv2

    m = np.ascontiguousarray(np.asarray(mask, np.uint8))
    if not m.any():
        return []
    contours, hier = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c, h in zip(contours, hier[0]):
        if h[3] != -1:  # a hole's outline
            continue
        pts = c.reshape(-1, 2)
        if tolerance > 0 and len(pts) > 3:
            simpler = cv2.approxPolyDP(c, float(tolerance), True).reshape(-1, 2)
            pts = simpler if len(simpler) >= 3 else pts
        pts = pts.tolist()
        while len(pts) < 3:
            pts.append(pts[-1])
        polys.append([float(v) for p in pts for v in p])
    return polys
