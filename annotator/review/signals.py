"""Per-object, per-frame drift signals: cheap numbers computed from each mask (and its frame)
that move when propagation loses the object. No Qt, no torch.

Signals of one frame t of one object (NaN = unknown there):
    log_area        log(1 + mask pixels)
    log_area_ref    log_area minus that of the nearest reference frame at or before t
    centroid_step   centroid distance to frame t-1's mask / sqrt(area at t-1)
    iou_prev        IoU with frame t-1's mask (1.0 when both are empty)
    iou_flow        IoU with frame t-1's mask carried to t by the optical flow between the
                    two frames (OpenCV DIS on a <= 320 px grey frame): low when the mask did
                    not move with the image, even where it overlaps its previous self
    boundary_ratio  boundary pixels / sqrt(area) (ragged or split masks have more boundary)
    components      connected parts holding at least 1% of the mask
    border_frac     fraction of the boundary lying on the image border
    hist_dist       Bhattacharyya distance of the colour histogram inside the mask to the
                    reference frames' (the smallest over them; 1.0 for an empty mask)
    object_score    the engine's object score, pred_iou its predicted IoU, where it gives them

Reference frames are the masks a person drew (source manual); without any, the first frame
with a mask. Imported masks are not references: they may be another tool's propagation, and
are reviewed like ours. A frame's signals depend on its mask, the previous frame's mask and
the references: `TrackSignals` computes them streaming in frame order (two masks in memory).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import cv2
import numpy as np

# bump when a definition changes: stored rows computed under another version are stale
SIGNALS_VERSION = 2
NAMES = ("log_area", "log_area_ref", "centroid_step", "iou_prev", "boundary_ratio", "components",
         "border_frac", "hist_dist", "object_score", "pred_iou", "iou_flow")
REFERENCE_SOURCES = ("manual",)
_BINS = 8  # per RGB channel
_HIST_MAX_SIDE = 320  # histograms on a downscaled frame: colour statistics need few pixels
_FLOW_MAX_SIDE = 320  # the flow signal's frames: coarse motion is enough to tell "moved with it"

NAN = float("nan")


def colour_hist(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Normalised 8x8x8 RGB histogram of the pixels under the mask (None when it is empty)."""
    h, w = mask.shape
    s = min(1.0, _HIST_MAX_SIDE / max(h, w))
    m = mask.astype(np.uint8)
    if s < 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)
        if not m.any():  # a sliver lost in the downscale: use full resolution
            rgb, m = None, mask.astype(np.uint8)
    if rgb is None or rgb.shape[:2] != m.shape:
        return None
    if not m.any():
        return None
    hist = cv2.calcHist([np.ascontiguousarray(rgb)], [0, 1, 2], m, [_BINS] * 3, [0, 256] * 3)
    return (hist / max(float(hist.sum()), 1.0)).astype(np.float32)


def hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def _shape_signals(mask: np.ndarray, area: int) -> dict[str, float]:
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    # boundary: mask pixels with a 4-neighbour outside the mask (the image edge counts as outside)
    inner = cv2.erode(m8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    boundary = mask & ~inner.astype(bool)
    n_boundary = int(np.count_nonzero(boundary))
    on_border = (int(np.count_nonzero(boundary[0])) + int(np.count_nonzero(boundary[-1]))
                 + int(np.count_nonzero(boundary[1:-1, 0])) + int(np.count_nonzero(boundary[1:-1, -1])))
    n, _, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    big = int(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= max(1.0, 0.01 * area))) if n > 1 else 0
    return {
        "boundary_ratio": n_boundary / math.sqrt(area),
        "components": float(big),
        "border_frac": on_border / n_boundary if n_boundary else 0.0,
    }


class FlowView:
    """A frame and a mask downscaled for the flow signal (grey frame, bool mask)."""

    def __init__(self, rgb: np.ndarray, mask: np.ndarray):
        h, w = mask.shape
        s = min(1.0, _FLOW_MAX_SIDE / max(h, w))
        size = (max(16, round(w * s)), max(16, round(h * s)))  # DIS wants at least 12 px a side
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        self.grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA) if size != (w, h) else grey
        m = mask.astype(np.float32)
        self.mask = (cv2.resize(m, size, interpolation=cv2.INTER_AREA) if size != (w, h) else m) >= 0.5


