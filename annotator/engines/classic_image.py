"""The classic engine's image session: GrabCut masks from clicks and boxes (see
annotator/engines/classic.py for the method)."""
from __future__ import annotations

import math

import cv2
import numpy as np

from annotator.engines.classic_box import box_candidates, fill_score, grabcut_region
from annotator.engines.classic_candidates import distinct, edge_score, gradient_magnitude
from annotator.engines.classic_masks import (
    _GC_BGD,
    _GC_FGD,
    _GC_PR_BGD,
    _GC_PR_FGD,
    _bbox,
    _expand,
    _key,
    _scaled,
    _union_box,
    fill_small_holes,
    keep_components,
    logits_to_mask,
    mask_to_logits,
)
from annotator.engines.protocols import Prediction, as_points
from annotator.errors import AnnotatorError

# The score of a first click's mask when GrabCut found nothing and the inscribed ellipse of
# the guessed extent stands in: a guess to refine by hand, not an object (segment everything
# drops these).
GUESS_SCORE = 0.1


class ClassicImageSession:
    """ImageSession with GrabCut. A box, or a first click with multimask, gives several
    distinct candidates (classic_box, classic_candidates), best first; later clicks give
    one mask. Scores are heuristics in 0..1 (box fill, edge alignment), not calibrated
    IoU estimates. Whatever the cut says, a positive click ends inside the mask and a
    negative one outside. lowres_logits are the masks at 256x256 as +-10; the session
    remembers the full-resolution mask behind the logits it returned."""

    name = "classic"

    def __init__(self, work_pixels: int = 36_000, iterations: int = 2, local_edits: bool = True):
        self.work_pixels = work_pixels  # GrabCut runs on at most this many pixels
        self.iterations = iterations
        self.local_edits = local_edits
        self.extent_factor = 4.0  # first click: the object spans about this many inscribed radii
        self.min_fill = 2.0  # first click: below this many click-disk areas GrabCut "found nothing"
        self.fallback_shrink = 0.8  # ... and the ellipse inside the guessed box is used instead
        self.edit_min = 24  # later clicks: the re-cut disk has at least this radius (px) ...
        self.edit_factor = 4.0  # ... or this many times the click's distance to the boundary
        self.flood_reach = 1.0  # hard flood reaches this many times the error thickness
        self.box_iterations = 3  # GrabCut iterations for a box's candidates
        self.box_work_pixels = 60_000  # ... on at most this many pixels (finer than clicks: one cut per box)
        self.alt_scales = (0.5, 2.0)  # first click, multimask: extents tried beside extent_factor
        self.score_pick = False  # first click: pick the best-scored candidate, not the default extent
        self.click_keep = 3.0  # a click's own pixels (radius, px) always take its label

        self._rgb: np.ndarray | None = None
        self._img_key: bytes | None = None
        self._last: dict[bytes, np.ndarray] = {}  # logits key -> full-res mask (last call's masks)
        self._guessed = False  # the last one-mask answer was the extent guess (GUESS_SCORE)

    # -- per-image features
    def set_image(self, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise AnnotatorError(f"classic engine: expected an HxWx3 uint8 RGB image, got {rgb.dtype} {rgb.shape}")
        key = _key(rgb[::4, ::4])
        if key == self._img_key:
            return
        self._img_key = key
        self._rgb = np.ascontiguousarray(rgb)
        self._bgr = cv2.cvtColor(self._rgb, cv2.COLOR_RGB2BGR)
        h, w = rgb.shape[:2]
        # Smoothed Lab at quarter-ish resolution for region growing around clicks.
        self._grow_scale = min(1.0, 320.0 / max(h, w))
        small = cv2.resize(self._bgr, _scaled(w, h, self._grow_scale), interpolation=cv2.INTER_AREA)
        small = cv2.bilateralFilter(small, 5, 30, 5)
        self._lab_small = cv2.cvtColor(small, cv2.COLOR_BGR2LAB)
        self._smooth = cv2.bilateralFilter(self._bgr, 7, 25, 7)  # watershed input: less texture
        # Distance to the nearest strong edge sizes the hard disk under each click.
        gray = cv2.cvtColor(self._bgr, cv2.COLOR_BGR2GRAY)
        edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 1.2), 40, 100)
        self._edge_dt = cv2.distanceTransform((edges == 0).astype(np.uint8), cv2.DIST_L2, 3)
        # A uniform image has no edge at all: OpenCV then reports a float-max distance.
        np.minimum(self._edge_dt, float(max(h, w)), out=self._edge_dt)
        self._grad = None  # gradient magnitude, computed when candidates are ranked
        self._last = {}

    def _require_image(self):
        if self._rgb is None:
            raise AnnotatorError("classic engine: set_image() must come before predict()")

    # -- click neighbourhoods
    def _grow_region(self, x: float, y: float, tol: int = 14, max_frac: float = 0.35) -> np.ndarray:
        """Colour-homogeneous region connected to the click (full-res bool), capped in size."""
        h, w = self._rgb.shape[:2]
        s = self._grow_scale
        lab = self._lab_small
        sh, sw = lab.shape[:2]
        sx = int(np.clip(round(x * s), 0, sw - 1))
        sy = int(np.clip(round(y * s), 0, sh - 1))
        ff = np.zeros((sh + 2, sw + 2), np.uint8)
        flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8)
        cv2.floodFill(lab, ff, (sx, sy), 0, (tol,) * 3, (tol,) * 3, flags)
        region = ff[1:-1, 1:-1] > 0
        # Clip to a window around the click so a flat background cannot flood the frame.
        hw, hh = int(max_frac * sw), int(max_frac * sh)
        win = np.zeros_like(region)
        win[max(0, sy - hh) : sy + hh + 1, max(0, sx - hw) : sx + hw + 1] = True
        region &= win
        return cv2.resize(region.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0

    def _click_radius(self, x: float, y: float) -> float:
        h, w = self._edge_dt.shape
        d = float(self._edge_dt[int(np.clip(y, 0, h - 1)), int(np.clip(x, 0, w - 1))])
        return float(np.clip(0.6 * d, 3.0, 20.0))

    # -- main entry
    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask: bool = True) -> Prediction:
        self._require_image()
        h, w = self._rgb.shape[:2]
        pts = as_points(points)
        lbl = np.zeros(0, np.int32) if pts is None else np.asarray(labels, np.int32).reshape(-1)
        if pts is not None and len(lbl) != len(pts):
            raise AnnotatorError(f"classic engine: {len(pts)} points but {len(lbl)} labels")
        pos = [] if pts is None else [tuple(p) for p, l in zip(pts, lbl) if l == 1]
        neg = [] if pts is None else [tuple(p) for p, l in zip(pts, lbl) if l == 0]
        bx = None if box is None else np.asarray(box, np.float32).reshape(4)

        prev = None
        if mask_input is not None:
            mi = np.asarray(mask_input, np.float32)
            prev = self._last.get(_key(mi))
            if prev is None:
                prev = logits_to_mask(mi, (h, w))
            if not prev.any():
                prev = None

        if not pos and bx is None:
            mask = np.zeros((h, w), bool) if prev is None else prev.copy()
            for x, y in neg:
                mask[self._disk_mask(x, y, self._click_radius(x, y))] = False
            cands = [(mask, 1.0 if mask.any() else 0.0)]
        elif bx is not None and not pos and not neg and prev is None:
            cands = self._box_candidates(bx)
        elif bx is None and prev is None and multimask and len(pos) == 1 and not neg:
            cands = self._click_candidates(pos)
        else:
            newest = None if pts is None else tuple(pts[-1])
            self._guessed = False
            mask = self._segment(pos, neg, bx, prev, newest)
            cands = [(mask, GUESS_SCORE if self._guessed else 1.0 if mask.any() else 0.0)]
        cands = [(self.respect_clicks(m, pts, lbl), sc) for m, sc in cands]
        if not multimask:
            cands = cands[:1]
        return self._prediction(cands)

    def respect_clicks(self, mask: np.ndarray, pts, lbl) -> np.ndarray:
        """The user's clicks are facts: a small disk under each positive click is object,
        under each negative click background, later clicks winning where they overlap."""
        if pts is None or not len(pts) or self.click_keep <= 0:
            return mask
        out = mask.copy()
        for (x, y), l in zip(pts, lbl):
            out[self._disk_mask(x, y, self.click_keep)] = bool(l == 1)
        return out

    def _box_candidates(self, bx) -> list:
        """A box alone: GrabCut candidates with different seedings and colour models,
        ranked by how well they fill the box (classic_box)."""
        h, w = self._rgb.shape[:2]
        x0, y0 = int(np.clip(bx[0], 0, w - 1)), int(np.clip(bx[1], 0, h - 1))
        x1, y1 = int(np.clip(math.ceil(bx[2]), x0 + 1, w)), int(np.clip(math.ceil(bx[3]), y0 + 1, h))
        cands = box_candidates(self._bgr, (x0, y0, x1, y1), self.box_work_pixels, self.box_iterations)
        cands = [(fill_small_holes(m), sc, name) for m, sc, name in cands]
        kept = distinct(cands)
        return [(m, sc) for m, sc, _ in kept] or [(cands[0][0], cands[0][1])]

    def _click_candidates(self, pos) -> list:
        """One click, several masks wanted: cuts at the default extent and at other guessed
        extents, plus the flat region under the click; distinct ones, ranked by edge
        alignment. The default extent comes first unless score_pick."""
        if self._grad is None:
            self._grad = gradient_magnitude(self._bgr)
        base = self.extent_factor
        raw = []
        try:
            for f in (1.0,) + tuple(self.alt_scales):
                self.extent_factor = base * f
                m = fill_small_holes(keep_components(self._from_clicks(pos, [], None), pos, None))
                raw.append((m, edge_score(m, self._grad), f"extent x{f:g}"))
        finally:
            self.extent_factor = base
        x, y = pos[0]
        flat = fill_small_holes(keep_components(self._grow_region(x, y), pos, None))
        raw.append((flat, edge_score(flat, self._grad), "flat region"))
        first, rest = raw[0], sorted(raw[1:], key=lambda c: -c[1])
        ordered = sorted(raw, key=lambda c: -c[1]) if self.score_pick else [first] + rest
        kept = distinct(ordered)
        return [(m, sc) for m, sc, _ in kept] or [(first[0], first[1])]

    def _disk_mask(self, x, y, r) -> np.ndarray:
        h, w = self._rgb.shape[:2]
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (int(round(x)), int(round(y))), int(round(r)), 1, -1)
        return m > 0

    def _prediction(self, cands: list) -> Prediction:
        """cands: [(mask, score)], the engine's pick first."""
        masks = np.stack([m for m, _ in cands])
        logits = np.stack([mask_to_logits(m) for m, _ in cands])
        self._last = {_key(logits[i][None]): masks[i] for i in range(len(cands))}
        scores = np.array([float(sc) if m.any() else 0.0 for m, sc in cands], np.float32)
        return Prediction(masks=masks, scores=scores, lowres_logits=logits, best=0)

    def remember(self, mask: np.ndarray) -> np.ndarray:
        """mask_input logits [1, 256, 256] standing for `mask` at full resolution (a mask
        from elsewhere, e.g. propagation, that the next clicks should edit)."""
        logits = mask_to_logits(mask)[None]
        self._last[_key(logits)] = np.asarray(mask, bool)
        return logits

    def _segment(self, pos, neg, bx, prev, newest) -> np.ndarray:
        if prev is not None and newest is not None and self.local_edits:
            out = self._local_edit(pos, neg, prev, newest)
        elif bx is not None:
            out = self._from_box(pos, neg, bx, prev)
        else:
            out = self._from_clicks(pos, neg, prev)
        out = keep_components(out, pos, prev)
        return fill_small_holes(out, keep=neg)

    def _stamp_clicks(self, target: np.ndarray, pos, neg, fg, bg, offset=(0, 0)) -> None:
        ox, oy = offset
        for pts, val in ((pos, fg), (neg, bg)):
            for x, y in pts:
                r = int(round(self._click_radius(x, y)))
                cv2.circle(target, (int(round(x)) - ox, int(round(y)) - oy), r, int(val), -1)

    def _from_box(self, pos, neg, bx, prev) -> np.ndarray:
        """GrabCut as published: outside the box is background, inside is to be decided."""
        h, w = self._rgb.shape[:2]
        x0, y0 = int(np.clip(bx[0], 0, w - 1)), int(np.clip(bx[1], 0, h - 1))
        x1, y1 = int(np.clip(math.ceil(bx[2]), x0 + 1, w)), int(np.clip(math.ceil(bx[3]), y0 + 1, h))
        rx0, ry0, rx1, ry1 = _expand((x0, y0, x1, y1), 0.2, 16, w, h)
        tri = np.full((ry1 - ry0, rx1 - rx0), _GC_BGD, np.uint8)
        inner = tri[y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]
        if prev is not None:
            inner[:] = np.where(prev[y0:y1, x0:x1], _GC_PR_FGD, _GC_PR_BGD)
        else:
            inner[:] = _GC_PR_FGD
        self._stamp_clicks(tri, pos, neg, _GC_FGD, _GC_BGD, (rx0, ry0))
        out = np.zeros((h, w), bool)
        out[ry0:ry1, rx0:rx1] = self._grabcut(self._bgr[ry0:ry1, rx0:rx1], tri)
        return out

    def _from_clicks(self, pos, neg, prev) -> np.ndarray:
        """No mask yet: the object's extent is a guess. A click's distance to the nearest edge
        (and the size of the flat region around it) estimate the object's inscribed radius r;
        a box of a few r around the clicks then seeds GrabCut as a drawn box would."""
        h, w = self._rgb.shape[:2]
        box = None
        for x, y in pos:
            g = self._grow_region(x, y)
            r = max(float(self._edge_dt[int(y), int(x)]), math.sqrt(g.sum() / math.pi), 10.0)
            R = self.extent_factor * r
            box = _union_box(box, (int(x - R), int(y - R), int(x + R) + 1, int(y + R) + 1))
        if prev is not None:
            box = _union_box(box, _bbox(prev))
        box = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
        out = self._from_box(pos, neg, np.array(box, np.float32), prev)
        bw, bh = box[2] - box[0], box[3] - box[1]
        disks = sum(math.pi * self._click_radius(x, y) ** 2 for x, y in pos)
        if keep_components(out, pos, prev).sum() < self.min_fill * disks:
            # GrabCut found nothing beyond the clicks' own disks (thin or low-contrast
            # object): the ellipse inscribed in the box is a better first guess than a dot.
            el = np.zeros((h, w), np.uint8)
            centre = (int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2))
            axes = (max(1, int(bw * self.fallback_shrink / 2)), max(1, int(bh * self.fallback_shrink / 2)))
            cv2.ellipse(el, centre, axes, 0, 0, 360, 1, -1)
            out = el > 0
            self._guessed = True
        return out

    def _local_edit(self, pos, neg, prev, newest) -> np.ndarray:
        """One more click on an existing mask: re-decide only a window around it. The window
        grows with the click's distance to the mask boundary (the error it sits in is about
        that thick); inside it GrabCut learns local colour models, outside nothing changes."""
        h, w = prev.shape
        cx, cy = newest
        xi, yi = int(np.clip(round(cx), 0, w - 1)), int(np.clip(round(cy), 0, h - 1))
        inside = bool(prev[yi, xi])
        positive = any((abs(x - cx) < 1e-3 and abs(y - cy) < 1e-3) for x, y in pos)
        region = prev if inside else ~prev
        d = float(cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, 3)[yi + 1, xi + 1])
        R = int(max(self.edit_min, self.edit_factor * d))
        x0, y0, x1, y1 = max(0, xi - 2 * R), max(0, yi - 2 * R), min(w, xi + 2 * R + 1), min(h, yi + 2 * R + 1)
        pv = prev[y0:y1, x0:x1]
        tri = np.where(pv, _GC_FGD, _GC_BGD).astype(np.uint8)
        free = np.zeros(pv.shape, np.uint8)
        cv2.circle(free, (xi - x0, yi - y0), R, 1, -1)
        free = free > 0
        # Near the old boundary and around the click, labels are open again.
        tri[free & pv] = _GC_PR_FGD
        tri[free & ~pv] = _GC_PR_BGD
        if positive != inside:
            # The click says the flat region around it has the wrong label: that region (within
            # the window, on the wrong side) takes the click's label as a hard constraint.
            g = self._grow_region(cx, cy)[y0:y1, x0:x1] & free & (pv == inside)
            if self.flood_reach > 0:
                # Only as far as the error the click sits in is thick: a flat region that runs
                # on past it would undo earlier clicks (clicks then see-saw).
                near = np.zeros(pv.shape, np.uint8)
                cv2.circle(near, (xi - x0, yi - y0), int(self.flood_reach * d + 3), 1, -1)
                g &= near > 0
            tri[g] = _GC_FGD if positive else _GC_BGD
        self._stamp_clicks(tri, pos, neg, _GC_FGD, _GC_BGD, (x0, y0))
        out = prev.copy()
        out[y0:y1, x0:x1] = self._grabcut(self._bgr[y0:y1, x0:x1], tri)
        return out

    def _grabcut(self, bgr: np.ndarray, tri: np.ndarray) -> np.ndarray:
        return grabcut_region(bgr, tri, self.work_pixels, self.iterations)
