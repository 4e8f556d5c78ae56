"""Drift detectors behind one interface: fit on a pool of frames' signals, score each frame by
its outlier evidence (higher = more likely drifted), flag those above a threshold.

    features(signals)          -> Features (frames, matrix oriented so that larger is worse)
    make_detector(name, **kw)  -> Detector; .score(x) -> float [n]; .threshold (flag where score > it)

- "rglasso": robust graphical lasso (rglasso.py) on robustly standardised features; a frame's
  score is (score="distance", default) the distance of its worse-than-typical part max(z, 0)
  under the clean precision matrix, sqrt(z+' Theta z+), or (score="evidence") its outlier part
  measured the same way, sqrt(o' Theta o), ties (no outlier cell) broken by 1e-3 x distance.
- "mcd": Mahalanobis distance under scikit-learn's MinCovDet (optional dependency).
- "threshold": the plain rule: score = 1 - min(IoU with previous frame, engine scores).

The pool is what the caller has: every object of the project (CLI), or every sequence of a
dataset (eval). Frames are never compared with their own future labels: fitting uses no labels.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from annotator.errors import AnnotatorError
from annotator.review.rglasso import robust_glasso
from annotator.review.signals import NAMES, signal_matrix

# features: (name, how it is made from the signals). All oriented: larger = worse.
FEATURES = ("area_vs_ref", "area_change", "iou_loss", "centroid_step", "boundary_ratio",
            "extra_parts", "border_frac", "hist_dist", "score_loss", "flow_loss")
DETECTORS = ("rglasso", "mcd", "threshold")


@dataclass
class Features:
    keys: list  # one key per row (frame, or (track, frame))
    x: np.ndarray  # [n, len(FEATURES)] float64, NaN where unknown
    names: tuple = FEATURES


def _col(m: np.ndarray, name: str) -> np.ndarray:
    return m[:, NAMES.index(name)]


def feature_rows(signals: dict[int, dict[str, float]]) -> tuple[list[int], np.ndarray]:
    """Oriented features of one object's frames (in frame order)."""
    frames, m = signal_matrix(signals)
    n = len(frames)
    la = _col(m, "log_area")
    change = np.full(n, np.nan)
    for i in range(1, n):
        if frames[i - 1] == frames[i] - 1:
            change[i] = abs(la[i] - la[i - 1])
    scores = np.stack([_col(m, "object_score"), _col(m, "pred_iou")], axis=1)
    with np.errstate(all="ignore"):
        score_loss = 1.0 - np.nanmin(np.where(np.isnan(scores), np.inf, scores), axis=1)
    score_loss[~np.isfinite(score_loss)] = np.nan
    x = np.stack([
        np.abs(_col(m, "log_area_ref")),
        change,
        1.0 - _col(m, "iou_prev"),
        np.log1p(_col(m, "centroid_step")),
        _col(m, "boundary_ratio"),
        np.maximum(_col(m, "components") - 1.0, 0.0),
        _col(m, "border_frac"),
        _col(m, "hist_dist"),
        score_loss,
        1.0 - _col(m, "iou_flow"),
    ], axis=1)
    return frames, x


