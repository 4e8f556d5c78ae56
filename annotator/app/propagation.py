"""Propagation as a use-case: what a run does (the plan) and how its masks reach the store (the run).

The GUI and `annotator propagate` both plan here and stream here; neither writes propagated
masks itself. Rules that live here and nowhere else:
- the seeds are the masks of the chosen, unlocked objects on the start frame;
- frames a person made by hand ("manual") stay: propagation fills in around them, except
  on the start frame, which the run itself re-seeds;
- an empty result deletes a stored propagated mask (the object left the frame);
- a run is one undo step (store.begin_group/end_group), and a cancelled or failed run keeps
  every frame already written (the group is not atomic).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from annotator.core import rle as rle_mod

DIRECTIONS = ("forward", "backward", "both")


@dataclass(frozen=True)
class PropagationPlan:
    item_id: int
    start: int
    direction: str
    num_frames: int
    seeds: dict[int, dict] = field(default_factory=dict)  # obj_id -> RLE on the start frame
    objmap: dict[int, int] = field(default_factory=dict)  # obj_id -> track id
    keep: dict[int, frozenset] = field(default_factory=dict)  # track id -> frames left alone

    @property
    def label(self) -> str:
        return f"Propagate {self.direction} from frame {self.start}"  # frames count from 0 everywhere

    @property
    def frame_range(self) -> tuple[int, int]:
        last = self.num_frames - 1
        return {"forward": (self.start, last), "backward": (0, self.start), "both": (0, last)}[self.direction]

    @property
    def total(self) -> int:
        """Frames the run produces besides the start frame (the progress bar's length)."""
        lo, hi = self.frame_range
        return hi - lo


def plan(project, item, frame: int, direction: str, track_ids=None) -> PropagationPlan:
    """The run from `frame` over `track_ids` (all of the item's objects when None). An empty
    plan (no seeds) means nothing can be propagated from here."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}")
    tracks = project.tracks(item.id)
    wanted = None if track_ids is None else set(track_ids)
    seeds, objmap, keep = {}, {}, {}
    for t in tracks:
        if t.locked or (wanted is not None and t.id not in wanted):
            continue
        rec = project.mask(t.id, frame)
        if rec is None or rec.area == 0:
            continue
        seeds[t.obj_id] = rec.rle
        objmap[t.obj_id] = t.id
        keep[t.id] = frozenset(f for f, s in project.mask_frames(t.id).items() if s == "manual" and f != frame)
    return PropagationPlan(item.id, int(frame), direction, int(item.num_frames), seeds, objmap, keep)


class PropagationRun:
    """Streams one run's masks into the store as RLE, in batches, inside one undo group.

    add() buffers a frame; flush() writes what is buffered in one transaction (the caller
    decides when: the GUI on a timer, the CLI every few frames); finish() flushes and closes
    the undo group. A run must be finished exactly once, whatever the outcome."""

    def __init__(self, project, plan: PropagationPlan, model: str = "", source: str = "propagated"):
        self.project = project
        self.plan = plan
        self.model = model
        self.source = source
        self.frames = 0  # frames received
        self.front: int | None = None  # the latest frame received
        self._pending: list[dict] = []
        self._deletes: list[tuple[int, int]] = []
        self._open = True
        project.begin_group(plan.label)

    def add(self, frame: int, masks: dict[int, dict]) -> None:
        """One frame's results: obj_id -> COCO RLE (objects outside the plan are ignored)."""
        for obj_id, r in masks.items():
            tid = self.plan.objmap.get(obj_id)
            if tid is None or frame in self.plan.keep.get(tid, ()):
                continue
            if rle_mod.is_empty(r):
                if self.project.mask(tid, frame) is not None:
                    self._deletes.append((tid, frame))
                continue
            self._pending.append(dict(track_id=tid, frame=frame, rle=r, source=self.source, model=self.model))
        self.frames += 1
        self.front = frame

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._deletes)

    def flush(self) -> None:
        entries, self._pending = self._pending, []
        deletes, self._deletes = self._deletes, []
        if entries:
            self.project.set_masks(entries, label=self.plan.label)
        for tid, f in deletes:
            self.project.delete_masks(tid, f, f, source=self.source)

    def finish(self) -> None:
        """Write what is left and close the undo group (also after a failed flush)."""
        if not self._open:
            return
        self._open = False
        try:
            self.flush()
        finally:
            self.project.end_group()
