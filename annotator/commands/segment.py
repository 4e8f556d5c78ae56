"""`annotator segment IMAGE --model NAME --point X,Y ... -o mask.png`: one mask, headless.

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
    p.add_argument("-o", "--output", type=Path, required=True, help="mask PNG to write (0 / 255)")
    precision_arg.add(p)
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
