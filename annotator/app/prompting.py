"""Prompting as a use-case: the clicks of one object on one frame, and what a prediction does
to the store. Front ends collect clicks and show results; the rules live here:
- a prompt resumes from what the store holds (the mask's own clicks, or a box around a mask
  that has none, so a correction stays anchored to the object);
- one positive click and no box asks for several candidates (SAM's rule); later clicks feed
  the chosen candidate's low-res logits back in;
- a prediction becomes the object's "manual" mask in one undo step, creating the object when
  the prompt started a new one; new object ids come from the store;
- cycling walks the candidates of the last prediction;
- a committed prompt is closed: a prediction still on its way stores its mask, but the next
  prompt starts a new object; going back to an existing object is an explicit choice
  (object_at finds the one under a pixel).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.core.model import Prompts


@dataclass
class Candidates:
    """The masks one prediction offered (COCO RLEs). Any object with these four attributes
    serves (the GUI worker's results carry more: a generation number, timings)."""

    rles: list[dict]
    scores: list[float]
    lowres_logits: Any = None  # low-res logits per candidate, or None
    best: int = 0


@dataclass
class PromptState:
    """The clicks of the object being prompted on one frame (dropped on undo: re-read from the store)."""

    item_id: int
    frame: int
    track_id: int | None
    points: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: list[float] | None = None
    logits: Any = None  # low-res logits of the chosen candidate, fed back as mask_input
    candidates: Candidates | None = None
    choice: int = 0
    obj_id: int | None = None  # for clicks that go to a video model
    sent: int = 0  # prompts sent for this state
    closed: bool = False  # committed: late answers store their mask but reopen nothing

    def matches(self, item_id: int, frame: int, track_id: int | None) -> bool:
        return (self.item_id, self.frame, self.track_id) == (item_id, frame, track_id)

    def add_point(self, x: float, y: float, positive: bool) -> None:
        self.points.append([float(x), float(y)])
        self.labels.append(1 if positive else 0)

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        self.box = [float(x0), float(y0), float(x1), float(y1)]

    @property
    def multimask(self) -> bool:
        return len(self.points) == 1 and self.box is None

    @property
    def mask_input(self):
        return self.logits if self.logits is not None and not self.multimask else None

    def prompts(self) -> Prompts:
        return Prompts([list(p) for p in self.points], list(self.labels), self.box)


def resume(project, item_id: int, frame: int, track_id: int | None) -> PromptState:
    """A fresh prompt state for an object on a frame, seeded from what the store holds."""
    ps = PromptState(item_id, frame, track_id)
    if track_id is None:
        return ps
    rec = project.mask(track_id, frame)
    if rec is not None and rec.prompts is not None and (rec.prompts.points or rec.prompts.box):
        ps.points = [list(map(float, p)) for p in rec.prompts.points]
        ps.labels = [int(v) for v in rec.prompts.labels]
        ps.box = list(rec.prompts.box) if rec.prompts.box else None
    elif rec is not None and rec.area != 0:
        x, y, w, h = rec.bbox
        ps.box = [x, y, x + w, y + h]
    return ps


def object_id(project, ps: PromptState) -> int:
    """The object id the prompt's clicks belong to: its track's, or the id a new track will get."""
    if ps.obj_id is None:
        if ps.track_id is not None:
            ps.obj_id = project.track(ps.track_id).obj_id
        else:
            ps.obj_id = project.next_obj_id(ps.item_id)
    return ps.obj_id


def apply_prediction(project, ps: PromptState, cands: Candidates, prompts: Prompts, model: str,
                     category=None) -> int:
    """Store the best candidate as the object's manual mask (one undo step); returns the track id.

    `prompts` are the clicks the prediction was made from (the state may have more by now);
    `category` gives a new object's category id: a value, or a callable run inside the undo
    step (so a category it creates is undone with the click)."""
    best = cands.best if 0 <= cands.best < len(cands.rles) else 0
    with project.group("Click"):
        tid = ps.track_id
        if tid is None:
            tid = project.add_track(ps.item_id, category_id=_value(category), obj_id=ps.obj_id).id
            ps.track_id = tid
        project.set_mask(tid, ps.frame, cands.rles[best], source="manual", prompts=prompts, model=model,
                         score=float(cands.scores[best]) if len(cands.scores) else None)
    ps.candidates, ps.choice = cands, best
    ps.logits = _logits(cands, best)
    return tid


def object_at(project, item_id: int, frame: int, x: float, y: float) -> int | None:
    """The track whose mask on `frame` covers pixel (x, y), the last drawn (topmost) first;
    hidden objects are not offered."""
    xi, yi = int(x), int(y)
    for t in reversed(project.tracks(item_id)):
        rec = None if t.hidden else project.mask(t.id, frame)
        if rec is None or rec.area == 0:
            continue
        bx, by, bw, bh = rec.bbox
        if not (bx <= xi < bx + bw and by <= yi < by + bh):
            continue
        m = rec.mask()
        if 0 <= yi < m.shape[0] and 0 <= xi < m.shape[1] and m[yi, xi]:
            return t.id
    return None


def cycle_candidate(project, ps: PromptState, model: str) -> tuple[int, int, float] | None:
    """Store the next candidate instead; (choice, count, score), or None with fewer than two."""
    cands = ps.candidates
    if cands is None or ps.track_id is None or len(cands.rles) < 2:
        return None
    ps.choice = (ps.choice + 1) % len(cands.rles)
    score = float(cands.scores[ps.choice])
    project.set_mask(ps.track_id, ps.frame, cands.rles[ps.choice], source="manual", prompts=ps.prompts(),
                     model=model, score=score)
    logits = _logits(cands, ps.choice)
    if logits is not None:
        ps.logits = logits
    return ps.choice, len(cands.rles), score


def apply_stroke(project, item_id: int, frame: int, track_id: int | None, stroke: np.ndarray, erase: bool,
                 category=None) -> int | None:
    """Paint (or erase) a stroke into the object's mask (one undo step); returns the track id.
    Erasing needs an object; painting without one starts a new object."""
    if track_id is None and erase:
        return None
    rec = project.mask(track_id, frame) if track_id is not None else None
    old = rec.mask() if rec is not None else np.zeros(stroke.shape, bool)
    new = (old & ~stroke) if erase else (old | stroke)
    with project.group("Erase" if erase else "Brush"):
        if track_id is None:
            track_id = project.add_track(item_id, category_id=_value(category)).id
        if new.any():
            project.set_mask(track_id, frame, new, source="manual", prompts=None, model="")
        elif rec is not None:
            project.delete_masks(track_id, frame, frame)
    return track_id


def _logits(cands: Candidates, i: int):
    logits = cands.lowres_logits
    if logits is not None and len(logits) > i:
        return logits[i]
    return None


def _value(v):
    return v() if callable(v) else v
