"""Number-of-clicks (NoC) evaluation of an ImageSession on DAVIS-layout frames.

Samples: every `every`-th frame of each sequence, one sample per object present in
that frame's ground truth. Per sample the robot user (clicker.next_click) clicks until
the IoU reaches 0.90 and at least 5 clicks were made (so mIoU after 1/3/5 clicks is
always measured, never extrapolated), or `max_clicks` is reached. Each click sends
all clicks so far plus the previous low-res logits as mask_input; the first click asks
for several masks and takes the engine's pick. NoC@t is the first click with IoU >= t,
or max_clicks if none (RITM convention). Means are over samples.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from annotator.core.prompts import check_prompt

from annotator.eval.clicker import Click, clicks_to_arrays, next_click
from annotator.eval.davis import VOID, Sequence
from annotator.eval.metrics import j_measure

MIOU_AT = (1, 3, 5)


@dataclass
class SampleResult:
    sequence: str
    frame: int
    obj_id: int
    ious: list[float]  # IoU after click 1, 2, ...
    click_seconds: list[float]  # one per predict call
    encode_seconds: float

    def noc(self, thr: float, max_clicks: int) -> int:
        for k, iou in enumerate(self.ious, start=1):
            if iou >= thr:
                return k
        return max_clicks


def run_sample(session, rgb, gt, ignore, max_clicks: int = 20, stop_iou: float = 0.90, min_clicks: int = 5):
    """Click on one object until done; returns (ious, per-click seconds)."""
    clicks: list[Click] = []
    pred_mask = None
    logits = None
    ious: list[float] = []
    secs: list[float] = []
    for k in range(1, max_clicks + 1):
        c = next_click(gt, pred_mask, clicks, ignore)
        if c is None:  # perfect already: the remaining clicks keep the same IoU
            ious.append(ious[-1] if ious else 1.0)
            if k >= min_clicks:
                break
            continue
        clicks.append(c)
        pts, lbl = clicks_to_arrays(clicks)
        check_prompt(pts, lbl, width=gt.shape[1], height=gt.shape[0], where="evaluator click")
        t0 = time.perf_counter()
        pred = session.predict(points=pts, labels=lbl, mask_input=logits, multimask=(k == 1))
        secs.append(time.perf_counter() - t0)
        pred_mask = np.asarray(pred.mask, bool)
        logits = pred.lowres_logits[pred.best][None]
        ious.append(j_measure(pred_mask, gt, ignore))
        if ious[-1] >= stop_iou and k >= min_clicks:
            break
    return ious, secs


@dataclass
class NocReport:
    engine: str
    max_clicks: int
    samples: list[SampleResult] = field(default_factory=list)

    @staticmethod
    def _summary(samples: list[SampleResult], max_clicks: int) -> dict:
        if not samples:
            return {"noc85": None, "noc90": None, "miou": {str(k): None for k in MIOU_AT}, "samples": 0}
        clicks = sum(len(x.click_seconds) for x in samples)
        secs = sum(sum(x.click_seconds) for x in samples)
        return {
            "noc85": float(np.mean([s.noc(0.85, max_clicks) for s in samples])),
            "noc90": float(np.mean([s.noc(0.90, max_clicks) for s in samples])),
            "miou": {str(k): float(np.mean([s.ious[min(k, len(s.ious)) - 1] for s in samples])) for k in MIOU_AT},
            "sec_per_click": secs / clicks if clicks else 0.0,
            "fail90": int(sum(s.noc(0.90, max_clicks) >= max_clicks for s in samples)),
            "samples": len(samples),
        }

    def to_json(self) -> dict:
        overall = self._summary(self.samples, self.max_clicks)
        all_secs = [t for s in self.samples for t in s.click_seconds]
        per_seq = {}
        for name in dict.fromkeys(s.sequence for s in self.samples):
            per_seq[name] = self._summary([s for s in self.samples if s.sequence == name], self.max_clicks)
        return {
            "noc85": overall["noc85"],
            "noc90": overall["noc90"],
            "miou": overall["miou"],
            "sec_per_click": overall.get("sec_per_click", 0.0),
            "per_sequence": per_seq,
            "engine": self.engine,
            "max_clicks": self.max_clicks,
            "samples": len(self.samples),
            "fail90": overall.get("fail90", 0),
            "click_latency_ms": {
                "median": float(np.median(all_secs) * 1000) if all_secs else None,
                "p95": float(np.percentile(all_secs, 95) * 1000) if all_secs else None,
            },
        }


def evaluate_noc(
    session,
    sequences: list[Sequence],
    engine_name: str,
    every: int = 10,
    max_clicks: int = 20,
    progress: Callable[[str], None] | None = None,
) -> NocReport:
    report = NocReport(engine_name, max_clicks)
    for seq in sequences:
        frames = seq.frames()
        for i in range(0, frames.num_frames, max(1, every)):
            labels = seq.labels(i)
            if labels is None:
                continue
            ignore = labels == VOID
            ids = [int(v) for v in np.unique(labels) if v not in (0, VOID)]
            if not ids:
                continue
            rgb = frames.frame(i)
            t0 = time.perf_counter()
            session.set_image(rgb)
            enc = time.perf_counter() - t0
            for oid in ids:
                gt = labels == oid
                ious, secs = run_sample(session, rgb, gt, ignore if ignore.any() else None, max_clicks)
                r = SampleResult(seq.name, i, oid, ious, secs, enc)
                report.samples.append(r)
                if progress:
                    progress(
                        f"{seq.name} frame {i} obj {oid}: NoC@90 {r.noc(0.90, max_clicks)}, "
                        f"IoU@1 {ious[0]:.3f}, last {ious[-1]:.3f}"
                    )
    return report
