"""`annotator eval review`: how well each drift detector points a person at the frames where
propagation went wrong, on DAVIS-layout data with ground truth.

Each object is propagated forward from its first-frame ground-truth mask (review_runs.py,
cached). A frame (1..n-1) "drifted" where J < 0.5 or J fell by more than 0.2 from the previous
frame. Detectors score frames from the signals alone (no labels): with pool="all" one fit
over every sequence's frames, as the app pools every object of a project; with
pool="sequence" one fit per sequence. Held-out discipline, leave one sequence out: for each
sequence, the detector's setting (penalties, support fraction) is the one with the best
average precision on the other sequences' frames, and its flag threshold the score that
catches 80% of their drifted frames; the figures are then measured on the held-out sequence.
Pooled figures join the held-out frames of all folds.

Per detector: AP of the score ranking; precision, recall and flagged fraction of the flags
(score > the fold's threshold); "review for 80%": the fraction of frames a person reviewing in
score order (a tie group taken whole) looks at to catch 80% of the drifted frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product

import numpy as np

from annotator.eval.review_runs import Run, drifted
from annotator.review.detectors import DETECTORS, Features, carry, features, make_detector

CARRY = (0.0, 0.9, 0.97)  # evidence carried forward (detectors.carry), tuned like the rest
GRIDS = {
    "rglasso": [{"lam": lam, "gam": gam, "cap": 4.0, "floor": fl, "score": sc, "carry": c}
                for lam, gam, fl, sc, c in product((0.05, 0.2), (1.0, 2.0, 4.0, 8.0), (None, 0.05), ("distance", "evidence"), CARRY)],
    "mcd": [{"support_fraction": s, "carry": c} for s, c in product((None, 0.75, 0.9), CARRY)],
    "threshold": [{"carry": c} for c in CARRY],
}
RECALL_TARGET = 0.8


def average_precision(scores: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the precision-recall steps, tied scores taken as one threshold (as
    scikit-learn's average_precision_score); None without positives."""
    y = np.asarray(y, bool)
    if not y.any():
        return None
    s = np.asarray(scores, np.float64)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    prec = tp / (last + 1)
    rec = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))


def review_fraction(scores: np.ndarray, y: np.ndarray, target: float = RECALL_TARGET) -> float | None:
    """Fraction of frames reviewed in score order (tie groups whole) to catch `target` of the positives."""
    y = np.asarray(y, bool)
    if not y.any():
        return None
    s = np.asarray(scores, np.float64)
    need = math.ceil(target * y.sum() - 1e-9)
    for t in np.unique(s)[::-1]:
        taken = s >= t
        if y[taken].sum() >= need:
            return float(taken.sum() / len(s))
    return 1.0


def threshold_for_recall(scores: np.ndarray, y: np.ndarray, target: float = RECALL_TARGET) -> float:
    """The largest threshold t such that flagging score > t catches `target` of the positives."""
    y = np.asarray(y, bool)
    s = np.asarray(scores, np.float64)
    pos = np.sort(s[y])[::-1]
    if len(pos) == 0:
        return float(s.max()) if len(s) else 0.0
    k = math.ceil(target * len(pos) - 1e-9)
    kth = pos[max(k - 1, 0)]
    below = s[s < kth]
    return float(below.max()) if len(below) else float(kth) - 1e-9


def flag_stats(scores, y, threshold) -> dict:
    y = np.asarray(y, bool)
    f = np.asarray(scores) > threshold
    tp = int((f & y).sum())
    return {"precision": tp / f.sum() if f.sum() else None, "recall": tp / y.sum() if y.sum() else None,
            "flagged": float(f.mean()) if len(f) else 0.0, "flagged_frames": int(f.sum()), "true_flags": tp}


@dataclass
class Pool:
    feats: Features  # rows keyed (sequence or sequence/object, frame)
    y: np.ndarray
    seq: np.ndarray  # sequence name per row


def build_pool(runs: list[Run]) -> Pool:
    per_track, labels = {}, {}
    for r in runs:
        frames = [f for f in r.frames if f > 0 and f in r.J]
        key = r.sequence if len({q.obj_id for q in runs if q.sequence == r.sequence}) == 1 else f"{r.sequence}/{r.obj_id}"
        per_track[key] = {f: r.signals[f] for f in frames}
        for f, d in drifted(r.J, [0] + frames).items():
            if f > 0:
                labels[(key, f)] = d
    feats = features(per_track)
    y = np.array([labels[k] for k in feats.keys], bool)
    seq = np.array([k[0].split("/")[0] for k in feats.keys])
    return Pool(feats, y, seq)


def _raw_scores(name: str, params: dict, pool: Pool, per_sequence: bool) -> np.ndarray:
    x = pool.feats.x
    if not per_sequence:
        return make_detector(name, **params).score(x)
    out = np.zeros(len(pool.y))
    for s in np.unique(pool.seq):
        m = pool.seq == s
        out[m] = make_detector(name, **params).score(x[m])
    return out


