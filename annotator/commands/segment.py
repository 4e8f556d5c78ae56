"""`annotator segment IMAGE --model NAME --point X,Y ... -o mask.png`: one mask, headless.
`annotator segment IMAGE --text car [--text ...] -o masks.json [--project P]`: every object
the words name (CLIP dense features -> prompts -> masks, app/text_find.py).

Uses the same ImageSession the GUI uses: a learned model (checkpoint from --weights, or the
one installed by `annotator models`) or `--model classic` (no weights).
"""
from __future__ import annotations

import sys
from pathlib import Path

from annotator import precision_option as precision_arg
from annotator.errors import AnnotatorError


def register(sub) -> None:
    p = sub.add_parser("segment", help="segment one object in an image from clicks or a box; writes a PNG mask")
    p.add_argument("image", type=Path)
    p.add_argument("--model", default=None, help="model card name or 'classic' (default: best installed)")
    p.add_argument("--point", action="append", default=[], metavar="X,Y", help="positive click (repeatable)")
    p.add_argument("--neg", action="append", default=[], metavar="X,Y", help="negative click (repeatable)")
    p.add_argument("--box", default=None, metavar="X0,Y0,X1,Y1", help="box around the object")
    p.add_argument("--weights", default=None, help="checkpoint FILE or 'random' (default: installed checkpoint)")
    p.add_argument("--multimask", choices=("auto", "on", "off"), default="auto",
                   help="ask for several candidate masks and keep the best (auto: the model's rule)")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="mask PNG to write (0 / 255); with --text a JSON file of scored masks")
    precision_arg.add(p)
    t = p.add_argument_group("text prompts (find every object a word names)")
    t.add_argument("--text", action="append", default=[], metavar="LABEL", help="what to find (repeatable)")
    t.add_argument("--clip", default=None, metavar="NAME", help="CLIP model card (default: the installed one)")
    t.add_argument("--clip-weights", default=None, metavar="FILE", help="CLIP checkpoint FILE or 'random'")
    t.add_argument("--threshold", type=float, default=0.5, help="label probability a region must exceed (0-1)")
    t.add_argument("--relative", action="store_true", help="threshold as a fraction of each map's maximum")
    t.add_argument("--no-key-smoothing", action="store_true", help="turn MaskCLIP's key smoothing off")
    t.add_argument("--prompt-denoising", action="store_true", help="drop labels no region is sure of")
    t.add_argument("--max-per-label", type=int, default=20)
    t.add_argument("--project", type=Path, default=None,
                   help="also add the masks to this project as auto objects (the image is added if new)")
    p.set_defaults(func=run)


def _floats(text: str, n: int, what: str) -> list[float]:
    parts = text.split(",")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise AnnotatorError(f"{what} {text!r}: expected {n} comma-separated numbers")
    return vals


def run(args) -> int:
    if args.text:
        return run_text(args)
    if args.output is None:
        raise AnnotatorError("give -o/--output (the mask PNG to write)")
    import numpy as np

    from annotator.engines import registry
    from annotator.media.image import load_image

    pts = [_floats(t, 2, "--point") for t in args.point] + [_floats(t, 2, "--neg") for t in args.neg]
    labels = [1] * len(args.point) + [0] * len(args.neg)
    box = _floats(args.box, 4, "--box") if args.box else None
    if not pts and box is None:
        raise AnnotatorError("give at least one --point or a --box")
    from annotator.core.outputs import check_output
    from annotator.core.prompts import check_prompt

    check_output(args.output)
    rgb = load_image(args.image)
    h, w = rgb.shape[:2]
    check_prompt(pts or None, labels if pts else None, box, width=w, height=h, where=str(args.image))

    name = args.model or registry.default_engine_name("image")
    if not args.model:  # say which engine was picked, and why
        print(f"annotator: {registry.describe_engine_choice('image', name)}", file=sys.stderr)
    precision_arg.note(args, name)
    sess = registry.create_image_session(name, args.weights, precision=args.precision)
    sess.set_image(rgb)
    multimask = {"auto": None, "on": True, "off": False}[args.multimask]
    if multimask is None and not hasattr(sess, "rule"):
        multimask = box is None and len(pts) == 1  # SAM's rule for sessions without their own
    pred = sess.predict(
        points=np.asarray(pts, np.float32) if pts else None,
        labels=np.asarray(labels, np.int64) if pts else None,
        box=np.asarray(box, np.float32) if box is not None else None,
        multimask=multimask,
    )
    mask = pred.mask
    out = args.output
    if out.suffix.lower() != ".png":
        raise AnnotatorError(f"{out}: the mask is written as PNG; use a .png file name")
    from PIL import Image

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(check_output(out))
    except OSError as e:
        raise AnnotatorError(f"{out}: cannot write the mask ({e.strerror or e})") from None
    score = float(pred.scores[pred.best]) if len(pred.scores) else float("nan")
    print(f"{out}: {int(mask.sum())} of {mask.size} pixels ({100 * mask.mean():.1f}%), "
          f"model {name}, score {score:.3f}", file=sys.stderr)
    return 0