def features(per_track: dict) -> Features:
    """Pool features of several objects: per_track {key: {frame: signals}} -> rows keyed (key, frame)."""
    keys, rows = [], []
    for k, sig in per_track.items():
        frames, x = feature_rows(sig)
        keys += [(k, f) for f in frames]
        rows.append(x)
    x = np.concatenate(rows) if rows else np.zeros((0, len(FEATURES)))
    return Features(keys, x)


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores (median, 1.4826 MAD; std where the MAD is 0), NaN -> the median, columns
    without spread dropped. Returns (z [n, q], kept column mask [p])."""
    x = np.asarray(x, np.float64)
    keep = np.zeros(x.shape[1], bool)
    cols = []
    for j in range(x.shape[1]):
        c = x[:, j]
        ok = ~np.isnan(c)
        if ok.sum() < 2:
            continue
        med = float(np.median(c[ok]))
        spread = 1.4826 * float(np.median(np.abs(c[ok] - med)))
        if spread < 1e-9:
            spread = float(np.std(c[ok]))
        if spread < 1e-9:
            continue
        z = np.where(ok, (c - med) / spread, 0.0)
        cols.append(np.clip(z, -50.0, 50.0))  # one absurd value must not own the fit
        keep[j] = True
    z = np.stack(cols, axis=1) if cols else np.zeros((x.shape[0], 0))
    return z, keep


@dataclass
class Detector:
    name: str
    params: dict = field(default_factory=dict)
    threshold: float = 0.0  # flag frames whose score is above it
    detail: dict = field(default_factory=dict)

    def score(self, x: np.ndarray) -> np.ndarray:  # fits on x (unlabelled) and scores its rows
        raise NotImplementedError

    def flags(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) > self.threshold


class RGLDetector(Detector):
    def score(self, x):
        z, keep = standardise(x)
        if len(z) < 3 or z.shape[1] == 0:
            return np.zeros(len(z))
        p = {**DEFAULT_PARAMS["rglasso"], **self.params}
        res = robust_glasso(z, lam=float(p["lam"]), gam=float(p["gam"]), one_sided=np.ones(z.shape[1], bool),
                            cap=float(p["cap"]), floor=p.get("floor"), max_iter=int(p.get("max_iter", 2000)), tol=1e-5)
        th, o = res.theta, res.outliers
        evidence = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", o, th, o), 0.0))
        zp = np.maximum(z, 0.0)
        dist = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", zp, th, zp), 0.0))
        names = [n for n, k in zip(FEATURES, keep) if k]
        self.detail = {"iterations": res.iterations, "converged": res.converged, "features": names,
                       "outlier_cells": {n: int(np.count_nonzero(o[:, j])) for j, n in enumerate(names)},
                       "outliers": o, "theta": th}
        return dist if p["score"] == "distance" else evidence + 1e-3 * dist


class MCDDetector(Detector):
    def score(self, x):
        try:
            from sklearn.covariance import MinCovDet
        except ImportError:
            raise AnnotatorError("detector 'mcd' needs scikit-learn (pip install scikit-learn); "
                                 "'rglasso' and 'threshold' do not") from None
        z, _ = standardise(x)
        if len(z) < z.shape[1] + 2 or z.shape[1] == 0:
            return np.zeros(len(z))
        mcd = MinCovDet(support_fraction=self.params.get("support_fraction"), random_state=0).fit(z)
        return np.sqrt(np.maximum(mcd.mahalanobis(z), 0.0))


class ThresholdDetector(Detector):
    def score(self, x):
        iou_loss = x[:, FEATURES.index("iou_loss")]
        score_loss = x[:, FEATURES.index("score_loss")]
        s = np.fmax(np.nan_to_num(iou_loss, nan=0.0), np.nan_to_num(score_loss, nan=0.0))
        return s


def carry(scores: np.ndarray, keys: list, decay: float) -> np.ndarray:
    """Propagation rarely finds a lost object again by itself, so evidence carries forward:
    s_t = max(s_t, decay * s_{t-1}) along each object's consecutive frames (keys (track, frame)
    in track, frame order). decay 0 leaves the scores as they are."""
    out = np.asarray(scores, np.float64).copy()
    if decay <= 0:
        return out
    for i in range(1, len(out)):
        (ta, fa), (tb, fb) = keys[i - 1], keys[i]
        if ta == tb and fb == fa + 1:
            out[i] = max(out[i], decay * out[i - 1])
    return out


def score_frames(det: "Detector", feats: Features) -> np.ndarray:
    """The detector's scores of pooled frames, with its `carry` decay (default 0) applied."""
    return carry(det.score(feats.x), feats.keys, float(det.params.get("carry", 0.0)))


def make_detector(name: str, threshold: float | None = None, **params) -> Detector:
    cls = {"rglasso": RGLDetector, "mcd": MCDDetector, "threshold": ThresholdDetector}.get(name)
    if cls is None:
        raise AnnotatorError(f"unknown detector {name!r} (choose from {', '.join(DETECTORS)})")
    d = cls(name, dict(params))
    d.threshold = DEFAULT_THRESHOLDS[name] if threshold is None else float(threshold)
    return d


# Defaults for the CLI: the settings `annotator eval review --engine classic` on DAVIS 2016 chose
# in most of its leave-one-sequence-out folds, and a threshold near theirs (each fold's catches
# 80% of the drifted frames of the other sequences). See README, "Review queue".
DEFAULT_PARAMS = {"rglasso": {"lam": 0.2, "gam": 4.0, "cap": 4.0, "floor": 0.05, "score": "evidence", "carry": 0.0},
                  "mcd": {"support_fraction": None, "carry": 0.0}, "threshold": {"carry": 0.97}}
DEFAULT_THRESHOLDS = {"rglasso": 0.0045, "mcd": 5.1, "threshold": 0.27}
