"""Semi-supervised video object segmentation evaluation (DAVIS protocol).

Each object of a sequence is started on the first frame, from its ground-truth mask
(init="mask") or from `init_clicks` simulated clicks on it (init="clicks"), then the
engine propagates forward to the last frame. J and F are averaged over the frames
that have ground truth, excluding the first and the last (as both DAVIS toolkits do),
per object; a sequence's score is the mean over its objects and the global score the
mean over all objects (DAVIS 2017 convention; equal to the per-sequence mean on
single-object DAVIS 2016). J&F = (J + F) / 2. Everything is in percent.
"""
from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from annotator.core.prompts import check_prompt

from annotator.eval.clicker import Click, clicks_to_arrays, next_click
from annotator.eval.davis import VOID, Sequence
from annotator.eval.metrics import f_measure, j_measure


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class SequenceResult:
    name: str
    objects: dict[int, tuple[float, float]]  # obj_id -> (J, F) in percent
    frames: int
    seconds: float  # propagation time
    init_iou: dict[int, float] = field(default_factory=dict)

    @property
    def J(self) -> float:
        return float(np.mean([j for j, _ in self.objects.values()]))

    @property
    def F(self) -> float:
        return float(np.mean([f for _, f in self.objects.values()]))


def _init_with_clicks(session, gt: np.ndarray, ignore, obj_id: int, n_clicks: int) -> float:
    clicks: list[Click] = []
    pred = None
    iou = 0.0
    for _ in range(n_clicks):
        c = next_click(gt, pred, clicks, ignore)
        if c is None:
            break
        clicks.append(c)
        pts, lbl = clicks_to_arrays(clicks)
        check_prompt(pts, lbl, width=gt.shape[1], height=gt.shape[0], where="evaluator click")
        out = session.add_prompt(0, obj_id, points=pts, labels=lbl)
        pred = np.asarray(out[obj_id], bool)
        iou = j_measure(pred, gt, ignore)
    return iou


def _save_prediction(save_dir: Path, seq: Sequence, fi: int, masks: dict, shape) -> None:
    """One DAVIS palette PNG per frame (object id = index, lowest id wins an overlap), named as
    the frame, so the official DAVIS evaluator scores the folder as it is."""
    from annotator.formats.davis import label_map, write_png
    from annotator.formats.export_paths import inside, safe_name

    folder = inside(save_dir, safe_name(seq.name, "sequence"))
    folder.mkdir(parents=True, exist_ok=True)
    objs = {int(o): np.asarray(m, bool) for o, m in masks.items() if m is not None and 0 < int(o) < 255}
    write_png(inside(folder, f"{safe_name(seq.frame_paths[fi].stem, f'{fi:05d}')}.png"),
              label_map(objs, shape[0], shape[1]))


def evaluate_sequence(session, seq: Sequence, init: str = "mask", init_clicks: int = 3,
                      save_dir: Path | None = None) -> SequenceResult:
    frames = seq.frames()
    first = seq.labels(0)
    ids = seq.object_ids()
    ignore0 = first == VOID
    session.open(frames)
    init_iou = {}
    for oid in ids:
        gt = first == oid
        if init == "mask":
            session.add_prompt(0, oid, mask=gt)
            init_iou[oid] = 1.0
        else:
            init_iou[oid] = _init_with_clicks(session, gt, ignore0 if ignore0.any() else None, oid, init_clicks)
    n = frames.num_frames
    scores: dict[int, list[tuple[float, float]]] = {oid: [] for oid in ids}
    t0 = time.perf_counter()
    done = 0
    for fi, masks in session.propagate(0, "forward"):
        done += 1
        if save_dir is not None:
            _save_prediction(save_dir, seq, fi, masks, first.shape)
        if not scored(fi, n):
            continue
        labels = seq.labels(fi)
        if labels is None:
            continue
        score_frame(masks, labels, ids, scores)
    secs = time.perf_counter() - t0
    return SequenceResult(seq.name, object_means(scores), done, secs, init_iou)


def scored(fi: int, n: int) -> bool:
    """Whether frame fi of n counts: the toolkits score neither the prompt frame nor the last."""
    return 0 < fi < n - 1


def score_frame(masks: dict, labels: np.ndarray, ids, scores: dict[int, list]) -> None:
    """Append each GT object's (J, F) on one frame; an object the prediction lacks is empty."""
    for oid in ids:
        pred = masks.get(oid)
        pred = np.zeros(labels.shape, bool) if pred is None else np.asarray(pred, bool)
        gt = labels == oid
        scores[oid].append((j_measure(pred, gt), f_measure(pred, gt)))


def object_means(scores: dict[int, list]) -> dict[int, tuple[float, float]]:
    """obj_id -> (mean J, mean F) in percent over its scored frames."""
    return {oid: (100 * float(np.mean([v[0] for v in vals])), 100 * float(np.mean([v[1] for v in vals])))
            for oid, vals in scores.items() if vals}


def scores_json(sequences: list[SequenceResult]) -> tuple[dict, dict]:
    """Global J, F, J&F (mean over all objects) and each sequence's, as the reports write them."""
    objs = [jf for s in sequences for jf in s.objects.values()]
    J = float(np.mean([j for j, _ in objs])) if objs else None
    F = float(np.mean([f for _, f in objs])) if objs else None
    per = {s.name: {"J": s.J, "F": s.F, "JF": (s.J + s.F) / 2, "frames": s.frames,
                    "objects": {str(k): {"J": v[0], "F": v[1]} for k, v in s.objects.items()}}
           for s in sequences}
    return {"J": J, "F": F, "JF": (J + F) / 2 if objs else None}, per


@dataclass
class VosReport:
    engine: str
    init: str
    sequences: list[SequenceResult] = field(default_factory=list)
    peak_mb: float = 0.0

    def to_json(self) -> dict:
        total, per = scores_json(self.sequences)
        frames = sum(s.frames for s in self.sequences)
        secs = sum(s.seconds for s in self.sequences)
        out = dict(total, fps=frames / secs if secs > 0 else None, per_sequence={})
        for s in self.sequences:
            d = per[s.name]
            out["per_sequence"][s.name] = {"J": d["J"], "F": d["F"], "JF": d["JF"],
                                           "fps": s.frames / s.seconds if s.seconds > 0 else None,
                                           "frames": d["frames"], "objects": d["objects"],
                                           "init_iou": {str(k): v for k, v in s.init_iou.items()}}
        out.update(engine=self.engine, init=self.init, peak_rss_mb=self.peak_mb)
        return out


def evaluate_vos(
    session,
    sequences: list[Sequence],
    engine_name: str,
    init: str = "mask",
    init_clicks: int = 3,
    progress: Callable[[str], None] | None = None,
    save_dir: Path | None = None,
) -> VosReport:
    report = VosReport(engine_name, init)
    for seq in sequences:
        r = evaluate_sequence(session, seq, init, init_clicks, save_dir)
        report.sequences.append(r)
        session.reset()
        if progress:
            progress(f"{seq.name}: J {r.J:.1f} F {r.F:.1f} J&F {(r.J + r.F) / 2:.1f} ({r.frames / max(r.seconds, 1e-9):.1f} fps)")
    report.peak_mb = peak_rss_mb()
    return report