def _grid_scores(name: str, pool: Pool, per_sequence: bool) -> list[np.ndarray]:
    """Scores of every setting of a detector's grid (one fit per setting without `carry`)."""
    fits: dict = {}
    out = []
    for p in GRIDS[name]:
        base = {k: v for k, v in p.items() if k != "carry"}
        key = repr(sorted(base.items()))
        if key not in fits:
            fits[key] = _raw_scores(name, base, pool, per_sequence)
        out.append(carry(fits[key], pool.feats.keys, p.get("carry", 0.0)))
    return out


def _mean_ap(scores, y, seq, names) -> float:
    aps = [average_precision(scores[seq == s], y[seq == s]) for s in names]
    aps = [a for a in aps if a is not None]
    return float(np.mean(aps)) if aps else 0.0


@dataclass
class DetectorReport:
    name: str
    pooled: dict = field(default_factory=dict)
    per_sequence: dict = field(default_factory=dict)


def evaluate_detectors(runs: list[Run], detectors=DETECTORS, pool_mode: str = "all", progress=None) -> dict:
    pool = build_pool(runs)
    names = list(dict.fromkeys(pool.seq.tolist()))
    out = {"frames": int(len(pool.y)), "drifted": int(pool.y.sum()), "pool": pool_mode, "recall_target": RECALL_TARGET,
           "sequences": {s: {"frames": int((pool.seq == s).sum()), "drifted": int(pool.y[pool.seq == s].sum()),
                             "mean_J": float(np.mean([r.J[f] for r in runs if r.sequence == s for f in r.frames if f > 0 and f in r.J]))}
                         for s in names},
           "detectors": {}}
    y, seq = pool.y, pool.seq
    for name in detectors:
        grid = GRIDS[name]
        all_scores = _grid_scores(name, pool, pool_mode == "sequence")
        folds = {}
        held_flags = np.zeros(len(y), bool)
        for s in names:
            test = seq == s
            train = ~test
            # the setting is chosen on the other sequences, by the figure reported (mean AP per sequence)
            aps = [_mean_ap(sc[train], y[train], seq[train], names) for sc in all_scores]
            best = int(np.argmax(aps))
            sc = all_scores[best]
            thr = threshold_for_recall(sc[train], y[train])
            held_flags[test] = sc[test] > thr
            n_review = review_fraction(sc[test], y[test])
            folds[s] = {"params": grid[best], "train_mean_ap": aps[best], "threshold": thr,
                        "ap": average_precision(sc[test], y[test]), "review_for_80": n_review,
                        "frames": int(test.sum()), "drifted": int(y[test].sum()),
                        **flag_stats(sc[test], y[test], thr)}
        tp = int((held_flags & y).sum())
        with_drift = [f for f in folds.values() if f["ap"] is not None]
        summary = {
            "mean_ap": float(np.mean([f["ap"] for f in with_drift])) if with_drift else None,
            # reviewing each sequence in score order until 80% of its drift is caught
            "review_for_80": (sum(f["review_for_80"] * f["frames"] for f in with_drift)
                              / sum(f["frames"] for f in with_drift)) if with_drift else None,
            "precision": tp / held_flags.sum() if held_flags.sum() else None,
            "recall": tp / y.sum() if y.sum() else None,
            "flagged": float(held_flags.mean()),
        }
        out["detectors"][name] = {"held_out": summary, "folds": folds}
        if progress:
            progress(f"{name}: mean held-out AP {_f(summary['mean_ap'])}, flags catch {_pct(summary['recall'])} "
                     f"of drift flagging {_pct(summary['flagged'])} of frames")
    return out


def auto_stop_figures(runs: list[Run], rule) -> dict:
    """What `propagate --stop-lost` would have done on these runs: where each object stops and
    how many of the frames it gives up (the lost run and everything after) had really drifted."""
    from annotator.review.lost import LostWatch

    stops, dropped, dropped_drifted, total = {}, 0, 0, 0
    for r in runs:
        frames = [f for f in r.frames if f in r.J]
        d = drifted(r.J, frames)
        total += sum(d[f] for f in frames if f > 0)
        watch = LostWatch(rule)
        for f in frames[1:]:
            if watch.update(f, r.signals[f]) is not None:
                first = watch.run[0]
                gone = [g for g in frames if g >= first]
                name = r.sequence if len([q for q in runs if q.sequence == r.sequence]) == 1 else f"{r.sequence}/{r.obj_id}"
                stops[name] = {"stopped_at": f, "lost_from": first, "dropped": len(gone),
                               "dropped_drifted": int(sum(d[g] for g in gone))}
                dropped += len(gone)
                dropped_drifted += stops[name]["dropped_drifted"]
                break
    return {"rule": {"frames": rule.frames, "min_area": rule.min_area, "max_colour": rule.max_colour},
            "stops": stops, "dropped": dropped, "dropped_drifted": dropped_drifted, "drifted": int(total)}


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"
