"""Baselines measured by the same harness as the classic engine.

grabcut-plain: OpenCV GrabCut initialised with the bounding box of the positive clicks
(padded by 10 px so a single click makes a box), 5 iterations on the whole frame at
half resolution; negative clicks and previous masks are ignored. This is what a naive
use of cv2.grabCut gives.
flow-warp: the previous mask pulled along DIS optical flow into the next frame and
thresholded at 0.5, no re-fit.
"""
from __future__ import annotations

import cv2
import numpy as np

from annotator.engines.classic import ClassicVideoSession, mask_to_logits
from annotator.engines.protocols import Prediction, as_points
from annotator.errors import AnnotatorError


class GrabCutPlainImageSession:
    name = "grabcut-plain"
    pad = 10
    iterations = 5
    scale = 0.5

    def __init__(self):
        self._bgr = None
        self._cache: dict[tuple, np.ndarray] = {}

    def set_image(self, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise AnnotatorError(f"grabcut-plain: expected an HxWx3 RGB image, got {rgb.shape}")
        self._shape = rgb.shape[:2]
        self._bgr = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        self._cache = {}

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True) -> Prediction:
        if self._bgr is None:
            raise AnnotatorError("grabcut-plain: set_image() must come before predict()")
        h, w = self._shape
        pts = as_points(points)
        lbl = np.zeros(0) if pts is None else np.asarray(labels).reshape(-1)
        pos = np.zeros((0, 2)) if pts is None else pts[lbl == 1]
        if box is not None:
            x0, y0, x1, y1 = np.asarray(box, float).reshape(4)
        elif len(pos):
            x0, y0 = pos.min(0) - self.pad
            x1, y1 = pos.max(0) + self.pad
        else:
            return self._pred(np.zeros((h, w), bool))
        s = self.scale
        sh, sw = self._bgr.shape[:2]
        rx0, ry0 = int(np.clip(x0 * s, 0, sw - 2)), int(np.clip(y0 * s, 0, sh - 2))
        rx1, ry1 = int(np.clip(np.ceil(x1 * s), rx0 + 2, sw)), int(np.clip(np.ceil(y1 * s), ry0 + 2, sh))
        key = (rx0, ry0, rx1, ry1)
        if key not in self._cache:  # the result depends on the rectangle only
            m = np.zeros((sh, sw), np.uint8)
            bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
            try:
                cv2.setRNGSeed(0)  # deterministic k-means init
                cv2.grabCut(self._bgr, m, (rx0, ry0, rx1 - rx0, ry1 - ry0), bgd, fgd, self.iterations, cv2.GC_INIT_WITH_RECT)
                small = (m == cv2.GC_FGD) | (m == cv2.GC_PR_FGD)
            except cv2.error:
                small = np.zeros((sh, sw), bool)
            self._cache[key] = cv2.resize(small.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return self._pred(self._cache[key])

    @staticmethod
    def _pred(mask):
        return Prediction(mask[None], np.array([1.0], np.float32), mask_to_logits(mask)[None], 0)


class FlowWarpVideoSession(ClassicVideoSession):
    name = "flow-warp"
    refit = False
