"""Folders of frame images (DAVIS / SA-V JPEG sequences) as a FrameSource."""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from annotator.core import limits
from annotator.errors import MediaError
from annotator.media.image import IMAGE_EXTENSIONS, image_size, load_image
from annotator.media.source import FrameSource

_DIGITS = re.compile(r"(\d+)")


def _natural_key(name: str):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in _DIGITS.split(name) if t]


def list_frame_files(folder: str | os.PathLike) -> list[Path]:
    """Image files of a frame folder in frame order.

    Numeric names sort by their integer value (so 9.jpg comes before 10.jpg even without zero
    padding); other names sort naturally (digit runs compared as numbers)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder}: frame folder not found")
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS]
    if all(p.stem.isdigit() for p in files):
        files.sort(key=lambda p: (int(p.stem), p.name))
    else:
        files.sort(key=lambda p: _natural_key(p.name))
    return files


class FrameFolderSource(FrameSource):
    kind = "frames"

    def __init__(self, path: str | os.PathLike, cache_frames: int = 32, fps: float = 0.0):
        super().__init__(cache_frames)
        self.path = str(path)
        self.files = list_frame_files(path)
        if not self.files:
            raise MediaError(f"{path}: no image frames in folder")
        self.width, self.height = image_size(self.files[0])
        self.num_frames = len(self.files)
        bad = limits.frames_problem(self.num_frames)
        if bad:
            raise MediaError(f"{path}: frame folder length {bad}")
        self.fps = float(fps)  # a folder carries no frame rate; 0 means unknown

    def _decode(self, i: int) -> np.ndarray:
        arr = load_image(self.files[i])
        if arr.shape[:2] != (self.height, self.width):
            raise MediaError(f"{self.files[i]}: frame is {arr.shape[1]}x{arr.shape[0]}, "
                             f"but the sequence is {self.width}x{self.height}")
        return arr


class ImageSource(FrameSource):
    """A still image seen as a one-frame source, so callers need not special-case it."""
    kind = "image"

    def __init__(self, path: str | os.PathLike, cache_frames: int = 1):
        super().__init__(max(1, cache_frames))
        self.path = str(path)
        self.width, self.height = image_size(path)
        self.num_frames = 1
        self.fps = 0.0

    def _decode(self, i: int) -> np.ndarray:
        return load_image(self.path)
