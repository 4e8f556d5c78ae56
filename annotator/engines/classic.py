"""The classic engine: interactive masks and video propagation with OpenCV only.

No learned weights, so it works on first run.

Images: GrabCut (colour GMMs + graph cut) on a region of interest downscaled to at most
`work_pixels`. A box seeds it as in the GrabCut paper. A first click without a box
guesses the object's extent from the click's distance to the nearest edge and the flat
region around it. Clicks are hard constraints (disks sized by the distance to the
nearest edge). Every later click edits locally: a window around it, sized by the
click's distance to the current boundary (about the thickness of the error it sits
in), is re-cut with local colour models; the flat region around the click, as far as
that thickness, takes the click's label; everything else keeps its previous label, so
a click fixes one error without undoing earlier ones. Small holes are filled, stray
blobs away from the clicks dropped.

Video: the previous mask is pulled into the next frame along DIS optical flow. Where the
flow is not trusted (the colour it points at does not match: occluders sweeping across,
motion blur) the mask moves with the object's median motion instead. GrabCut then
re-fits the mask in a band around the warped boundary, with colour models learned on
the frame itself. Parts of the object hidden by an occluder are remembered (an "amodal"
mask moved with the object) and offered to the cut again, so they come back when they
show again. Several objects share one flow computation per frame.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from annotator.engines.protocols import Prediction, as_points
from annotator.errors import AnnotatorError, MediaError

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


# ----------------------------------------------------------------------------- image session
class ClassicImageSession:
    """ImageSession with GrabCut. One mask per call (bool [1, H, W]) even when multimask
    is asked for; the score is 1 for a non-empty mask, 0 otherwise (GrabCut has no
    calibrated quality estimate). lowres_logits are the mask at 256x256 as +-10; the
    session remembers the full-resolution mask behind the last logits it returned."""

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

        self._rgb: np.ndarray | None = None
        self._img_key: bytes | None = None
        self._last: tuple[bytes, np.ndarray] | None = None  # logits key -> full-res mask

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
        self._last = None

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
            k = _key(mi)
            prev = self._last[1] if self._last is not None and self._last[0] == k else logits_to_mask(mi, (h, w))
            if not prev.any():
                prev = None

        if not pos and bx is None:
            mask = np.zeros((h, w), bool) if prev is None else prev.copy()
            for x, y in neg:
                mask[self._disk_mask(x, y, self._click_radius(x, y))] = False
        else:
            newest = None if pts is None else tuple(pts[-1])
            mask = self._segment(pos, neg, bx, prev, newest)
        return self._prediction(mask)

    def _disk_mask(self, x, y, r) -> np.ndarray:
        h, w = self._rgb.shape[:2]
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (int(round(x)), int(round(y))), int(round(r)), 1, -1)
        return m > 0

    def _prediction(self, mask: np.ndarray) -> Prediction:
        logits = mask_to_logits(mask)
        self._last = (_key(logits[None]), mask)
        area = int(mask.sum())
        return Prediction(
            masks=mask[None],
            scores=np.array([1.0 if area else 0.0], np.float32),
            lowres_logits=logits[None],
            best=0,
        )

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
        ch, cw = tri.shape
        s = min(1.0, math.sqrt(self.work_pixels / max(1, ch * cw)))
        if s < 1.0:
            sw, sh = max(8, int(round(cw * s))), max(8, int(round(ch * s)))
            img = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
            t = cv2.resize(tri, (sw, sh), interpolation=cv2.INTER_NEAREST)
            # Hard labels must survive the downscale: re-stamp them with a min/max filter.
            fgd = cv2.resize((tri == _GC_FGD).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA) > 0
            t[fgd] = _GC_FGD
        else:
            img, t = bgr, tri.copy()
        fg_any = np.isin(t, (_GC_FGD, _GC_PR_FGD))
        bg_any = np.isin(t, (_GC_BGD, _GC_PR_BGD))
        if not fg_any.any():
            return np.zeros((ch, cw), bool)
        if not bg_any.any() or not ((t == _GC_PR_FGD) | (t == _GC_PR_BGD)).any():
            res = fg_any
        else:
            if fg_any.sum() < 2 or bg_any.sum() < 2:
                res = fg_any
            else:
                bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
                try:
                    cv2.setRNGSeed(0)  # GMM k-means init draws from the global RNG: same input, same mask
                    cv2.grabCut(img, t, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
                    res = (t == _GC_FGD) | (t == _GC_PR_FGD)
                except cv2.error:  # too few pixels of one class for the GMMs
                    res = fg_any
        if s < 1.0:
            soft = cv2.resize(res.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR)
            out = soft > 0.5
            out |= tri == _GC_FGD
            out &= tri != _GC_BGD
            return out
        return res


# ----------------------------------------------------------------------------- video
class FolderFrames:
    """Frames of an image folder, decoded on demand (used when annotator.media is absent)."""

    EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

    def __init__(self, folder: str | Path, fps: float = 24.0):
        folder = Path(folder)
        self.path = str(folder)
        self._paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in self.EXTS)
        if not self._paths:
            raise MediaError(f"{folder}: no image frames in this folder")
        first = self.frame(0)
        self.height, self.width = first.shape[:2]
        self.num_frames = len(self._paths)
        self.fps = fps

    def frame(self, i: int) -> np.ndarray:
        bgr = cv2.imread(str(self._paths[i]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise MediaError(f"{self._paths[i]}: cannot read image")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def open_source(source):
    """A FrameSource-like object from a path (via annotator.media when present) or pass-through."""
    if isinstance(source, (str, os.PathLike)):
        try:
            from annotator.media import open_video  # type: ignore[attr-defined]
        except ImportError:
            open_video = None
        if open_video is not None:
            return open_video(str(source))
        p = Path(source)
        if p.is_dir():
            return FolderFrames(p)
        raise MediaError(f"{p}: cannot open (annotator.media.open_video is unavailable; give a frame folder)")
    for attr in ("num_frames", "frame"):
        if not hasattr(source, attr):
            raise AnnotatorError(f"classic engine: video source {type(source).__name__} has no '{attr}'")
    return source


class FlowField:
    """Dense optical flow between consecutive frames with OpenCV's DIS, computed on a
    downscaled grey frame (speed) and used to pull a mask from one frame into the next."""

    def __init__(self, max_side: int = 640, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.max_side = max_side
        self._dis = cv2.DISOpticalFlow_create(preset)

    def _grey(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        s = min(1.0, self.max_side / max(g.shape))
        if s < 1.0:
            g = cv2.resize(g, _scaled(g.shape[1], g.shape[0], s), interpolation=cv2.INTER_AREA)
        return g, s

    def pull_maps(self, prev_rgb: np.ndarray, next_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """remap() maps that fetch, for each pixel of `next`, where it was in `prev`."""
        gp, s = self._grey(prev_rgb)
        gn, _ = self._grey(next_rgb)
        gh, gw = gn.shape
        ph, pw = max(0, 16 - gh), max(0, 16 - gw)  # DIS refuses images under 12 pixels
        if ph or pw:
            gn, gp = (cv2.copyMakeBorder(g, 0, ph, 0, pw, cv2.BORDER_REPLICATE) for g in (gn, gp))
        flow = self._dis.calc(gn, gp, None)[:gh, :gw]  # next -> prev displacement
        h, w = next_rgb.shape[:2]
        if s < 1.0:
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        return xx + flow[..., 0], yy + flow[..., 1]


def warp_mask(mask: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Soft (float32 0..1) warp of a bool mask along pull maps."""
    return cv2.remap(mask.astype(np.float32), maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _occluded(prev_rgb: np.ndarray, rgb: np.ndarray, maps, tol: float) -> np.ndarray:
    """Pixels whose colour does not match where the flow says they came from: occlusions,
    thin foreground structures sweeping across, motion blur. The flow is not trusted there."""
    if tol <= 0:
        return np.zeros(rgb.shape[:2], bool)
    back = cv2.remap(prev_rgb, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = cv2.absdiff(back, rgb).max(axis=2)
    err = cv2.blur(err, (5, 5))
    return err > tol


def _median_shift(soft: np.ndarray, maps, unreliable: np.ndarray) -> tuple[float, float]:
    """The object's median motion (dx, dy) from the flow where the flow is trusted."""
    good = (soft > 0.5) & ~unreliable
    ys, xs = np.nonzero(good[::2, ::2])
    if len(ys) < 10:
        ys, xs = np.nonzero((soft > 0.5)[::2, ::2])
        if len(ys) == 0:
            return 0.0, 0.0
    ys, xs = ys * 2, xs * 2
    return -float(np.median(maps[0][ys, xs] - xs)), -float(np.median(maps[1][ys, xs] - ys))


def _shift(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    h, w = mask.shape
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)


def _update_amodal(prior: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Visible mask plus the remembered parts near it (within its box grown by 25%)."""
    box = _bbox(mask)
    if box is None:
        return mask
    h, w = mask.shape
    x0, y0, x1, y1 = _expand(box, 0.25, 8, w, h)
    near = np.zeros_like(mask)
    near[y0:y1, x0:x1] = True
    return mask | (prior & near)


class _PackedMasks:
    """Per-object, per-frame masks stored bit-packed (8x smaller than bool)."""

    def __init__(self):
        self._d: dict[int, dict[int, tuple[bytes, tuple[int, int]]]] = {}

    def set(self, obj: int, frame: int, mask: np.ndarray) -> None:
        self._d.setdefault(obj, {})[frame] = (np.packbits(mask.astype(bool), axis=None).tobytes(), mask.shape)

    def get(self, obj: int, frame: int) -> np.ndarray | None:
        v = self._d.get(obj, {}).get(frame)
        if v is None:
            return None
        data, shape = v
        n = shape[0] * shape[1]
        return np.unpackbits(np.frombuffer(data, np.uint8), count=n).reshape(shape).astype(bool)

    def objects(self) -> list[int]:
        return sorted(self._d)

    def drop(self, obj: int) -> None:
        self._d.pop(obj, None)

    def clear(self) -> None:
        self._d.clear()


class ClassicVideoSession:
    """VideoSession: clicks/boxes via ClassicImageSession, propagation by flow warp + re-fit."""

    name = "classic"
    refit = True

    def __init__(self, work_pixels: int = 30_000, **params):
        self.work_pixels = work_pixels  # the re-fit's graph cut runs on at most this many pixels
        self.params = dict(
            band_frac=0.06,  # re-fit band half-width: this fraction of sqrt(object area) ...
            band_min=4.0,  # ... clamped to these pixels
            band_max=20.0,
            iterations=2,  # GrabCut iterations per frame
            min_overlap=0.3,  # keep re-fit parts that lie at least this much on the warped mask
            photo_tol=40,  # colour error (0-255) above which the flow is not trusted
            amodal=True,  # remember parts hidden by an occluder
        )
        self.params.update(params)
        self._image = ClassicImageSession()
        self._flow = FlowField()
        self._src = None
        self.reset()

    # -- protocol
    def open(self, source) -> None:
        self._src = open_source(source)
        self.reset()

    @property
    def num_frames(self) -> int:
        return 0 if self._src is None else int(self._src.num_frames)

    def reset(self) -> None:
        self._masks = _PackedMasks()
        self._prompted: dict[int, set[int]] = {}
        self._clicks: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def remove_object(self, obj_id: int) -> None:
        self._masks.drop(obj_id)
        self._prompted.pop(obj_id, None)
        for k in [k for k in self._clicks if k[1] == obj_id]:
            del self._clicks[k]

    def _frame(self, i: int) -> np.ndarray:
        if self._src is None:
            raise AnnotatorError("classic engine: open() a video before prompting")
        if not 0 <= int(i) < self.num_frames:
            raise AnnotatorError(f"classic engine: frame {i} is outside 0..{self.num_frames - 1}")
        return np.asarray(self._src.frame(int(i)))

    def masks_at(self, frame: int) -> dict[int, np.ndarray]:
        out = {}
        for oid in self._masks.objects():
            m = self._masks.get(oid, frame)
            if m is not None:
                out[oid] = m
        return out

    def add_prompt(self, frame, obj_id, points=None, labels=None, box=None, mask=None) -> dict[int, np.ndarray]:
        """Prompts on (frame, obj_id) replace earlier ones there; when the new points extend
        the previous ones (one more click), the previous mask is refined rather than redone."""
        rgb = self._frame(frame)
        h, w = rgb.shape[:2]
        if mask is not None:
            m = np.asarray(mask, bool)
            if m.shape != (h, w):
                raise AnnotatorError(f"classic engine: mask is {m.shape[1]}x{m.shape[0]}, frame is {w}x{h}")
            self._clicks.pop((frame, obj_id), None)
        else:
            pts = as_points(points)
            if pts is None and box is None:
                raise AnnotatorError("classic engine: a prompt needs points, a box or a mask")
            lbl = np.ones(0, np.int32) if pts is None else np.asarray(labels, np.int32).reshape(-1)
            pts_arr = np.zeros((0, 2), np.float32) if pts is None else pts
            self._image.set_image(rgb)
            mask_input = None
            old = self._clicks.get((frame, obj_id))
            if old is not None and box is None and len(old[0]) < len(pts_arr) and np.array_equal(old[0], pts_arr[: len(old[0])]):
                mask_input = old[2]
            pred = self._image.predict(pts, lbl if pts is not None else None, box, mask_input, multimask=False)
            m = pred.mask
            self._clicks[(frame, obj_id)] = (pts_arr.copy(), lbl.copy(), pred.lowres_logits[pred.best][None])
        self._masks.set(obj_id, frame, m)
        self._prompted.setdefault(obj_id, set()).add(int(frame))
        return self.masks_at(frame)

    def propagate(self, start: int, direction: str = "forward", stop: int | None = None) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        n = self.num_frames
        if n == 0:
            raise AnnotatorError("classic engine: open() a video before propagating")
        if direction not in ("forward", "backward", "both"):
            raise AnnotatorError(f"classic engine: direction must be forward, backward or both, not {direction!r}")
        start = int(start)
        self._frame(start)
        yield start, self.masks_at(start)
        dirs = ["forward", "backward"] if direction == "both" else [direction]
        for d in dirs:
            step = 1 if d == "forward" else -1
            end = (n - 1 if step > 0 else 0) if stop is None or direction == "both" else int(np.clip(stop, 0, n - 1))
            yield from self._run(start, end, step)

    def _run(self, start: int, end: int, step: int):
        prev_rgb = self._frame(start)
        current = self.masks_at(start)
        # Where each object would be if nothing hid it: parts wiped out by an occluder
        # sweeping across come back when they show again.
        amodal: dict[int, np.ndarray] = dict(current)
        f = start
        while f != end and (f + step - end) * step <= 0:
            f += step
            rgb = self._frame(f)
            maps = None
            out: dict[int, np.ndarray] = {}
            for oid in self._masks.objects():
                if f in self._prompted.get(oid, ()):  # the user's own mask wins
                    out[oid] = amodal[oid] = self._masks.get(oid, f)
                    continue
                prev = current.get(oid)
                if prev is None:
                    continue
                if maps is None:
                    maps = self._flow.pull_maps(prev_rgb, rgb)
                    unreliable = _occluded(prev_rgb, rgb, maps, self.params["photo_tol"]) if self.refit else None
                soft = warp_mask(prev, maps)
                if not self.refit:
                    m = soft > 0.5
                else:
                    dx, dy = _median_shift(soft, maps, unreliable)
                    if unreliable.any():  # occluded or blurred: move with the object instead
                        soft[unreliable] = _shift(prev, dx, dy)[unreliable]
                    am = amodal.get(oid, prev)
                    amodal_prior = _shift(am, dx, dy) > 0.5 if self.params["amodal"] else None
                    m = self.refine(rgb, soft, amodal_prior)
                    if amodal_prior is not None:
                        amodal[oid] = _update_amodal(amodal_prior, m)
                self._masks.set(oid, f, m)
                out[oid] = m
            current = out
            prev_rgb = rgb
            yield f, dict(out)

    # -- the re-fit
    def refine(self, rgb: np.ndarray, soft: np.ndarray, amodal: np.ndarray | None = None) -> np.ndarray:
        """Re-fit a warped mask to the frame: GrabCut in a band around the warped boundary,
        its colour models learned on this frame (deep inside = object, far outside =
        background). `amodal` adds remembered parts that an occluder hid, open to the cut
        and seeded as object, so they come back when they show again."""
        p = self.params
        warped = soft > 0.5
        area = int(warped.sum())
        if area < 16:
            return warped
        h, w = warped.shape
        band = float(np.clip(p["band_frac"] * math.sqrt(area), p["band_min"], p["band_max"]))
        extra = amodal & ~warped if amodal is not None else None
        if extra is not None and not extra.any():
            extra = None
        roi = _bbox(warped) if extra is None else _union_box(_bbox(warped), _bbox(extra))
        x0, y0, x1, y1 = _expand(roi, 0.1, int(band) + 8, w, h)
        sub = warped[y0:y1, x0:x1].astype(np.uint8)
        k = int(round(band))
        se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        inner = cv2.erode(sub, se) > 0
        if extra is not None:
            sub = sub | extra[y0:y1, x0:x1].astype(np.uint8)
        outer = cv2.dilate(sub, se) > 0
        tri = np.where(warped[y0:y1, x0:x1], _GC_PR_FGD, _GC_PR_BGD).astype(np.uint8)
        if extra is not None:  # remembered hidden parts: open to the graph cut, seeded as object
            tri[extra[y0:y1, x0:x1]] = _GC_PR_FGD
        tri[inner] = _GC_FGD
        tri[~outer] = _GC_BGD
        bgr = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2BGR)
        ch, cw = tri.shape
        sc = min(1.0, math.sqrt(self.work_pixels / max(1, ch * cw)))
        if sc < 1.0:
            sw, sh = max(8, int(round(cw * sc))), max(8, int(round(ch * sc)))
            img = cv2.resize(bgr, (sw, sh), interpolation=cv2.INTER_AREA)
            t = cv2.resize(tri, (sw, sh), interpolation=cv2.INTER_NEAREST)
        else:
            img, t = bgr, tri.copy()
        if not (t == _GC_PR_FGD).any() and not (t == _GC_PR_BGD).any():
            res = np.isin(t, (_GC_FGD, _GC_PR_FGD))
        else:
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            try:
                cv2.setRNGSeed(0)
                cv2.grabCut(img, t, None, bgd, fgd, p["iterations"], cv2.GC_INIT_WITH_MASK)
            except cv2.error:
                pass
            res = np.isin(t, (_GC_FGD, _GC_PR_FGD))
        if sc < 1.0:
            res = cv2.resize(res.astype(np.float32), (cw, ch), interpolation=cv2.INTER_LINEAR) > 0.5
        out = np.zeros((h, w), bool)
        out[y0:y1, x0:x1] = res
        n, lab, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
        if n > 2:
            # Keep the parts that lie mostly where the object was expected; drop look-alike
            # blobs the cut found elsewhere in the band.
            sizes = stats[:, cv2.CC_STAT_AREA]
            prior = warped if extra is None else warped | extra
            on_prior = np.bincount(lab[prior].ravel(), minlength=n)
            keep = [i for i in range(1, n) if on_prior[i] >= p["min_overlap"] * sizes[i]]
            out = np.isin(lab, keep) if keep else warped
        return fill_small_holes(out)
