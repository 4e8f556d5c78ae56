"""Reading a dataset folder in DAVIS layout.

    ROOT/JPEGImages/480p/SEQ/00000.jpg ...
    ROOT/Annotations/480p/SEQ/00000.png ...

Annotations are either greyscale 0/255 (DAVIS 2016: any non-zero pixel is the one
object) or indexed palette PNGs (DAVIS 2017: 0 background, 1..N objects, 255 void).
As in the toolkits, the object ids of a sequence are those present in its first
annotated frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from annotator.errors import AnnotatorError

VOID = 255


class DatasetError(AnnotatorError):
    """A folder is not in DAVIS layout or one of its files cannot be read."""


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{path}: cannot read image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label_png(path: Path) -> np.ndarray:
    """Label map uint8 HxW: object ids, 255 void. Greyscale 0/255 PNGs become 0/1."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            arr = np.array(im)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot read annotation ({e})") from None
    if mode == "P":
        return arr.astype(np.uint8)
    if arr.ndim == 3:  # colour PNG of a binary mask: any non-black pixel is the object
        arr = arr[..., :3].max(axis=2)
    return (arr > 0).astype(np.uint8)


class DavisFrames:
    """The frames of one sequence, decoded on demand (a FrameSource-like object)."""

    def __init__(self, paths: list[Path], fps: float = 24.0):
        if not paths:
            raise DatasetError("sequence has no frames")
        self._paths = paths
        first = _read_rgb(paths[0])
        self.height, self.width = first.shape[:2]
        self.num_frames = len(paths)
        self.fps = fps
        self._cache: tuple[int, np.ndarray] | None = (0, first)

    def __len__(self) -> int:
        return self.num_frames

    def frame(self, i: int) -> np.ndarray:
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1]
        if not 0 <= i < self.num_frames:
            raise IndexError(f"frame {i} out of range 0..{self.num_frames - 1}")
        rgb = _read_rgb(self._paths[i])
        self._cache = (i, rgb)
        return rgb


@dataclass
class Sequence:
    name: str
    frame_paths: list[Path]
    label_paths: list[Path | None]  # aligned with frame_paths; None where no GT exists

    def frames(self) -> DavisFrames:
        return DavisFrames(self.frame_paths)

    def labels(self, i: int) -> np.ndarray | None:
        p = self.label_paths[i]
        return None if p is None else read_label_png(p)

    def object_ids(self) -> list[int]:
        first = self.labels(0)
        if first is None:
            raise DatasetError(f"{self.frame_paths[0].parent}: first frame has no annotation")
        return [int(v) for v in np.unique(first) if v not in (0, VOID)]


def _res_dir(root: Path, kind: str) -> Path:
    base = root / kind
    for res in ("480p", "Full-Resolution"):
        if (base / res).is_dir():
            return base / res
    return base / "480p"


def list_sequences(root: str | Path, names: list[str] | None = None) -> list[Sequence]:
    """Sequences of a DAVIS-layout folder, sorted by name (or in the order of `names`)."""
    root = Path(root)
    img_root = _res_dir(root, "JPEGImages")
    ann_root = _res_dir(root, "Annotations")
    if not img_root.is_dir() or not ann_root.is_dir():
        raise DatasetError(f"{root}: not a DAVIS folder (expected JPEGImages/480p/SEQ and Annotations/480p/SEQ)")
    available = sorted(p.name for p in img_root.iterdir() if p.is_dir())
    if names:
        missing = [n for n in names if n not in available]
        if missing:
            raise DatasetError(f"{img_root}: no sequence named {', '.join(missing)}")
        chosen = list(names)
    else:
        chosen = available
    seqs = []
    for name in chosen:
        frames = sorted(p for p in (img_root / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not frames:
            raise DatasetError(f"{img_root / name}: no frames")
        labels = []
        for f in frames:
            lp = ann_root / name / (f.stem + ".png")
            labels.append(lp if lp.is_file() else None)
        if labels[0] is None:
            raise DatasetError(f"{ann_root / name}: no annotation for the first frame {frames[0].stem}.png")
        seqs.append(Sequence(name, frames, labels))
    if not seqs:
        raise DatasetError(f"{img_root}: no sequences")
    return seqs
