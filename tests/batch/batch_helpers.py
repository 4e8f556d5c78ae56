"""A small project over shared DAVIS sequences: a few frames each, GT frame 0 as the manual mask."""
from __future__ import annotations

import os
from pathlib import Path

DATA = Path(os.environ.get("ANNOTATOR_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "data"

SEQUENCES = ("blackswan", "bmx-trees", "car-shadow", "dog")
FRAMES = 3


def davis_project(tmp: Path, sequences=SEQUENCES, frames: int = FRAMES) -> Path:
    """bench batch's project (one frame-folder item per sequence, GT frame 0 manual)."""
    import pytest

    from annotator.bench.batch import davis_project as make

    root = DATA / "davis2016"
    if not root.is_dir():
        pytest.skip(f"shared DAVIS data not found at {root}")
    return make(root, tmp, sequences, frames)


def masks_by_item(path: Path) -> dict:
    """item name -> {(obj_id, frame): (source, counts)}: what a batch produced, comparable."""
    from annotator.core.store import Project

    out = {}
    with Project.open(path, readonly=True) as p:
        for it in p.items():
            objs = {t.id: t.obj_id for t in p.tracks(it.id)}
            out[it.name] = {(objs[m.track_id], m.frame): (m.source, m.rle["counts"]) for m in p.masks(item_id=it.id)}
    return out


def export_eval_project(tmp: Path) -> Path:
    """Two DAVIS sequences (4 frames, propagated from GT frame 0 by the classic engine) and one
    short video file with manual masks on its first 3 frames: what batch export and eval read."""
    import shutil

    import numpy as np

    from annotator.batch import driver, executors
    from annotator.batch.jobs import PropagateJob
    from annotator.core.store import Project
    from annotator.media import probe

    path = davis_project(tmp, sequences=("blackswan", "car-shadow"), frames=4)
    video = DATA / "videos" / "01_dog.mp4"
    with Project.open(path) as p:
        with executors.LocalExecutor(2) as ex:
            assert driver.run(p, PropagateJob("classic"), ex).done == 2
        if video.is_file():
            local = tmp / "media" / video.name
            shutil.copy(video, local)
            info = probe(local)
            it = p.add_item(local, "video", info.width, info.height, info.num_frames, info.fps)
            t = p.add_track(it.id)
            for f in range(3):
                m = np.zeros((info.height, info.width), bool)
                m[20 + 10 * f:120, 30:200 + 5 * f] = True
                p.set_mask(t.id, f, m, source="manual")
    return path


def tree(folder: Path) -> dict:
    """relative path -> bytes of every file under folder (hidden staging files included)."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def coco_doc(path: Path) -> dict:
    """A COCO or YouTube-VIS document without its creation time (the one field that differs by run)."""
    import json

    doc = json.loads(path.read_text())
    doc["info"].pop("date_created")
    return doc
