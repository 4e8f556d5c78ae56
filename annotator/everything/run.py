"""Segment everything as a use case (no Qt): the CLI calls it now, the GUI's worker later.

    session = open_session("tinysam", weights)        # any image engine; cached embeddings
    result  = segment_image(session, rgb, mode="hierarchical", nms="fast")
    coco    = to_coco([("a.jpg", h, w, result.records)])
    added   = add_to_project(project, item, frame, result.records, model="tinysam")

Sessions without a batched decoder (the classic engine) are wrapped by `PromptAdapter`,
which asks for one mask per click; their masks carry no logits, so the stability filter sees
+-10 and always passes, and predicted IoU is the engine's own score.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from annotator.errors import AnnotatorError

PROJECT_SUFFIX = ".annotator"
AUTO_SOURCE = "auto"


class PromptAdapter:
    """`predict_points` / `upsample_logits` over any ImageSession's `predict` (one click at a
    time). Masks stay boolean until one is asked for, so a batch costs B bool images."""

    def __init__(self, session) -> None:
        self.session = session
        self.name = getattr(session, "name", "engine")
        self.encoder_runs = 0
        self._hw = None

    def set_image(self, rgb: np.ndarray) -> None:
        self.session.set_image(rgb)
        self._hw = rgb.shape[:2]
        self.encoder_runs += 1

    def predict_points(self, points_xy: np.ndarray):
        masks, scores = [], []
        for x, y in np.asarray(points_xy, np.float64).reshape(-1, 2):
            p = self.session.predict(points=np.array([[x, y]], np.float32), labels=np.array([1]), multimask=False)
            masks.append(p.masks[p.best])
            scores.append(float(p.scores[p.best]) if len(p.scores) else 1.0)
        low = np.stack(masks)[:, None] if masks else np.zeros((0, 1, *self._hw), bool)
        return low, np.asarray(scores, np.float32).reshape(-1, 1)

    def upsample_logits(self, low) -> np.ndarray:
        return np.where(np.asarray(low, bool), np.float32(10.0), np.float32(-10.0))


def as_everything_session(session):
    return session if hasattr(session, "predict_points") else PromptAdapter(session)


def open_session(model: str | None, weights=None):
    from annotator.engines import registry

    name = model or registry.default_engine_name("image")
    return as_everything_session(registry.create_image_session(name, weights)), name


@dataclass
class Result:
    records: list[dict]
    seconds: float
    stats: dict = field(default_factory=dict)


def options_for(session, mode: str, nms: str = "greedy", **over):
    """Official defaults, except where the engine has no learned scores (PromptAdapter):
    there the IoU filter only drops the engine's own "found nothing" answers (score <= 0.5) and
    the grid is coarser (each click is a full segmentation)."""
    from annotator.everything.generator import Options

    base: dict = {"nms": nms}
    if isinstance(session, PromptAdapter):
        # no learned IoU, but a score of 0.5 or less is an engine's own "no object found here"
        # (the classic engine's extent guess scores 0.1): those are not proposals
        base.update(pred_iou_thresh=0.5, stability_score_thresh=0.0, points_per_side=8 if mode == "grid" else 16)
    base.update({k: v for k, v in over.items() if v is not None})
    return Options.from_dict(base)


def segment_image(session, rgb: np.ndarray, mode: str = "grid", nms: str = "greedy", opts=None,
                  progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
                  **over) -> Result:
    from annotator.everything.generator import generate
    from annotator.everything.masks import Stats

    session = as_everything_session(session)
    opts = opts or options_for(session, mode, nms, **over)
    stats = Stats()
    t0 = time.perf_counter()
    recs = generate(session, rgb, opts, mode=mode, progress=progress, cancel=cancel, stats=stats)
    return Result(recs, time.perf_counter() - t0, asdict(stats))


# ------------------------------------------------------------------------ outputs


def to_coco(images: list[tuple[str, int, int, list[dict]]], category: str = "object") -> dict:
    """COCO instances with RLE segmentations; each annotation keeps the generator's fields
    (score = predicted_iou)."""
    out = {"images": [], "annotations": [], "categories": [{"id": 1, "name": category, "supercategory": ""}]}
    aid = 0
    for iid, (name, h, w, recs) in enumerate(images, start=1):
        out["images"].append({"id": iid, "file_name": name, "width": int(w), "height": int(h)})
        for r in recs:
            aid += 1
            out["annotations"].append({
                "id": aid, "image_id": iid, "category_id": 1, "iscrowd": 0,
                "segmentation": r["segmentation"], "area": r["area"], "bbox": r["bbox"],
                "score": r["predicted_iou"], "predicted_iou": r["predicted_iou"],
                "stability_score": r["stability_score"], "point_coords": r["point_coords"],
                "crop_box": r["crop_box"],
            })
    return out


def add_to_project(project, item, frame: int, records: list[dict], model: str = "",
                   label: str = "Segment everything") -> list[int]:
    """One object (track) per record, masks of source "auto", all in ONE undo step.
    Returns the new track ids."""
    tids = []
    project.begin_group(f"{label} ({len(records)} objects)")
    try:
        entries = []
        for r in records:
            t = project.add_track(item.id)
            tids.append(t.id)
            entries.append({"track_id": t.id, "frame": int(frame), "rle": r["segmentation"], "source": AUTO_SOURCE,
                            "prompts": {"points": r["point_coords"], "labels": [1]}, "model": model,
                            "score": r["predicted_iou"]})
        if entries:
            project.set_masks(entries, label)
    finally:
        project.end_group()
    return tids


# ------------------------------------------------------------------------ inputs


def is_project(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == PROJECT_SUFFIX


def image_files(path: Path) -> list[Path]:
    from annotator.media import IMAGE_EXTENSIONS

    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise AnnotatorError(f"{path}: no images in this folder")
        return files
    if not path.exists():
        raise AnnotatorError(f"{path}: file not found")
    return [path]
