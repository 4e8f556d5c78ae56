"""`annotator review PROJECT [--item I] [--detector rglasso|mcd|threshold] --json OUT`: the
frames where propagation probably drifted, highest score first, with the signals behind them
(annotator/review/queue.py). Frames a person marked reviewed leave the list."""
from __future__ import annotations

import json
from pathlib import Path

from annotator.errors import AnnotatorError


def register(sub) -> None:
    p = sub.add_parser("review", help="list frames where propagation probably drifted (review queue)")
    p.add_argument("project")
    p.add_argument("--item", action="append", default=[], help="media item id or name (repeatable; default: all)")
    p.add_argument("--detector", default="rglasso", choices=("rglasso", "mcd", "threshold"))
    p.add_argument("--threshold", type=float, default=None, help="flag frames scoring above this (default: the detector's)")
    p.add_argument("--json", default=None, help="write the queue here")
    p.add_argument("--top", type=int, default=20, help="rows of the printed table (default 20)")
    p.set_defaults(func=run)


def _items(project, wanted: list[str]) -> list[int] | None:
    if not wanted:
        return None
    items = project.items()
    out = []
    for w in wanted:
        hit = [it for it in items if str(it.id) == w] or [it for it in items if it.name == w]
        if not hit:
            raise AnnotatorError(f"{project.path}: no media item {w!r} (ids: {', '.join(str(i.id) for i in items) or 'none'})")
        out.append(hit[0].id)
    return out


def run(args) -> int:
    from annotator.core.outputs import check_output
    from annotator.core.store import Project
    from annotator.review.queue import review_queue

    out = check_output(args.json) if args.json else None
    with Project.open(args.project) as project:
        q = review_queue(project, _items(project, args.item), args.detector, args.threshold)
        names = {it.id: it.name for it in project.items()}
    data = {"project": str(args.project), "detector": q.detector, "params": q.params, "threshold": q.threshold,
            "frames_scored": q.scored, "flagged": len(q.flags), "reviewed_dropped": q.reviewed_dropped,
            "frames": [f.to_json(names.get(f.item_id, "")) for f in q.flags]}
    print(f"{args.project}: {len(q.flags)} of {q.scored} frames flagged by {q.detector} (score > {q.threshold:g})"
          + (f", {q.reviewed_dropped} more already reviewed" if q.reviewed_dropped else ""))
    if q.flags:
        print()
        print("| item | object | frame | score | IoU prev | area vs ref | colour dist |")
        print("|---|---|---|---|---|---|---|")
        for f in q.flags[: max(0, args.top)]:
            s = f.signals
            print(f"| {names.get(f.item_id, f.item_id)} | {f.obj_id} | {f.frame} | {f.score:.2f} | "
                  f"{_num(s.get('iou_prev'))} | {_num(s.get('log_area_ref'))} | {_num(s.get('hist_dist'))} |")
    if out is not None:
        try:
            Path(out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise AnnotatorError(f"{out}: cannot write the queue ({e.strerror})") from None
    return 0


def _num(v) -> str:
    return "-" if v is None or v != v else f"{v:.2f}"
