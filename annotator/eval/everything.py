"""`annotator eval everything --data DAVIS`: recall of ground-truth objects by segment everything.

For every chosen frame, the generator runs without prompts; each ground-truth object's best
IoU over all auto masks is its score, and recall@t is the fraction of objects whose best IoU
reaches t (0.5, 0.75). This measures whether the object is among the proposals at all, not
their ranking. Meaningful with a learned checkpoint; with the classic engine it measures
GrabCut-from-a-click proposals, with random weights only that the pipeline runs.
"""
from __future__ import annotations

import resource
import sys
import time

import numpy as np

THRESHOLDS = (0.5, 0.75)


def register(ev) -> None:
    p = ev.add_parser("everything", help="segment everything: best-IoU recall of GT objects at 0.5 / 0.75")
    p.add_argument("--data", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p)")
    p.add_argument("--model", default="classic", help="'classic' or an image model card name (default classic)")
    p.add_argument("--weights", default=None, help="checkpoint file or 'random' (default: installed one)")
    p.add_argument("--mode", choices=("grid", "hierarchical"), default="hierarchical")
    p.add_argument("--nms", choices=("greedy", "mask", "fast", "noh"), default="greedy")
    p.add_argument("--points-per-side", type=int, default=None)
    p.add_argument("--frames", type=int, default=1, help="annotated frames per sequence, evenly spaced (default 1)")
    p.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    p.add_argument("--json", default=None, help="write the results here")
    p.set_defaults(func=run)


def _frames(seq, n: int) -> list[int]:
    annotated = [i for i, p in enumerate(seq.label_paths) if p is not None]
    if n >= len(annotated):
        return annotated
    pick = np.linspace(0, len(annotated) - 1, n).round().astype(int)
    return [annotated[i] for i in sorted(set(pick.tolist()))]


def evaluate(session, seqs, mode: str, nms: str, frames: int, progress=None, **over) -> dict:
    from pycocotools import mask as mu

    from annotator.core.rle import encode
    from annotator.everything.run import segment_image

    per_seq, best_all, n_masks, secs = {}, [], [], []
    for seq in seqs:
        src = seq.frames()
        bests = []
        for fi in _frames(seq, frames):
            rgb = src.frame(fi)
            lab = seq.labels(fi)
            res = segment_image(session, rgb, mode, nms, **over)
            secs.append(res.seconds)
            n_masks.append(len(res.records))
            auto = [{"size": r["segmentation"]["size"], "counts": r["segmentation"]["counts"].encode("ascii")}
                    for r in res.records]
            for oid in [int(v) for v in np.unique(lab) if v not in (0, 255)]:
                g = encode(lab == oid)
                gt = {"size": g["size"], "counts": g["counts"].encode("ascii")}
                best = float(np.max(mu.iou(auto, [gt], [0]))) if auto else 0.0
                bests.append(best)
            if progress:
                progress(f"{seq.name} frame {fi}: {len(res.records)} masks, best IoU "
                         f"{bests[-1] if bests else float('nan'):.3f}, {res.seconds:.1f} s")
        best_all += bests
        per_seq[seq.name] = _summary(bests)
    out = _summary(best_all)
    out.update(per_sequence=per_seq, masks_per_image=float(np.mean(n_masks)) if n_masks else 0.0,
               seconds_per_image=float(np.mean(secs)) if secs else 0.0, images=len(secs),
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def _summary(bests: list[float]) -> dict:
    b = np.asarray(bests, np.float64)
    return {"objects": int(len(b)), "mean_best_iou": float(b.mean()) if len(b) else None,
            **{f"recall@{t}": (float((b >= t).mean()) if len(b) else None) for t in THRESHOLDS}}


def run(args) -> int:
    from annotator.errors import AnnotatorError
    from annotator.eval.davis import list_sequences
    from annotator.everything.run import open_session

    if args.frames < 1:
        raise AnnotatorError("--frames must be at least 1")
    names = [s.strip() for s in args.sequences.split(",")] if args.sequences else None
    seqs = list_sequences(args.data, names)
    session, name = open_session(args.model, args.weights)
    learned = name not in ("classic", "grabcut-plain") and str(args.weights) != "random"
    measured = ("proposal quality of the learned checkpoint" if learned else
                "GrabCut proposals from grid clicks (no learned model)" if name in ("classic", "grabcut-plain") else
                "that the pipeline runs end to end (random weights: the masks are noise)")
    t0 = time.perf_counter()
    data = evaluate(session, seqs, args.mode, args.nms, args.frames,
                    progress=lambda s: print(s, file=sys.stderr, flush=True), points_per_side=args.points_per_side)
    data.update(model=name, weights=str(args.weights or "installed"), mode=args.mode, nms=args.nms,
                frames_per_sequence=args.frames, measured=measured, wall_s=time.perf_counter() - t0)
    print(f"segment everything on {args.data}: model {name}, mode {args.mode}, nms {args.nms}, "
          f"{data['images']} image(s); measured: {measured}")
    print()
    print("| Sequence | Objects | mean best IoU | recall@0.5 | recall@0.75 |")
    print("|---|---|---|---|---|")
    rows = list(data["per_sequence"].items()) + [("**all**", data)]
    for sname, r in rows:
        f = (lambda v: "-" if v is None else f"{v:.3f}")
        print(f"| {sname} | {r['objects']} | {f(r['mean_best_iou'])} | {f(r['recall@0.5'])} | {f(r['recall@0.75'])} |")
    print()
    print(f"{data['masks_per_image']:.1f} masks per image, {data['seconds_per_image']:.1f} s per image, "
          f"peak RSS {data['peak_rss_mb']:.0f} MiB")
    from annotator.core.outputs import write_results_json

    write_results_json(args.json, data)
    return 0
