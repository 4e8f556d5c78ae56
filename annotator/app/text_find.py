"""Text prompt -> masks ("find every car"): the use case `segment --text` and the app's Find box
both run (no Qt here, torch only through the sessions).

For each label, MaskCLIP's per-patch probability map (ClipSession.dense_scores) is brought to
image size; each connected region above `threshold` becomes one prompt for the active image
model: the region's box plus one positive click at its most interior pixel. The masks are
decoded over the cached image embedding, scored (the image model's own score x the label's mean
probability inside the mask), and duplicates are suppressed per label with the segment-everything
suppression (annotator.everything.nms; mask IoU by default).
`add_to_project` stores the result as `auto` objects with the label as category, one undo step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np



@dataclass
class Found:
    label: str
    mask: np.ndarray  # bool HxW
    score: float  # mask_score * clip_score: the ranking
    clip_score: float  # mean probability of the label inside the mask
    mask_score: float  # the image model's score for the mask
    box: list[float]  # the prompt box, XYXY pixels
    point: list[float]  # the prompt click (x, y)
    prompts: dict = field(default_factory=dict)

    def mask_box(self) -> list[float]:
        ys, xs = np.nonzero(self.mask)
        if len(xs) == 0:
            return [0.0, 0.0, 0.0, 0.0]
        return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


@dataclass
class FindOptions:
    threshold: float = 0.5  # probability a region must exceed
    relative: bool = False  # threshold as a fraction of the map's maximum instead
    min_area: float = 0.001  # smallest region, as a fraction of the image
    max_per_label: int = 20
    nms_iou: float = 0.7
    nms: str = "mask"  # annotator.everything.nms method: mask IoU, or "greedy" for box IoU
    box_margin: float = 0.1  # the region's box grows by this fraction per side: the dense map is
    # coarse (one value per 14-16 px patch) and box prompts work best around the whole object
    min_clip_score: float = 0.0  # drop masks whose mean label probability is lower
    key_smoothing: bool = True
    prompt_denoising: bool = False
    background: Sequence[str] | None = None  # None: ClipSession's default vocabulary


def regions(prob: np.ndarray, threshold: float, min_area: float = 0.0, limit: int = 100) -> list[dict]:
    """Connected regions of `prob > threshold` (HxW): [{box, point, mean, area}], largest mean
    probability x area first. point = the pixel farthest from the region's border."""
    import cv2

    binary = (np.asarray(prob) > threshold).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = binary.shape
    out = []
    for k in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[k])
        if area < max(1, min_area * h * w):
            continue
        comp = (lab[y:y + bh, x:x + bw] == k).astype(np.uint8)
        dist = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        py, px = np.unravel_index(int(np.argmax(dist)), dist.shape)
        mean = float(prob[y:y + bh, x:x + bw][comp > 0].mean())
        out.append({"box": [float(x), float(y), float(x + bw), float(y + bh)],
                    "point": [float(x + px), float(y + py)], "mean": mean, "area": area})
    out.sort(key=lambda r: -r["mean"] * r["area"])
    return out[:limit]


def parse_labels(text: str) -> list[str]:
    """What the app's Find box takes: one label or several, comma-separated ("car, truck")."""
    return list(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))


def find_by_text(clip_session, image_session, rgb: np.ndarray, labels: Sequence[str],
                 options: FindOptions | None = None, stop: Callable[[], bool] | None = None) -> list[Found]:
    """Scored masks for every label, best first (per label, then by score). stop(): checked
    before each prompt; once true, what was found so far is returned (the app's Cancel)."""
    opt = options or FindOptions()
    labels = [lb.strip() for lb in labels if lb and lb.strip()]
    if not labels:
        return []
    clip_session.set_image(rgb)
    kw = {} if opt.background is None else {"background": opt.background}
    ds = clip_session.dense_scores(labels, key_smoothing=opt.key_smoothing,
                                   prompt_denoising=opt.prompt_denoising, **kw)
    image_session.set_image(rgb)
    found: list[Found] = []
    for i, label in enumerate(labels):
        if stop is not None and stop():
            break
        if ds.kept[i]:
            found.extend(masks_from_map(image_session, ds.upsampled(i), label, opt, stop))
    return found


def masks_from_map(image_session, prob: np.ndarray, label: str, options: FindOptions | None = None,
                   stop: Callable[[], bool] | None = None) -> list[Found]:
    """One label's HxW probability map -> scored, de-duplicated masks from the image session
    (which already holds the image)."""
    opt = options or FindOptions()
    thr = opt.threshold * float(prob.max()) if opt.relative else opt.threshold
    h, w = prob.shape
    cands = []
    for r in regions(prob, thr, opt.min_area, opt.max_per_label * 3):
        if stop is not None and stop():
            break
        x0, y0, x1, y1 = r["box"]
        mx, my = opt.box_margin * (x1 - x0), opt.box_margin * (y1 - y0)
        r["box"] = [max(0.0, x0 - mx), max(0.0, y0 - my), min(float(w), x1 + mx), min(float(h), y1 + my)]
        pred = image_session.predict(points=np.asarray([r["point"]], np.float32), labels=np.asarray([1]),
                                     box=np.asarray(r["box"], np.float32), multimask=False)
        mask = np.asarray(pred.mask, bool)
        if not mask.any():
            continue
        clip_score = float(prob[mask].mean())
        if clip_score < opt.min_clip_score:
            continue
        ms = float(pred.scores[pred.best]) if len(pred.scores) else 1.0
        cands.append(Found(label, mask, ms * clip_score, clip_score, ms, r["box"], r["point"],
                           {"points": [r["point"]], "labels": [1], "box": r["box"]}))
    if not cands:
        return []
    from annotator.core import rle
    from annotator.everything.nms import suppress

    boxes = np.asarray([c.mask_box() for c in cands], np.float32)
    scores = np.asarray([c.score for c in cands], np.float32)
    rles = [rle.encode(c.mask) for c in cands] if opt.nms != "greedy" else None
    keep = suppress(opt.nms, boxes, scores, opt.nms_iou, rles)
    return [cands[int(k)] for k in keep[: opt.max_per_label]]


def add_to_project(project, item_id: int, found: Sequence[Found], model: str = "", frame: int = 0) -> list[int]:
    """Store the found masks as `auto` objects, category = label (created when new), all in one
    undo step (and one transaction); returns the new track ids."""
    if not found:
        return []
    names = list(dict.fromkeys(f.label for f in found))
    tracks = []
    with project.atomic(f"Find {', '.join(names)}"):
        cats = {n: project.ensure_category(n) for n in names}
        entries = []
        for f in found:
            t = project.add_track(item_id, category_id=cats[f.label].id,
                                  attributes={"found_by_text": f.label, "clip_score": round(f.clip_score, 4)})
            tracks.append(t.id)
            entries.append({"track_id": t.id, "frame": frame, "mask": f.mask, "source": "auto",
                            "prompts": f.prompts, "model": model, "score": f.score})
        project.set_masks(entries, label="Found masks")
    return tracks
