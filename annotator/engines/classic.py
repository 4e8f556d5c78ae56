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

import math
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from annotator.engines.classic_image import ClassicImageSession
from annotator.engines.classic_masks import (  # noqa: F401  (re-exported: the engine's public helpers)
    _GC_BGD,
    _GC_FGD,
    _GC_PR_BGD,
    _GC_PR_FGD,
    LOWRES,
    _bbox,
    _expand,
    _scaled,
    _union_box,
    fill_small_holes,
    keep_components,
    logits_to_mask,
    mask_to_logits,
)
from annotator.engines.protocols import as_points
from annotator.errors import AnnotatorError, MediaError

__all__ = ["ClassicImageSession", "ClassicVideoSession", "FolderFrames", "FlowField", "fill_small_holes", "keep_components",
           "logits_to_mask", "mask_to_logits", "open_source", "warp_mask"]


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


def appearance(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Colour histograms (Lab, 4x12x12 bins, normalised) of the object and of the background
    around it (its box grown by half), learned where the user gave the mask."""
    box = _bbox(mask)
    if box is None or mask.sum() < 16:
        return None
    h, w = mask.shape
    x0, y0, x1, y1 = _expand(box, 0.5, 16, w, h)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
    m = mask[y0:y1, x0:x1].astype(np.uint8)
    if m.all():
        return None
    bins, ranges = [4, 12, 12], [0, 256, 0, 256, 0, 256]
    fg = cv2.calcHist([lab], [0, 1, 2], m, bins, ranges)
    bg = cv2.calcHist([lab], [0, 1, 2], 1 - m, bins, ranges)
    return fg / max(1.0, float(fg.sum())), bg / max(1.0, float(bg.sum()))


def object_match(rgb: np.ndarray, mask: np.ndarray, model) -> float:
    """0..1: how object-like the mask's colours are under `model` (mean of
    p(object) / (p(object) + p(background)) over the mask); 1 when nothing is known."""
    if model is None or not mask.any():
        return 1.0
    box = _bbox(mask)
    x0, y0, x1, y1 = box
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB).astype(np.int32)
    fg, bg = model
    ratio = (fg / np.maximum(fg + bg, 1e-9)).astype(np.float32)
    ratio[(fg + bg) == 0] = 0.5  # colours seen in neither: no evidence
    idx = (lab[..., 0] // 64).astype(np.intp), (lab[..., 1] * 12 // 256).astype(np.intp), (lab[..., 2] * 12 // 256).astype(np.intp)
    return float(ratio[idx][mask[y0:y1, x0:x1]].mean())


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
            lost_match=0.0,  # object lost (stop) when its mask's colours match the object less than this (0 = off)
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
            elif old is None and box is None and pts is not None:
                # Clicks on a frame that already has this object's mask (propagated, or given
                # as a mask): they correct that mask rather than start from nothing.
                cur = self._masks.get(obj_id, frame)
                if cur is not None and cur.any():
                    mask_input = self._image.remember(cur)
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
        # What each object looks like where it was last given; a re-fit whose colours no
        # longer match it has locked onto the background (the object left or was lost).
        lost = self.params["lost_match"]
        looks = {oid: appearance(prev_rgb, m) for oid, m in current.items()} if lost > 0 else {}
        f = start
        while f != end and (f + step - end) * step <= 0:
            f += step
            rgb = self._frame(f)
            maps = None
            out: dict[int, np.ndarray] = {}
            for oid in self._masks.objects():
                if f in self._prompted.get(oid, ()):  # the user's own mask wins
                    out[oid] = amodal[oid] = self._masks.get(oid, f)
                    if lost > 0:
                        looks[oid] = appearance(rgb, out[oid])
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
                    if lost > 0 and object_match(rgb, m, looks.get(oid)) < lost:
                        self._masks.set(oid, f, np.zeros_like(m))  # lost: stop rather than track background
                        continue
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
