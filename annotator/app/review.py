"""The app's review queue of one video: what the queue panel and the timeline marks show.

- `compute` runs off the GUI thread on its own read-only connection: it finds the stale signal
  rows (annotator/review/signals.py), scores the video's objects as one pool and keeps every
  flagged frame, reviewed ones included, so undoing a mark brings its flag straight back.
- `store_signals` writes the rows it computed, on the GUI thread's connection (the only
  writer), so the next compute after a correction only redoes the frames it touched.
- `visible` is what is shown now: flags minus frames marked reviewed or drawn by a person
  since, cheap enough to run after every store change.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotator.review.queue import Flag, queue_of
from annotator.review.signals import REFERENCE_SOURCES, SignalUpdate, item_signal_updates, write_signal_updates

DETECTOR = "rglasso"

# feature (review/detectors.FEATURES) -> what the panel says about a frame where it stands out
FEATURE_WORDS = {
    "area_vs_ref": "size unlike the reference",
    "area_change": "size jumped",
    "iou_loss": "little overlap with the previous frame",
    "centroid_step": "moved far",
    "boundary_ratio": "ragged outline",
    "extra_parts": "split in parts",
    "border_frac": "runs along the image border",
    "hist_dist": "colour unlike the reference",
    "score_loss": "low model score",
    "flow_loss": "did not move with the picture",
}


@dataclass
class ItemQueue:
    item_id: int
    detector: str
    threshold: float
    scored: int  # frames scored (every frame of the video's objects with a mask)
    flags: list[Flag] = field(default_factory=list)  # highest score first, reviewed ones included
    updates: dict[int, SignalUpdate] = field(default_factory=dict)  # signal rows to store


def compute(project_path, item_id: int, detector: str = DETECTOR) -> ItemQueue:
    """The queue of one media item, read through a read-only connection of its own."""
    from annotator.core.store import Project

    ro = Project.open(project_path, readonly=True)
    try:
        updates = item_signal_updates(ro, item_id)
        per_track = {}
        for t in ro.tracks(item_id):
            upd = updates.get(t.id, SignalUpdate())
            if upd.clear:
                continue
            sig = ro.signals(t.id)
            for f in upd.gone:
                sig.pop(f, None)
            # as stored (float32), so the next compute, from the stored rows, scores the same
            sig.update({f: {n: float(np.float32(v)) for n, v in row.items()} for f, row in upd.values.items()})
            per_track[t.id] = sig
        q = queue_of(ro, per_track, detector, keep_reviewed=True)
    finally:
        ro.close()
    return ItemQueue(item_id, q.detector, q.threshold, q.scored, q.flags, updates)


def store_signals(project, iq: ItemQueue) -> int:
    """Write the signal rows `compute` found stale; returns how many."""
    written = write_signal_updates(project, iq.updates)
    iq.updates = {}
    return sum(written.values())


def visible(project, iq: ItemQueue | None) -> list[Flag]:
    """The flags to show now, highest score first: not reviewed, object still there, frame
    not drawn by a person (a correction is a person's frame, so it leaves the queue)."""
    if iq is None:
        return []
    tracks = {t.id for t in project.tracks(iq.item_id)}
    reviewed = project.reviewed_marks(iq.item_id)
    sources = {tid: project.mask_frames(tid) for tid in {f.track_id for f in iq.flags} & tracks}
    return [f for f in iq.flags if f.track_id in tracks and f.frame not in reviewed.get(f.track_id, ())
            and f.frame in sources[f.track_id] and sources[f.track_id][f.frame] not in REFERENCE_SOURCES]


def severity(flags: list[Flag]) -> dict[tuple[int, int], float]:
    """(track_id, frame) -> 0..1 by the rank of its score among the shown flags' distinct scores
    (1 = the highest, equal scores alike): detector scores have no common scale, ranks do."""
    levels = sorted({f.score for f in flags})
    top = max(1, len(levels) - 1)
    rank = {v: (i / top if len(levels) > 1 else 1.0) for i, v in enumerate(levels)}
    return {(f.track_id, f.frame): rank[f.score] for f in flags}


def reasons_text(flag: Flag) -> str:
    """The features behind a flag in words, worst first ("" when none stands out alone)."""
    return "; ".join(FEATURE_WORDS.get(name, name) for name, _z in flag.reasons)


def step(flags: list[Flag], frame: int, obj_id: int | None, direction: int) -> Flag | None:
    """The next (direction 1) or previous (-1) shown flag in frame order from (frame, object)."""
    order = sorted(flags, key=lambda f: (f.frame, f.obj_id))
    here = (frame, -1 if obj_id is None else obj_id) if direction > 0 else (frame, 10**9 if obj_id is None else obj_id)
    if direction > 0:
        return next((f for f in order if (f.frame, f.obj_id) > here), None)
    return next((f for f in reversed(order) if (f.frame, f.obj_id) < here), None)
