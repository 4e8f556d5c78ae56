"""The one prompt validator: clicks and boxes from any source (CLI arguments, a prompts
file, the GUI, an evaluator) are checked here before they reach an engine.

A prompt is valid when every number is finite, every point lies inside the frame
(0 <= x < width, 0 <= y < height; a negative coordinate is refused, never wrapped to the other
side), every label is 1 (positive) or 0 (negative), and a box is x0 < x1, y0 < y1 within
0..width x 0..height. No Qt, no torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from annotator.errors import AnnotatorError


class PromptError(AnnotatorError):
    """A click or box that cannot be given to a model (outside the frame, not a number...)."""


@dataclass(frozen=True)
class CheckedPrompt:
    points: list[list[float]] | None   # [[x, y], ...] in pixels
    labels: list[int] | None           # 1 positive, 0 negative, one per point
    box: list[float] | None            # [x0, y0, x1, y1] in pixels


def _number(v, where: str, what: str) -> float:
    if isinstance(v, bool):
        raise PromptError(f"{where}: {what} must be a number, got {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise PromptError(f"{where}: {what} must be a number, got {str(v)[:40]!r}") from None
    if not math.isfinite(f):
        raise PromptError(f"{where}: {what} must be a finite number, got {f}")
    return f


def check_prompt(points=None, labels=None, box=None, *, width: int, height: int,
                 where: str = "prompt") -> CheckedPrompt:
    """Validate one prompt against a width x height frame; PromptError (one line naming
    `where`) when it is not usable. `labels` defaults to all-positive."""
    w, h = int(width), int(height)
    pts = lab = bx = None
    if points is not None:
        try:
            raw = [tuple(p) for p in points]
        except TypeError:
            raise PromptError(f"{where}: points must be a list of [x, y] pairs") from None
        if raw:
            pts = []
            for i, p in enumerate(raw):
                if len(p) != 2:
                    raise PromptError(f"{where}: point {i} must be [x, y], got {len(p)} numbers")
                x = _number(p[0], where, f"point {i} x")
                y = _number(p[1], where, f"point {i} y")
                if not (0 <= x < w and 0 <= y < h):
                    raise PromptError(f"{where}: point {i} ({x:g}, {y:g}) lies outside the {w}x{h} frame")
                pts.append([x, y])
            if labels is None:
                lab = [1] * len(pts)
            else:
                try:
                    raw_l = list(labels)
                except TypeError:
                    raise PromptError(f"{where}: labels must be a list of 1 (positive) / 0 (negative)") from None
                if len(raw_l) != len(pts):
                    raise PromptError(f"{where}: {len(pts)} points but {len(raw_l)} labels")
                lab = []
                for v in raw_l:
                    f = _number(v, where, "a label")
                    if f not in (0.0, 1.0):
                        raise PromptError(f"{where}: labels must be 1 (positive) or 0 (negative), got {v!r}")
                    lab.append(int(f))
    if box is not None:
        try:
            raw_b = list(box)
        except TypeError:
            raise PromptError(f"{where}: box must be [x0, y0, x1, y1]") from None
        if len(raw_b) != 4:
            raise PromptError(f"{where}: box must be [x0, y0, x1, y1], got {len(raw_b)} numbers")
        x0, y0, x1, y1 = (_number(v, where, f"box {n}") for v, n in zip(raw_b, ("x0", "y0", "x1", "y1")))
        if not (x0 < x1 and y0 < y1):
            raise PromptError(f"{where}: box needs x0 < x1 and y0 < y1, got [{x0:g}, {y0:g}, {x1:g}, {y1:g}]")
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise PromptError(f"{where}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] reaches outside the {w}x{h} frame")
        bx = [x0, y0, x1, y1]
    if pts is None and bx is None:
        raise PromptError(f"{where}: needs at least one point or a box")
    return CheckedPrompt(pts, lab, bx)
