"""The data model: Category, MediaItem, Track, MaskRecord and the prompts behind a mask.

Plain frozen dataclasses; the store (store.py) reads and writes them. No Qt, no torch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from annotator.core import rle as _rle

MediaKind = Literal["image", "video", "frames"]
MaskSource = Literal["manual", "propagated", "imported", "auto"]
MASK_SOURCES = ("manual", "propagated", "imported", "auto")
MEDIA_KINDS = ("image", "video", "frames")

Color = tuple[int, int, int]

# Distinct, readable colours for new objects/categories (cycled).
PALETTE: list[Color] = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128),
]


def palette_color(i: int) -> Color:
    return PALETTE[i % len(PALETTE)]


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    color: Color
    supercategory: str = ""
    meta: dict = field(default_factory=dict, compare=False)  # e.g. {"source_id": 5} (schema v4)


@dataclass(frozen=True)
class MediaItem:
    id: int
    path: str  # as stored: relative to the project folder when possible
    kind: MediaKind
    width: int
    height: int
    num_frames: int
    fps: float
    name: str
    meta: dict = field(default_factory=dict, compare=False)
    base_dir: str = field(default="", compare=False, repr=False)

    @property
    def abspath(self) -> Path:
        p = Path(self.path)
        return p if p.is_absolute() or not self.base_dir else Path(self.base_dir) / p

    @property
    def exists(self) -> bool:
        return os.path.exists(self.abspath)

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "frames")


@dataclass(frozen=True)
class Track:
    id: int
    item_id: int
    obj_id: int
    category_id: int | None
    color: Color
    attributes: dict = field(default_factory=dict, compare=False)
    hidden: bool = False
    locked: bool = False


@dataclass(frozen=True)
class Prompts:
    points: list = field(default_factory=list)  # [[x, y], ...] in original pixels
    labels: list = field(default_factory=list)  # 1 positive, 0 negative
    box: list | None = None  # [x0, y0, x1, y1]

    def to_json(self) -> str:
        return json.dumps({"points": self.points, "labels": self.labels, "box": self.box})

    @classmethod
    def from_json(cls, s: str | None) -> "Prompts | None":
        if not s:
            return None
        d = json.loads(s)
        return cls(points=d.get("points") or [], labels=d.get("labels") or [], box=d.get("box"))

    @classmethod
    def of(cls, points=None, labels=None, box=None) -> "Prompts":
        pts = [] if points is None else np.asarray(points, float).reshape(-1, 2).tolist()
        lab = [] if labels is None else [int(v) for v in np.asarray(labels).reshape(-1)]
        bx = None if box is None else [float(v) for v in np.asarray(box).reshape(-1)]
        return cls(points=pts, labels=lab, box=bx)


@dataclass(frozen=True)
class MaskRecord:
    track_id: int
    frame: int
    rle: dict
    source: MaskSource
    prompts: Prompts | None = None
    model: str = ""
    score: float | None = None

    def mask(self) -> np.ndarray:
        return _rle.decode(self.rle)

    @property
    def area(self) -> int:
        return _rle.area(self.rle)

    @property
    def bbox(self) -> list[float]:
        return _rle.bbox(self.rle)
