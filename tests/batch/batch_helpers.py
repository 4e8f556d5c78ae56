"""A small project over shared DAVIS sequences: a few frames each, GT frame 0 as the manual mask."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

DATA = Path(os.environ.get("ANNOTATOR_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "data"

SEQUENCES = ("blackswan", "bmx-trees", "car-shadow", "dog")
FRAMES = 3


def davis_project(tmp: Path, sequences=SEQUENCES, frames: int = FRAMES, images: int = 0) -> Path:
    """A project with one frame-folder item per sequence (their first `frames` frames) holding
    one object whose frame 0 is the ground truth, marked manual; plus `images` single images."""
    import pytest

    from annotator.core.store import Project
    from annotator.media.image import load_image

    root = DATA / "davis2016"
    if not root.is_dir():
        pytest.skip(f"shared DAVIS data not found at {root}")
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "batch.annotator"
    with Project.create(path) as p:
        for seq in sequences:
            folder = tmp / "media" / seq
            folder.mkdir(parents=True)
            for f in range(frames):
                shutil.copy(root / "JPEGImages/480p" / seq / f"{f:05d}.jpg", folder / f"{f:05d}.jpg")
            h, w = load_image(folder / "00000.jpg").shape[:2]
            it = p.add_item(folder, "frames", w, h, frames, 24.0)
            gt = np.asarray(load_image(root / "Annotations/480p" / seq / "00000.png"))
            gt = (gt.max(axis=2) if gt.ndim == 3 else gt) > 0
            t = p.add_track(it.id)
            p.set_mask(t.id, 0, gt, source="manual")
        for k in range(images):
            img = tmp / "media" / f"photo{k}.jpg"
            shutil.copy(root / "JPEGImages/480p" / sequences[k % len(sequences)] / "00000.jpg", img)
            h, w = load_image(img).shape[:2]
            p.add_item(img, "image", w, h, 1, 0.0)
    return path


def masks_by_item(path: Path) -> dict:
    """item name -> {(obj_id, frame): (source, counts)} : what a batch produced, comparable."""
    from annotator.core.store import Project

    out = {}
    with Project.open(path, readonly=True) as p:
        for it in p.items():
            objs = {t.id: t.obj_id for t in p.tracks(it.id)}
            out[it.name] = {(objs[m.track_id], m.frame): (m.source, m.rle["counts"]) for m in p.masks(item_id=it.id)}
    return out
