"""The review queue: frames of a project's objects that a detector flags as likely drifted,
highest score first, without the frames a person already looked at (marked reviewed) or drew
(manual masks). Used by `annotator review` (and later the GUI's queue panel)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from annotator.review.detectors import DEFAULT_PARAMS, features, make_detector, score_frames
from annotator.review.signals import REFERENCE_SOURCES, compute_item_signals


@dataclass
class Flag:
    item_id: int
    track_id: int
    obj_id: int
    frame: int
    score: float
    signals: dict

    def to_json(self, item_name: str = "") -> dict:
        return {"item": self.item_id, "item_name": item_name, "track_id": self.track_id, "obj_id": self.obj_id,
                "frame": self.frame, "score": self.score,
                "signals": {k: (None if math.isnan(v) else v) for k, v in self.signals.items()}}


@dataclass
class Queue:
    detector: str
    params: dict
    threshold: float
    scored: int  # frames the detector scored (the pool)
    flags: list[Flag] = field(default_factory=list)  # flagged, not reviewed, highest score first
    reviewed_dropped: int = 0  # flagged but marked reviewed


def review_queue(project, item_ids: list[int] | None = None, detector: str = "rglasso",
                 threshold: float | None = None, params: dict | None = None, update: bool = True) -> Queue:
    """Score every frame with a mask of the chosen items' objects (one pool, so objects learn
    from each other) and list the flagged ones. update=True (re)computes stale signals first."""
    items = [project.item(i) for i in item_ids] if item_ids else project.items()
    per_track: dict = {}
    meta: dict = {}
    for it in items:
        if update:
            compute_item_signals(project, it.id)
        for t in project.tracks(it.id):
            sig = project.signals(t.id)
            if sig:
                per_track[t.id] = sig
                meta[t.id] = (it.id, t.obj_id, project.mask_frames(t.id), project.reviewed_frames(t.id))
    p = {**DEFAULT_PARAMS.get(detector, {}), **(params or {})}
    det = make_detector(detector, threshold, **p)
    feats = features(per_track)
    queue = Queue(detector, p, det.threshold, len(feats.keys))
    if not feats.keys:
        return queue
    scores = score_frames(det, feats)
    for (tid, frame), s, flagged in zip(feats.keys, scores, det.flags(scores)):
        item_id, obj_id, sources, reviewed = meta[tid]
        if not flagged or sources.get(frame) in REFERENCE_SOURCES:
            continue
        if frame in reviewed:
            queue.reviewed_dropped += 1
            continue
        queue.flags.append(Flag(item_id, tid, obj_id, frame, float(s), per_track[tid][frame]))
    queue.flags.sort(key=lambda f: (-f.score, f.item_id, f.obj_id, f.frame))
    return queue

