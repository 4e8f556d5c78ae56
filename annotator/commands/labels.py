"""`annotator labels suggest PROJECT [--item ID --object N]`: the project's categories ranked
for an object's mask (CLIP zero-shot + prototypes of the objects already labelled;
engines/label_suggest.py). Without --object: every object that has no category yet."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from annotator.errors import AnnotatorError


def register(sub) -> None:
    p = sub.add_parser("labels", help="label suggestions for masks from CLIP and the project's labelled objects")
    ls = p.add_subparsers(dest="labels", metavar="ACTION", required=True)
    s = ls.add_parser("suggest", help="rank the project's categories for objects' masks")
    s.add_argument("project", type=Path)
    s.add_argument("--item", type=int, default=None, help="media item id (default: all items)")
    s.add_argument("--object", type=int, default=None, help="object id within the item (needs --item)")
    s.add_argument("--frame", type=int, default=None, help="frame of the mask (default: the object's first)")
    s.add_argument("--top", type=int, default=5)
    s.add_argument("--method", choices=("pooled", "crop", "both"), default="pooled",
                   help="mask embedding: dense features pooled in the mask, the masked crop, or both")
    s.add_argument("--no-examples", action="store_true", help="zero-shot only (ignore labelled objects)")
    s.add_argument("--clip", default=None, metavar="NAME", help="CLIP model card (default: the installed one)")
    s.add_argument("--clip-weights", default=None, metavar="FILE", help="CLIP checkpoint FILE or 'random'")
    s.add_argument("--json", type=Path, default=None, help="also write the suggestions here")
    s.set_defaults(func=run_suggest)


def _targets(p, args):
    if args.object is not None and args.item is None:
        raise AnnotatorError("--object needs --item (object ids are per media item)")
    if args.item is not None:
        p.item(args.item)  # one clear error for an unknown id
    tracks = p.tracks(args.item)
    if args.object is not None:
        tracks = [t for t in tracks if t.obj_id == args.object]
        if not tracks:
            raise AnnotatorError(f"{args.project}: item #{args.item} has no object {args.object}")
    else:
        tracks = [t for t in tracks if t.category_id is None]
    return tracks


def run_suggest(args) -> int:
    from annotator.core import rle
    from annotator.core.outputs import check_output
    from annotator.core.store import Project
    from annotator.engines.clip_session import create_clip_session
    from annotator.engines.label_suggest import LabelSuggester, item_frame, learn_from_project

    if args.top < 1:
        raise AnnotatorError(f"--top {args.top}: expected 1 or more")
    if args.json is not None:
        check_output(args.json)
    with Project.open(args.project, readonly=True) as p:
        cats = [c.name for c in p.categories()]
        if not cats:
            raise AnnotatorError(f"{args.project}: the project has no categories to suggest")
        tracks = _targets(p, args)
        if not tracks:
            print(f"{args.project}: no object without a category; name one with --item and --object", file=sys.stderr)
            return 0
        sugg = LabelSuggester(create_clip_session(args.clip, args.clip_weights), cats, method=args.method)
        exclude = tracks[0].id if len(tracks) == 1 else None
        n_ex = 0 if args.no_examples else learn_from_project(sugg, p, exclude_track=exclude)
        rows = []
        for t in tracks:
            recs = p.masks(track_id=t.id)
            if args.frame is not None:
                recs = [r for r in recs if r.frame == args.frame]
            if not recs:
                print(f"item #{t.item_id} object {t.obj_id}: no mask" +
                      (f" on frame {args.frame}" if args.frame is not None else ""), file=sys.stderr)
                continue
            rec = recs[0]
            item = p.item(t.item_id)
            ranked = sugg.suggest(item_frame(item, rec.frame), rle.decode(rec.rle).astype(bool), args.top)
            print(f"#{item.id} {item.name} object {t.obj_id} frame {rec.frame}: "
                  + ", ".join(f"{s.label} {s.score:.3f}" for s in ranked))
            rows.append({"item": item.id, "object": t.obj_id, "frame": rec.frame,
                         "suggestions": [s.__dict__ for s in ranked]})
    print(f"({len(cats)} categories, {n_ex} labelled example(s), method {args.method}, CLIP {sugg.session.name})",
          file=sys.stderr)
    if args.json is not None:
        try:
            check_output(args.json).write_text(json.dumps({"examples": n_ex, "method": args.method, "objects": rows},
                                                          indent=1), encoding="utf-8")
        except OSError as e:
            raise AnnotatorError(f"{args.json}: cannot write ({e.strerror or e})") from None
    return 0
