"""`annotator segment-everything IMAGE|FOLDER|PROJECT [--model M] [--mode grid|hierarchical]
[--nms greedy|mask|fast|noh] [-o OUT.json]`: every object in an image, no prompts.

Images and folders give a COCO RLE file (-o); a project (.annotator) gets the masks as new
objects of source "auto", one undo step per image. Runs through annotator.everything.run,
the same use case the app calls.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from annotator.errors import AnnotatorError


def register(sub) -> None:
    p = sub.add_parser("segment-everything",
                       help="find every object in images (COCO RLE out) or in a project's images (objects 'auto')")
    p.add_argument("input", type=Path, help="an image, a folder of images, or a project file (.annotator)")
    p.add_argument("--model", default=None, help="image model card name or 'classic' (default: best installed)")
    p.add_argument("--weights", default=None, help="checkpoint FILE or 'random' (default: installed checkpoint)")
    p.add_argument("--mode", choices=("grid", "hierarchical"), default="hierarchical",
                   help="grid: SAM's point grid; hierarchical: TinySAM's sparse-then-dense (fewer decoder calls)")
    p.add_argument("--nms", choices=("greedy", "mask", "fast", "noh"), default="greedy",
                   help="duplicate suppression (README 'Segment everything')")
    p.add_argument("--points-per-side", type=int, default=None, help="grid density (default 32)")
    p.add_argument("--pred-iou-thresh", type=float, default=None)
    p.add_argument("--stability-thresh", type=float, default=None)
    p.add_argument("--nms-thresh", type=float, default=None, help="IoU above which a duplicate is dropped (0.7)")
    p.add_argument("--crop-layers", type=int, default=None, help="grid mode: extra crop layers (0)")
    p.add_argument("--min-region", type=int, default=None, help="fill holes / drop islands below this area (0)")
    p.add_argument("--frame", type=int, default=0, help="project videos: the frame to segment (from 0)")
    p.add_argument("-o", "--output", type=Path, default=None, help="COCO JSON to write (images and folders)")
    p.set_defaults(func=run)


def _over(args) -> dict:
    return {"points_per_side": args.points_per_side, "pred_iou_thresh": args.pred_iou_thresh,
            "stability_score_thresh": args.stability_thresh, "box_nms_thresh": args.nms_thresh,
            "crop_n_layers": args.crop_layers, "min_mask_region_area": args.min_region}


class _Bar:
    """Progress on stderr: one line per image, redrawn while the image's points run."""

    def __init__(self, n_images: int) -> None:
        self.n = n_images
        self.i = 0
        self.tty = sys.stderr.isatty()

    def image(self, i: int, name: str) -> None:
        self.i, self.name = i, name

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            frac = done / max(total, 1)
            bar = "#" * int(20 * frac)
            print(f"\r[{self.i + 1}/{self.n}] {self.name} [{bar:20s}] {done}/{total} points",
                  end="", file=sys.stderr, flush=True)

    def finish(self, msg: str) -> None:
        print(("\r" if self.tty else "") + f"[{self.i + 1}/{self.n}] {msg}" + (" " * 10 if self.tty else ""),
              file=sys.stderr)


def run(args) -> int:
    from annotator.everything import run as ev

    if args.output is not None and ev.is_project(args.input):
        raise AnnotatorError(f"{args.input}: a project gets its masks as objects; -o is for images and folders")
    if args.output is None and not ev.is_project(args.input):
        raise AnnotatorError("give -o OUT.json (or a project file to add the masks to)")
    if args.output is not None:
        from annotator.core.outputs import check_output

        if args.output.suffix.lower() != ".json":
            raise AnnotatorError(f"{args.output}: the result is COCO JSON; use a .json file name")
        check_output(args.output)
    session, name = ev.open_session(args.model, args.weights)
    if ev.is_project(args.input):
        return _into_project(args, ev, session, name)
    files = ev.image_files(args.input)
    from annotator.media.image import load_image

    bar = _Bar(len(files))
    images = []
    for i, f in enumerate(files):
        bar.image(i, f.name)
        rgb = load_image(f)
        res = ev.segment_image(session, rgb, args.mode, args.nms, progress=bar, **_over(args))
        bar.finish(f"{f.name}: {len(res.records)} masks in {res.seconds:.1f} s "
                   f"({res.stats['points']} points, {res.stats['decoder_calls']} decoder calls)")
        images.append((f.name, rgb.shape[0], rgb.shape[1], res.records))
    coco = ev.to_coco(images)
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.output.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(coco))
        tmp.replace(args.output)
    except OSError as e:
        raise AnnotatorError(f"{args.output}: cannot write ({e.strerror or e})") from None
    print(f"{args.output}: {len(coco['annotations'])} masks over {len(images)} image(s), model {name}, "
          f"mode {args.mode}, nms {args.nms}", file=sys.stderr)
    return 0


def _into_project(args, ev, session, name) -> int:
    from annotator.core.store import Project
    from annotator.media import open_video

    with Project.open(args.input) as p:
        items = p.items()
        if not items:
            raise AnnotatorError(f"{args.input}: the project has no media")
        bar = _Bar(len(items))
        total = 0
        for i, item in enumerate(items):
            bar.image(i, item.name)
            if not item.exists:
                bar.finish(f"{item.name}: skipped, file missing (relink it)")
                continue
            frame = args.frame if item.is_video else 0
            if not 0 <= frame < item.num_frames:
                raise AnnotatorError(f"{item.name}: frame {frame} is outside 0..{item.num_frames - 1}")
            with open_video(item.abspath, cache_frames=1) as src:
                rgb = src.frame(frame)
            res = ev.segment_image(session, rgb, args.mode, args.nms, progress=bar, **_over(args))
            tids = ev.add_to_project(p, item, frame, res.records, model=name)
            total += len(tids)
            bar.finish(f"{item.name}: {len(tids)} objects added (source auto) in {res.seconds:.1f} s")
    print(f"{args.input}: {total} objects added, model {name}, mode {args.mode}, nms {args.nms}", file=sys.stderr)
    return 0