def flow_iou(prev: FlowView, cur: FlowView, dis) -> float:
    """IoU of the current mask with the previous one pulled along the flow cur -> prev (`dis`:
    a cv2 DIS instance, one per thread: TrackSignals keeps its own)."""
    if prev.grey.shape != cur.grey.shape:
        return NAN
    if not prev.mask.any() and not cur.mask.any():
        return 1.0
    flow = dis.calc(cur.grey, prev.grey, None)  # for each pixel of cur: where it was in prev
    h, w = cur.grey.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(prev.mask.astype(np.float32), xx + flow[..., 0], yy + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
    union = int(np.count_nonzero(warped | cur.mask))
    return 1.0 if union == 0 else int(np.count_nonzero(warped & cur.mask)) / union


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


class TrackSignals:
    """Streaming signals of one object: give the reference masks first (`add_reference`), then
    `push` every frame with a mask in increasing frame order."""

    def __init__(self):
        self._refs: list[tuple[int, float, np.ndarray | None]] = []  # (frame, log area, hist)
        self._prev: tuple[int, np.ndarray, int, tuple[float, float] | None] | None = None
        self._prev_view: FlowView | None = None  # the previous frame's, when its frame was given
        self._dis = None  # made on first use, by the thread that pushes

    def add_reference(self, frame: int, mask: np.ndarray, rgb: np.ndarray | None) -> None:
        mask = np.asarray(mask, bool)
        hist = colour_hist(rgb, mask) if rgb is not None else None
        self._refs.append((int(frame), math.log1p(int(np.count_nonzero(mask))), hist))
        self._refs.sort(key=lambda r: r[0])

    def _ref_log_area(self, frame: int) -> float:
        if not self._refs:
            return NAN
        before = [r for r in self._refs if r[0] <= frame]
        return (before[-1] if before else self._refs[0])[1]

    def remember(self, frame: int, mask: np.ndarray, rgb: np.ndarray | None = None) -> None:
        """Take frame `frame` as the previous one of the next push without computing its signals."""
        mask = np.asarray(mask, bool)
        area = int(np.count_nonzero(mask))
        self._prev = (int(frame), mask, area, _centroid(mask) if area else None)
        self._prev_view = FlowView(rgb, mask) if rgb is not None else None

    def push(self, frame: int, mask: np.ndarray, rgb: np.ndarray | None = None,
             object_score: float | None = None, pred_iou: float | None = None) -> dict[str, float]:
        mask = np.asarray(mask, bool)
        area = int(np.count_nonzero(mask))
        view = FlowView(rgb, mask) if rgb is not None else None
        sig = dict.fromkeys(NAMES, NAN)
        sig["log_area"] = math.log1p(area)
        sig["log_area_ref"] = sig["log_area"] - self._ref_log_area(frame)
        cen = _centroid(mask) if area else None
        prev = self._prev if self._prev is not None and self._prev[0] == frame - 1 else None
        if prev is not None:
            _, pmask, parea, pcen = prev
            union = int(np.count_nonzero(mask | pmask))
            sig["iou_prev"] = 1.0 if union == 0 else int(np.count_nonzero(mask & pmask)) / union
            if cen is not None and pcen is not None:
                sig["centroid_step"] = math.hypot(cen[0] - pcen[0], cen[1] - pcen[1]) / math.sqrt(parea)
            if view is not None and self._prev_view is not None:
                self._dis = self._dis or cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
                sig["iou_flow"] = flow_iou(self._prev_view, view, self._dis)
        if area:
            sig.update(_shape_signals(mask, area))
        else:
            sig["components"] = 0.0
        hists = [r[2] for r in self._refs if r[2] is not None]
        if not area:
            sig["hist_dist"] = 1.0
        elif rgb is not None and hists:
            hist = colour_hist(rgb, mask)
            sig["hist_dist"] = min(hist_distance(hist, r) for r in hists) if hist is not None else 1.0
        if object_score is not None:
            sig["object_score"] = float(object_score)
        if pred_iou is not None:
            sig["pred_iou"] = float(pred_iou)
        self._prev = (int(frame), mask, area, cen)
        self._prev_view = view
        return sig


def track_signals(masks: dict[int, np.ndarray], frame_rgb: Callable[[int], np.ndarray] | None = None,
                  references: Iterable[int] | None = None, scores: dict[int, dict] | None = None) -> dict[int, dict]:
    """Signals of one object from all its masks {frame: bool HxW} (in memory; the store path
    streams instead). references default to the first frame; scores {frame: {object_score,
    pred_iou}} where the engine gave them."""
    frames = sorted(masks)
    refs = sorted(set(references)) if references is not None else frames[:1]
    ts = TrackSignals()
    for f in refs:
        ts.add_reference(f, masks[f], frame_rgb(f) if frame_rgb else None)
    out = {}
    for f in frames:
        sc = (scores or {}).get(f, {})
        out[f] = ts.push(f, masks[f], frame_rgb(f) if frame_rgb else None, sc.get("object_score"), sc.get("pred_iou"))
    return out


def _digest(*parts: str) -> int:
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return int.from_bytes(h.digest(), "little", signed=True)  # SQLite INTEGER is signed 64-bit


def _counts(rec) -> str:
    c = rec.rle["counts"]
    return c.decode("ascii") if isinstance(c, bytes) else str(c)


@dataclass
class SignalUpdate:
    """What one object's stored signals need: rows to (re)write (values, with their digests)
    and frames whose rows go (no mask there any more). `clear` = the object has no masks."""
    values: dict = field(default_factory=dict)  # {frame: {name: float}}
    digests: dict = field(default_factory=dict)  # {frame: int}
    gone: list = field(default_factory=list)
    clear: bool = False


def item_signal_updates(project, item_id: int, force: bool = False, source=None) -> dict[int, SignalUpdate]:
    """The signal rows of every object of a media item that are stale: whose inputs (own mask,
    previous mask, references) changed since they were stored (all with `force`). Reads only,
    so it runs on a read-only connection too. Frames come from `source` (a FrameSource) or the
    item's media when it is there; without either the colour signal is NaN."""
    from annotator.errors import MediaError

    item = project.item(item_id)
    close = None
    if source is None and item.exists:
        try:
            from annotator.media import open_video

            source = open_video(item.abspath)
            close = getattr(source, "close", None)
        except MediaError:
            source = None

    def rgb(f: int):
        if source is None:
            return None
        try:
            return np.asarray(source.frame(f))
        except (MediaError, IndexError):
            return None

    out: dict[int, SignalUpdate] = {}
    try:
        for track in project.tracks(item_id):
            frames = project.mask_frames(track.id)
            if not frames:
                out[track.id] = SignalUpdate(clear=True)
                continue
            refs = [f for f, src in frames.items() if src in REFERENCE_SOURCES] or [min(frames)]
            ref_recs = [project.mask(track.id, f) for f in refs]
            ref_key = ",".join(f"{f}:{_counts(r)}" for f, r in zip(refs, ref_recs))
            old = project.signal_digests(track.id)
            want: dict[int, int] = {}
            counts: dict[int, str] = {}
            for f in frames:  # digests from RLE strings only: nothing decoded for unchanged rows
                counts[f] = _counts(project.mask(track.id, f))
                want[f] = _digest(str(SIGNALS_VERSION), ref_key, counts.get(f - 1, ""), counts[f])
            upd = SignalUpdate(gone=[f for f in old if f not in frames])
            out[track.id] = upd
            stale = {f for f in frames if force or old.get(f) != want[f]}
            if not stale:
                continue
            ts = TrackSignals()
            for f, rec in zip(refs, ref_recs):
                ts.add_reference(f, rec.mask(), rgb(f))
            for f in sorted(frames):
                # the previous frame (mask and picture) is needed for a stale row even when its
                # own row is fresh
                if f not in stale and f + 1 not in stale:
                    continue
                rec = project.mask(track.id, f)
                if f not in stale:
                    ts.remember(f, rec.mask(), rgb(f))
                    continue
                upd.values[f] = ts.push(f, rec.mask(), rgb(f), None, rec.score)
                upd.digests[f] = want[f]
    finally:
        if close:
            close()
    return out


def write_signal_updates(project, updates: dict[int, SignalUpdate]) -> dict[int, int]:
    """Store what item_signal_updates found; returns {track_id: rows written}. Objects deleted
    meanwhile are skipped (their rows went with them)."""
    from annotator.errors import ProjectError

    written: dict[int, int] = {}
    for tid, upd in updates.items():
        try:
            project.track(tid)
        except ProjectError:
            continue
        if upd.clear:
            project.delete_signals(tid)
        elif upd.gone:
            project.delete_signals(tid, upd.gone)
        if upd.values:
            project.set_signals(tid, upd.values, upd.digests)
        written[tid] = len(upd.values)
    return written


def compute_item_signals(project, item_id: int, force: bool = False, source=None) -> dict[int, int]:
    """(Re)compute and store the signals of every object of a media item; rows whose inputs
    did not change are kept unless `force`. Returns {track_id: rows written}."""
    return write_signal_updates(project, item_signal_updates(project, item_id, force, source))


def signal_matrix(signals: dict[int, dict[str, float]]) -> tuple[list[int], np.ndarray]:
    """(frames, float64 [frames, len(NAMES)]) in NAMES order, NaN where a value is missing."""
    frames = sorted(signals)
    x = np.full((len(frames), len(NAMES)), np.nan)
    for i, f in enumerate(frames):
        for j, n in enumerate(NAMES):
            v = signals[f].get(n)
            if v is not None:
                x[i, j] = v
    return frames, x
