"""`annotator propagate VIDEO --model NAME --prompts prompts.json -o out.sav.json`

Headless video propagation. The prompts file is a JSON list of
`{"frame": 0, "obj_id": 1, "points": [[x, y], ...], "labels": [1, ...]}` or
`{"frame": 0, "obj_id": 2, "box": [x0, y0, x1, y1]}` (pixels of the video frame) or
`{"frame": 0, "obj_id": 3, "mask": "obj3.png"}` (a PNG of the frame's size, nonzero = object, the
path relative to the prompts file: the --init mask of `eval vos`).
Every prompt is added (its frame kept as the person's own, "manual"), then masks are
propagated forward from the first prompted frame to the end and backward to frame 0, through
annotator.app.propagation into a scratch project; formats/sav writes the SA-V JSON
(../shared/docs/FORMATS.md §1.2) from it, so the file equals `annotator export --format sav`
of the same masks.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from annotator.core.outputs import check_output
from annotator.core.prompts import check_prompt
from annotator.errors import AnnotatorError, FormatError


FLUSH_MASKS = 64  # masks per store transaction: few fsyncs, little held in memory


def read_prompts(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise AnnotatorError(f"{p}: prompts file not found")
    from annotator.formats.checks import load_json

    data = load_json(p)  # size and nesting bounded, one line
    if isinstance(data, dict) and "prompts" in data:
        data = data["prompts"]
    if not isinstance(data, list) or not data:
        raise FormatError(f"{p}: expected a non-empty JSON list of prompts")
    out = []
    for i, d in enumerate(data):
        where = f"{p}: prompt {i}"
        if not isinstance(d, dict):
            raise FormatError(f"{where}: expected an object with frame, obj_id and points/labels or box")
        try:
            frame, obj = int(d["frame"]), int(d["obj_id"])
        except (KeyError, TypeError, ValueError, OverflowError):  # (int(inf) overflows)
            raise FormatError(f"{where}: needs integer 'frame' and 'obj_id'") from None
        if obj < 1:
            raise FormatError(f"{where}: obj_id must be 1 or more (0 means background), got {obj}")
        pr = {"frame": frame, "obj_id": obj, "points": None, "labels": None, "box": None, "mask": None}
        if d.get("mask") is not None:
            if not isinstance(d["mask"], str) or not d["mask"]:
                raise FormatError(f"{where}: 'mask' must be the path of a PNG (relative to the prompts file)")
            mp = Path(d["mask"])
            mp = mp if mp.is_absolute() else p.parent / mp
            if not mp.is_file():
                raise FormatError(f"{where}: mask file {mp} not found")
            pr["mask"] = str(mp)
        if d.get("points") is not None:
            try:
                pts = [[float(x), float(y)] for x, y in d["points"]]
                labels = [int(v) for v in d.get("labels", [1] * len(pts))]
            except (TypeError, ValueError, OverflowError):
                raise FormatError(f"{where}: 'points' must be [[x, y], ...] and 'labels' a list of ints") from None
            if len(pts) != len(labels) or not pts:
                raise FormatError(f"{where}: {len(pts)} points but {len(labels)} labels")
            if any(v not in (0, 1) for v in labels):
                raise FormatError(f"{where}: labels must be 1 (positive) or 0 (negative)")
            pr["points"], pr["labels"] = pts, labels
        if d.get("box") is not None:
            try:
                box = [float(v) for v in d["box"]]
            except (TypeError, ValueError, OverflowError):
                box = []
            if len(box) != 4 or box[2] < box[0] or box[3] < box[1]:
                raise FormatError(f"{where}: 'box' must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
            pr["box"] = box
        if pr["points"] is None and pr["box"] is None and pr["mask"] is None:
            raise FormatError(f"{where}: needs 'points' (with 'labels'), 'box' or 'mask'")
        if pr["mask"] is not None and (pr["points"] is not None or pr["box"] is not None):
            raise FormatError(f"{where}: give a 'mask' alone (refine it with a later prompt on another frame)")
        out.append(pr)
    return out


def read_mask_prompt(path: str, width: int, height: int, where: str):
    """The bool mask of a mask prompt: header checked before decoding, size must be the frame's."""
    import numpy as np

    from annotator.media.image import open_checked

    try:
        with open_checked(path) as img:
            if img.size != (width, height):
                raise FormatError(f"{where}: mask {path} is {img.size[0]}x{img.size[1]}, the video is {width}x{height}")
            m = np.asarray(img.convert("L")) > 0
    except OSError as e:
        raise FormatError(f"{where}: mask {path} is not a readable image ({e})") from None
    if not m.any():
        raise FormatError(f"{where}: mask {path} is empty (no nonzero pixel)")
    return m


