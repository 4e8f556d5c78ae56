"""Point grids and crop boxes of the automatic mask generator (SAM's layout, MODELS.md §1.3)."""
from __future__ import annotations

import math

import numpy as np


def point_grid(n: int) -> np.ndarray:
    """n x n points at ((i + 0.5) / n), x varying fastest -> float64 [n*n, 2] in [0, 1]."""
    off = 1.0 / (2 * n)
    side = np.linspace(off, 1 - off, n)
    xs = np.tile(side[None, :], (n, 1))
    ys = np.tile(side[:, None], (1, n))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def layer_grids(points_per_side: int, n_layers: int, downscale: int) -> list[np.ndarray]:
    return [point_grid(int(points_per_side / (downscale ** i))) for i in range(n_layers + 1)]


def crop_boxes(h: int, w: int, n_layers: int, overlap_ratio: float) -> tuple[list[list[int]], list[int]]:
    """Layer 0 is the image; layer i has (2^i)^2 overlapping crops, x-start outer, y-start
    inner. Returns (XYXY boxes, layer index of each)."""
    boxes, layers = [[0, 0, w, h]], [0]
    short = min(h, w)
    for layer in range(1, n_layers + 1):
        per_side = 2 ** layer
        overlap = int(overlap_ratio * short * (2 / per_side))
        cw = math.ceil((overlap * (per_side - 1) + w) / per_side)
        ch = math.ceil((overlap * (per_side - 1) + h) / per_side)
        xs = [int((cw - overlap) * i) for i in range(per_side)]
        ys = [int((ch - overlap) * i) for i in range(per_side)]
        for x0 in xs:
            for y0 in ys:
                boxes.append([x0, y0, min(x0 + cw, w), min(y0 + ch, h)])
                layers.append(layer)
    return boxes, layers
