"""The review queue: frames of a project's objects that a detector flags as likely drifted,
highest score first, without the frames a person already looked at (marked reviewed) or drew
(manual masks). Used by `annotator review` and the app's queue panel (app/review.py)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from annotator.review.detectors import DEFAULT_PARAMS, features, make_detector, score_frames, standardise
from annotator.review.signals import REFERENCE_SOURCES, compute_item_signals


@dataclass
class Flag:
    item_id: int
    track_id: int
    obj_id: int
    frame: int
    score: float
    signals: dict
    reviewed: bool = False  # only listed with keep_reviewed
    reasons: list = field(default_factory=list)  # [(feature, robust z)], worst first

    def to_json(self, item_name: str = "") -> dict:
        return {"item": self.item_id, "item_name": item_name, "track_id": self.track_id, "obj_id": self.obj_id,
                "frame": self.frame, "score": self.score,
                "signals": {k: (None if math.isnan(v) else v) for k, v in self.signals.items()},
                "reasons": [{"feature": n, "z": z} for n, z in self.reasons]}


@dataclass
class Queue:
    detector: str
    params: dict
    threshold: float
    scored: int  # frames the detector scored (the pool)
    flags: list[Flag] = field(default_factory=list)  # flagged, not reviewed, highest score first
    reviewed_dropped: int = 0  # flagged but marked reviewed


def review_queue(project, item_ids: list[int] | None = None, detector: str = "rglasso",
                 threshold: float | None = None, params: dict | None = None, update: bool = True,
                 keep_reviewed: bool = False) -> Queue:
    """Score every frame with a mask of the chosen items' objects (one pool, so objects learn
    from each other) and list the flagged ones. update=True (re)computes stale signals first."""
    items = [project.item(i) for i in item_ids] if item_ids else project.items()
    per_track: dict = {}
    for it in items:
        if update:
            compute_item_signals(project, it.id)
        for t in project.tracks(it.id):
            per_track[t.id] = project.signals(t.id)
    return queue_of(project, per_track, detector, threshold, params, keep_reviewed)


def queue_of(project, per_track: dict, detector: str = "rglasso", threshold: float | None = None,
             params: dict | None = None, keep_reviewed: bool = False) -> Queue:
    """The queue of a pool of objects' signals, per_track {track_id: {frame: signals}} (as
    stored, or just computed). Frames a person drew never count as flagged; reviewed ones are
    left out (counted in reviewed_dropped) unless keep_reviewed, which keeps them with
    Flag.reviewed set (the app shows them again when the mark is undone)."""
    per_track = {tid: sig for tid, sig in per_track.items() if sig}
    meta = {}
    for tid in per_track:
        t = project.track(tid)
        meta[tid] = (t.item_id, t.obj_id, project.mask_frames(tid), project.reviewed_frames(tid))
    p = {**DEFAULT_PARAMS.get(detector, {}), **(params or {})}
    det = make_detector(detector, threshold, **p)
    feats = features(per_track)
    queue = Queue(detector, p, det.threshold, len(feats.keys))
    if not feats.keys:
        return queue
    scores = score_frames(det, feats)
    z, keep = standardise(feats.x)
    names = [n for n, k in zip(feats.names, keep) if k]
    for i, ((tid, frame), s, flagged) in enumerate(zip(feats.keys, scores, det.flags(scores))):
        item_id, obj_id, sources, reviewed = meta[tid]
        if not flagged or sources.get(frame) in REFERENCE_SOURCES:
            continue
        if frame in reviewed:
            queue.reviewed_dropped += 1
            if not keep_reviewed:
                continue
        flag = Flag(item_id, tid, obj_id, frame, float(s), per_track[tid][frame], reviewed=frame in reviewed)
        flag.reasons = _reasons(names, z[i])
        queue.flags.append(flag)
    queue.flags.sort(key=lambda f: (-f.score, f.item_id, f.obj_id, f.frame))
    return queue


REASON_MIN_Z = 2.0  # a feature this many robust deviations worse than the pool's typical frame


def _reasons(names: list[str], z, top: int = 3) -> list[tuple[str, float]]:
    """The features that make a frame stand out: (feature, robust z), worst first, the top few
    above REASON_MIN_Z (the same standardised features every detector sees)."""
    order = sorted(range(len(names)), key=lambda j: -z[j])
    return [(names[j], round(float(z[j]), 1)) for j in order[:top] if z[j] >= REASON_MIN_Z]