def _run(args) -> int:
    from annotator.app.propagation import PropagationPlan, PropagationRun
    from annotator.core.rle import encode
    from annotator.core.store import Project
    from annotator.engines.registry import create_video_session
    from annotator.formats.sav import SavFormat
    from annotator.media import open_video, probe

    prompts = read_prompts(args.prompts)
    out = check_output(args.output)  # a folder or the project itself fails now, not after the run
    if out.parent and not out.parent.is_dir():
        raise AnnotatorError(f"{out.parent}: output folder does not exist")
    if args.stride <= 0:
        raise AnnotatorError(f"--stride must be positive, got {args.stride}")
    if args.stop_lost < 0:
        raise AnnotatorError(f"--stop-lost must be 0 (off) or a number of frames, got {args.stop_lost}")
    info = probe(Path(args.video))
    source = open_video(args.video)
    n, h, w = int(source.num_frames), int(source.height), int(source.width)
    mask_arrays: dict[int, object] = {}
    for pr in prompts:
        if not 0 <= pr["frame"] < n:
            raise AnnotatorError(f"{args.prompts}: prompt on frame {pr['frame']} but {args.video} has {n} frames")
        where = f"{args.prompts}: prompt on frame {pr['frame']}"
        if pr["mask"] is not None:  # read and checked now, before any model is built
            mask_arrays[id(pr)] = read_mask_prompt(pr["mask"], w, h, where)
        else:
            check_prompt(pr["points"], pr["labels"], pr["box"], width=w, height=h, where=where)
    from annotator import precision_option as precision_arg

    precision_arg.note(args, args.model)
    session = create_video_session(args.model, args.weights, precision=args.precision)
    session.open(source)
    obj_ids = sorted({pr["obj_id"] for pr in prompts})
    start = min(pr["frame"] for pr in prompts)
    t0 = time.perf_counter()
    # The masks stream into a scratch project next to the output (memory stays flat however
    # long the video is); formats/sav writes the SA-V file from it, as `export` would.
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".propagate", dir=out.parent) as tmp:
        project = Project.create(Path(tmp) / "run.annotator")
        try:
            item = project.add_item(Path(args.video), info.kind, w, h, n, info.fps)
            tracks = {oid: project.add_track(item.id, obj_id=oid).id for oid in obj_ids}
            prompted: dict[int, set] = {}
            direction = "both" if start > 0 else "forward"
            stopper = None
            if args.stop_lost:
                from annotator.review.lost import AutoStop, LostRule

                stopper = AutoStop(session, lambda f: source.frame(f), start, direction,
                                   LostRule(frames=args.stop_lost))
            for pr in sorted(prompts, key=lambda p: p["frame"]):
                masks = session.add_prompt(pr["frame"], pr["obj_id"], points=pr["points"], labels=pr["labels"],
                                           box=pr["box"], mask=mask_arrays.get(id(pr)))
                if pr["obj_id"] in masks:  # the prompted frame is the person's own: kept as manual
                    project.set_mask(tracks[pr["obj_id"]], pr["frame"], encode(masks[pr["obj_id"]]),
                                     source="manual", prompts=pr, model=args.model)
                    prompted.setdefault(tracks[pr["obj_id"]], set()).add(pr["frame"])
                    if stopper is not None:
                        stopper.add_reference(pr["obj_id"], pr["frame"], masks[pr["obj_id"]])
            plan = PropagationPlan(item.id, start, direction, n, objmap=tracks,
                                   keep={tid: frozenset(f) for tid, f in prompted.items()})
            run = PropagationRun(project, plan, model=args.model)
            try:
                for t, masks in session.propagate(start, direction):
                    if stopper is not None:
                        masks, stops = stopper.step(t, masks)
                        for oid, lost, message in stops:  # the lost run's masks were wrong: drop them
                            run.flush()
                            for f in lost[:-1]:
                                if f not in prompted.get(tracks[oid], ()):  # the person's own frames stay
                                    project.delete_masks(tracks[oid], f, f)
                            print(("\n" if not args.quiet else "") + message, file=sys.stderr)
                    run.add(t, {oid: encode(m) for oid, m in masks.items()})
                    if run.pending >= FLUSH_MASKS:
                        run.flush()
                    if not args.quiet:
                        el = time.perf_counter() - t0
                        print(f"\rframe {t + 1}/{n}  ({run.frames / el:.2f} frames/s)", end="", file=sys.stderr,
                              flush=True)
            finally:
                run.finish()
            if not args.quiet:
                print(file=sys.stderr)
            SavFormat().export(project, out, stride=args.stride)
        finally:
            project.close()
            close = getattr(source, "close", None)
            if close:
                close()
    print(f"wrote {out} ({len(obj_ids)} objects, {run.frames} frames propagated in {time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("propagate", help="propagate prompted objects through a video and write SA-V JSON")
    p.add_argument("video", help="video file or frame folder")
    p.add_argument("--model", required=True, help="video engine: a model card name (e.g. sam2.1_hiera_tiny) or classic")
    p.add_argument("--weights", default=None, help="checkpoint file, or 'random' for synthetic weights "
                                                   "(default: the installed checkpoint)")
    p.add_argument("--prompts", required=True, help="JSON list of {frame, obj_id, points, labels}, {frame, obj_id, box} "
                                                   "or {frame, obj_id, mask: PNG path}")
    p.add_argument("-o", "--output", required=True, help="SA-V JSON to write (e.g. out.sav.json)")
    p.add_argument("--stride", type=int, default=1, help="write every Nth frame (SA-V datasets use 4; default 1)")
    p.add_argument("--stop-lost", type=int, default=0, metavar="N",
                   help="stop an object once its signals say lost for N consecutive frames (empty, shrunk "
                        "under 5%% of its prompted area, or colours unlike it), dropping those N masks (default: off)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    from annotator import precision_option as precision_arg

    precision_arg.add(p)
    p.set_defaults(func=_run)
