"""The two protocols every engine implements (see DESIGN.md).

The GUI, the CLI, the evaluators and the tests talk only to these, so the classic
engine and the learned models are interchangeable. No Qt and no torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Protocol, Sequence, Union, runtime_checkable

import numpy as np

Direction = Literal["forward", "backward", "both"]


@dataclass
class Prediction:
    """Result of one ImageSession.predict call.

    masks:          bool   [k, H, W] in original image pixels
    scores:         float32 [k]      (predicted IoU, or stability where the family uses it)
    lowres_logits:  float32 [k, h, w] (256x256 for 1024-input models); feed one back as
                    `mask_input` ([1, h, w] or [h, w]) to refine the next click.
    best:           index of the mask the family's selection rule picks.
    """

    masks: np.ndarray
    scores: np.ndarray
    lowres_logits: np.ndarray
    best: int = 0

    @property
    def mask(self) -> np.ndarray:
        return self.masks[self.best]


@runtime_checkable
class ImageSession(Protocol):
    name: str

    def set_image(self, rgb: np.ndarray) -> None:
        """Encode an RGB uint8 HxWx3 image (cached by content hash where possible)."""

    def predict(
        self,
        points: np.ndarray | None = None,  # float [n, 2] (x, y) in image pixels
        labels: np.ndarray | None = None,  # int [n]: 1 positive, 0 negative
        box: np.ndarray | None = None,  # float [4] x0, y0, x1, y1 in image pixels
        mask_input: np.ndarray | None = None,  # low-res logits of a previous prediction
        multimask: bool = True,
    ) -> Prediction: ...


# A video source is a path (video file or frame folder) or an object with
# `num_frames`, `width`, `height`, `fps` and `frame(i) -> RGB uint8 HxWx3`
# (annotator.media.FrameSource).
VideoSourceLike = Union[str, "object"]


@runtime_checkable
class VideoSession(Protocol):
    name: str

    def open(self, source: VideoSourceLike) -> None:
        """Open a video; frames are decoded (and encoded) on demand, never all at once."""

    @property
    def num_frames(self) -> int: ...

    def add_prompt(
        self,
        frame: int,
        obj_id: int,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask: np.ndarray | None = None,  # bool HxW: the object's mask on this frame
    ) -> dict[int, np.ndarray]:
        """Prompt one object on one frame; returns {obj_id: bool HxW mask} for every
        object that has an output on that frame."""

    def propagate(
        self, start: int, direction: Direction = "forward", stop: int | None = None
    ) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """Yield (frame, {obj_id: bool HxW mask}) frame by frame, as soon as each exists.
        `stop` is the last frame (inclusive) in the direction of travel. Callers may stop
        iterating at any frame; what was yielded stays valid."""

    def remove_object(self, obj_id: int) -> None: ...

    def reset(self) -> None: ...


def as_points(points: Sequence | np.ndarray | None) -> np.ndarray | None:
    if points is None:
        return None
    a = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return a if len(a) else None
