"""Propagation runs for `annotator eval review`, cached on disk so reruns (tuning, another
detector) cost only the detectors.

One run = one object of one DAVIS sequence started from its first-frame ground-truth mask
and propagated forward (as in eval vos). Kept per frame: the mask (COCO RLE), J against the
ground truth, and the drift signals (annotator/review/signals.py). The cache file is named
by a digest of the engine, the frames (names, sizes, modification times) and the signal
version, so a changed input is a new file, never a stale read; signals computed under another
definition are recomputed from the cached masks. It is JSON (never pickle).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.core import rle
from annotator.eval.davis import VOID, Sequence
from annotator.eval.metrics import j_measure
from annotator.review.signals import SIGNALS_VERSION, TrackSignals

CACHE_VERSION = 1


@dataclass
class Run:
    sequence: str
    obj_id: int
    frames: list[int]  # frames with a prediction, in order (frame 0 is the prompt)
    J: dict[int, float]  # frame -> J in 0..1 where ground truth exists
    signals: dict[int, dict[str, float]]
    seconds: float  # propagation time
    masks: dict[int, dict]  # frame -> COCO RLE of the prediction
    cached: bool = False

    def to_json(self) -> dict:
        return {"sequence": self.sequence, "obj_id": self.obj_id, "frames": self.frames,
                "J": {str(k): v for k, v in self.J.items()}, "signals_version": SIGNALS_VERSION,
                "signals": {str(k): v for k, v in self.signals.items()}, "seconds": self.seconds,
                "masks": {str(k): v for k, v in self.masks.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "Run":
        return cls(d["sequence"], int(d["obj_id"]), [int(f) for f in d["frames"]],
                   {int(k): float(v) for k, v in d["J"].items()},
                   {int(k): {n: float(x) for n, x in v.items()} for k, v in d["signals"].items()},
                   float(d["seconds"]), {int(k): v for k, v in d["masks"].items()}, cached=True)

    def recompute_signals(self, seq: Sequence) -> None:
        """Signals again from the cached masks (after a change of their definitions)."""
        frames = seq.frames()
        first = seq.labels(0) == self.obj_id
        ts = TrackSignals()
        ts.add_reference(0, first, frames.frame(0))
        old = self.signals
        self.signals = {}
        for f in self.frames:
            score = old.get(f, {}).get("object_score")
            score = None if score is None or score != score else score
            self.signals[f] = ts.push(f, rle.decode(self.masks[f]), frames.frame(f), object_score=score)


def drifted(J: dict[int, float], frames: list[int], low: float = 0.5, fall: float = 0.2) -> dict[int, bool]:
    """A frame drifted where J < low or J fell by more than `fall` from the previous frame."""
    out = {}
    prev = None
    for f in frames:
        j = J.get(f)
        if j is None:
            prev = None
            continue
        out[f] = j < low or (prev is not None and prev - j > fall)
        prev = j
    return out


def _key(engine: str, seq: Sequence) -> str:
    h = hashlib.blake2b(digest_size=10)
    h.update(f"{CACHE_VERSION}/{engine}/{seq.name}".encode())
    for p in seq.frame_paths + [p for p in seq.label_paths if p is not None]:
        st = os.stat(p)
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]


def cache_file(cache_dir: Path, engine: str, seq: Sequence) -> Path:
    return Path(cache_dir) / f"{_safe(engine)}-{_safe(seq.name)}-{_key(engine, seq)}.json"


def _write_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def propagate_runs(session, seq: Sequence, engine: str, cache_dir: Path | None,
                   max_frames: int | None = None) -> list[Run]:
    """Runs of every object of a sequence (from the cache when there)."""
    path = cache_file(cache_dir, engine + (f"@{max_frames}" if max_frames else ""), seq) if cache_dir else None
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["runs"]
            runs = [Run.from_json(d) for d in data]
        except (ValueError, KeyError, TypeError, AttributeError):
            runs = None  # a damaged cache file is recomputed and replaced
        if runs is not None:
            if any(d.get("signals_version") != SIGNALS_VERSION for d in data):
                for r in runs:
                    r.recompute_signals(seq)
                _write_atomic(path, {"runs": [r.to_json() for r in runs]})
            return runs
    frames = seq.frames()
    n = frames.num_frames if max_frames is None else min(frames.num_frames, max_frames)
    first = seq.labels(0)
    ids = seq.object_ids()
    session.open(frames)
    trackers: dict[int, TrackSignals] = {}
    signals: dict[int, dict] = {oid: {} for oid in ids}
    J: dict[int, dict] = {oid: {} for oid in ids}
    done: dict[int, list[int]] = {oid: [] for oid in ids}
    kept: dict[int, dict] = {oid: {} for oid in ids}
    rgb0 = frames.frame(0)
    for oid in ids:
        session.add_prompt(0, oid, mask=first == oid)
        trackers[oid] = TrackSignals()
        trackers[oid].add_reference(0, first == oid, rgb0)
    t0 = time.perf_counter()
    for fi, masks in session.propagate(0, "forward", stop=n - 1):
        labels = seq.labels(fi)
        rgb = frames.frame(fi)
        for oid in ids:
            pred = masks.get(oid)
            pred = np.zeros(rgb.shape[:2], bool) if pred is None else np.asarray(pred, bool)
            score = _engine_score(session, fi, oid)
            signals[oid][fi] = trackers[oid].push(fi, pred, rgb, object_score=score)
            if labels is not None:
                ignore = labels == VOID
                J[oid][fi] = j_measure(pred, labels == oid, ignore if ignore.any() else None)
            done[oid].append(fi)
            kept[oid][fi] = rle.encode(pred)
    secs = time.perf_counter() - t0
    session.reset()
    runs = [Run(seq.name, oid, done[oid], J[oid], signals[oid], secs, kept[oid]) for oid in ids]
    if path is not None:
        _write_atomic(path, {"runs": [r.to_json() for r in runs]})
    return runs


def _engine_score(session, frame: int, obj_id: int) -> float | None:
    """The learned engines' object score (probability the object is there), where given."""
    output = getattr(session, "output", None)
    if output is None:
        return None
    out = output(frame, obj_id)
    if out is None or getattr(out, "score", None) is None:
        return None
    try:
        return float(1.0 / (1.0 + np.exp(-float(out.score.reshape(-1)[0]))))
    except (AttributeError, TypeError, ValueError):
        return None