def run_text(args) -> int:
    """--text: find every object each label names; write JSON and/or add to a project."""
    import json

    from annotator.core import rle as _rle
    from annotator.core.outputs import check_output
    from annotator.engines import registry
    from annotator.engines.clip_session import create_clip_session
    from annotator.app.text_find import FindOptions, add_to_project, find_by_text
    from annotator.media.image import load_image

    if args.point or args.neg or args.box:
        raise AnnotatorError("--text finds objects by name; it does not combine with --point/--neg/--box")
    if args.output is None and args.project is None:
        raise AnnotatorError("give -o masks.json and/or --project PROJECT for the found masks")
    if args.output is not None and args.output.suffix.lower() != ".json":
        raise AnnotatorError(f"{args.output}: text-prompt results are written as JSON; use a .json file name")
    if not 0.0 <= args.threshold <= 1.0:
        raise AnnotatorError(f"--threshold {args.threshold}: expected a value between 0 and 1")
    if args.output is not None:
        check_output(args.output)
    labels = [t.strip() for t in args.text if t.strip()]
    if not labels:
        raise AnnotatorError("--text: give a non-empty label")
    rgb = load_image(args.image)
    name = args.model or registry.default_engine_name("image")
    sess = registry.create_image_session(name, args.weights)
    clip = create_clip_session(args.clip, args.clip_weights)
    opt = FindOptions(threshold=args.threshold, relative=args.relative, key_smoothing=not args.no_key_smoothing,
                      prompt_denoising=args.prompt_denoising, max_per_label=max(1, args.max_per_label))
    found = find_by_text(clip, sess, rgb, labels, opt)
    model = f"{name}+{clip.name}"
    if args.output is not None:
        doc = {"image": str(args.image), "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
               "model": name, "clip": clip.name, "labels": labels,
               "masks": [{"label": f.label, "score": round(f.score, 6), "clip_score": round(f.clip_score, 6),
                          "mask_score": round(f.mask_score, 6), "box": f.box, "point": f.point,
                          "area": int(f.mask.sum()), "rle": _rle.encode(f.mask)} for f in found]}
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            check_output(args.output).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        except OSError as e:
            raise AnnotatorError(f"{args.output}: cannot write the masks ({e.strerror or e})") from None
    if args.project is not None:
        _add_to_project(args.project, args.image, rgb, found, model)
    per = {lb: sum(f.label == lb for f in found) for lb in labels}
    print(f"{args.image}: found " + ", ".join(f"{n} {lb}" for lb, n in per.items()) + f" (model {model})",
          file=sys.stderr)
    return 0


def _add_to_project(project_path: Path, image: Path, rgb, found, model: str) -> None:
    from annotator.core.store import Project
    from annotator.app.text_find import add_to_project

    with Project.open(project_path) as p:
        target = Path(image).resolve()
        item = next((it for it in p.items() if Path(it.abspath).resolve() == target), None)
        with p.atomic(f"Find {', '.join(dict.fromkeys(f.label for f in found)) or 'nothing'}"):
            if item is None:
                item = p.add_item(image, "image", int(rgb.shape[1]), int(rgb.shape[0]))
            tids = add_to_project(p, item.id, found, model=model)
        print(f"{project_path}: added {len(tids)} auto object(s) to #{item.id} {item.name}", file=sys.stderr)
