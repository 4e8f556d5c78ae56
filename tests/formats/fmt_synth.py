"""Helpers for the format tests: small projects with known masks (imported as a plain module)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from annotator.core.store import Project


def fill_holes(m: np.ndarray) -> np.ndarray:
    """What polygon formats keep of a mask: background not 8-connected to the border is filled."""
    pm = np.pad(m.astype(np.uint8), 1)
    _, lab = cv2.connectedComponents((pm == 0).astype(np.uint8), connectivity=8)
    return ~(lab == lab[0, 0])[1:-1, 1:-1]


def fill_holes_centre(m: np.ndarray) -> np.ndarray:
    """What pixel-centre outlines (labelme, cv2.fillPoly) of 8-connected regions keep:
    background not 4-connected to the border is filled (they enclose diagonal gaps too)."""
    pm = np.pad(m.astype(np.uint8), 1)
    _, lab = cv2.connectedComponents((pm == 0).astype(np.uint8), connectivity=4)
    return ~(lab == lab[0, 0])[1:-1, 1:-1]


def blob(h, w, y0, x0, y1, x1, hole=False):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    if hole and y1 - y0 > 4 and x1 - x0 > 4:
        m[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = False
    return m


def sample_project(folder: Path, name="src.annotator", video_kind="video") -> Project:
    """Two categories, one image (2 objects, one with a hole and two parts), one 12-frame video
    (2 objects over several frames, one uncategorised). Media files do not exist."""
    p = Project.create(folder / name)
    cat = p.add_category("cat")
    dog = p.add_category("dog", supercategory="animal")
    img = p.add_item(folder / "media" / "photo.jpg", "image", 64, 48)
    t1 = p.add_track(img.id, cat.id)
    m = blob(48, 64, 5, 5, 30, 30, hole=True) | blob(48, 64, 35, 40, 45, 60)
    p.set_mask(t1.id, 0, m)
    t2 = p.add_track(img.id, dog.id)
    p.set_mask(t2.id, 0, blob(48, 64, 10, 35, 20, 50))
    vid_path = folder / "media" / ("clip.mp4" if video_kind == "video" else "clip")
    vid = p.add_item(vid_path, video_kind, 40, 32, num_frames=12, fps=24.0)
    a = p.add_track(vid.id, dog.id)
    b = p.add_track(vid.id, None)
    for f in range(0, 12, 2):
        p.set_mask(a.id, f, blob(32, 40, f, 2, f + 10, 20), source="propagated", score=0.5 + f / 100)
    for f in (4, 8):
        p.set_mask(b.id, f, blob(32, 40, 20, 25, 30, 38))
    return p


def masks_by_key(p: Project) -> dict:
    """{(item name, obj_id, frame): mask} for every non-empty mask."""
    out = {}
    for it in p.items():
        for t in p.tracks(it.id):
            for m in p.masks(track_id=t.id):
                mm = m.mask()
                if mm.any():
                    out[(it.name, t.obj_id, m.frame)] = mm
    return out


def category_of(p: Project) -> dict:
    cats = {c.id: c.name for c in p.categories()}
    return {(it.name, t.obj_id): cats.get(t.category_id) for it in p.items() for t in p.tracks(it.id)}


def assert_same_masks(a: Project, b: Project, transform=None, names=None):
    ma, mb = masks_by_key(a), masks_by_key(b)
    if names is not None:
        ma = {k: v for k, v in ma.items() if k[0] in names}
    assert sorted(ma) == sorted(mb)
    for k in ma:
        want = transform(ma[k]) if transform else ma[k]
        assert np.array_equal(want, mb[k]), f"mask {k} differs"


def snapshot(p: Project) -> tuple:
    """Everything an import could change, to prove a failed import changed nothing."""
    return (p.counts(), [(i.id, i.path, i.meta) for i in p.items()], [(c.id, c.name) for c in p.categories()],
            [(t.id, t.obj_id, t.category_id) for t in p.tracks()],
            [(m.track_id, m.frame, m.rle["counts"]) for m in p.masks()], p.can_undo, p.undo_label)
