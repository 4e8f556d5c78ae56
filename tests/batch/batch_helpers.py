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
