"""`annotator propagate VIDEO --model NAME --prompts prompts.json -o out.sav.json`

Headless video propagation. The prompts file is a JSON list of
`{"frame": 0, "obj_id": 1, "points": [[x, y], ...], "labels": [1, ...]}` or
`{"frame": 0, "obj_id": 2, "box": [x0, y0, x1, y1]}` (pixels of the video frame).
Every prompt is added, then masks are propagated forward from the first prompted frame to the
end and backward to frame 0. Masks stream to a JSON-lines spool file next to the output as
each frame is produced (memory stays flat however long the video is); the SA-V JSON
(../shared/docs/FORMATS.md §1.2) is then assembled from the spool and moved into place
atomically.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from annotator.core.outputs import apply_umask, check_output
from annotator.core.prompts import check_prompt
from annotator.errors import AnnotatorError, FormatError


def read_prompts(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise AnnotatorError(f"{p}: prompts file not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"{p}: not valid JSON ({e})") from None
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
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{where}: needs integer 'frame' and 'obj_id'") from None
        if obj < 1:
            raise FormatError(f"{where}: obj_id must be 1 or more (0 means background), got {obj}")
        pr = {"frame": frame, "obj_id": obj, "points": None, "labels": None, "box": None}
        if d.get("points") is not None:
            try:
                pts = [[float(x), float(y)] for x, y in d["points"]]
                labels = [int(v) for v in d.get("labels", [1] * len(pts))]
            except (TypeError, ValueError):
                raise FormatError(f"{where}: 'points' must be [[x, y], ...] and 'labels' a list of ints") from None
            if len(pts) != len(labels) or not pts:
                raise FormatError(f"{where}: {len(pts)} points but {len(labels)} labels")
            if any(v not in (0, 1) for v in labels):
                raise FormatError(f"{where}: labels must be 1 (positive) or 0 (negative)")
            pr["points"], pr["labels"] = pts, labels
        if d.get("box") is not None:
            try:
                box = [float(v) for v in d["box"]]
            except (TypeError, ValueError):
                box = []
            if len(box) != 4 or box[2] < box[0] or box[3] < box[1]:
                raise FormatError(f"{where}: 'box' must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
            pr["box"] = box
        if pr["points"] is None and pr["box"] is None:
            raise FormatError(f"{where}: needs 'points' (with 'labels') or 'box'")
        out.append(pr)
    return out


class SavSpool:
    """Collects per-frame RLEs on disk (JSON lines) and running masklet statistics."""

    def __init__(self, out: Path, obj_ids: list[int]):
        self.out = out
        self.obj_ids = obj_ids
        # a name of its own: two runs writing the same -o must not share one spool
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".spool.jsonl", dir=out.parent)
        self.spool_path = Path(name)
        self._f = os.fdopen(fd, "w+", encoding="utf-8")
        self.offsets: dict[int, int] = {}

    def add(self, frame: int, rles: dict[int, dict]) -> None:
        self._f.seek(0, os.SEEK_END)
        self.offsets[frame] = self._f.tell()  # a frame produced twice keeps its latest masks
        self._f.write(json.dumps({"frame": frame, "rles": {str(k): v for k, v in rles.items()}}) + "\n")

    def read(self, frame: int) -> dict[int, dict] | None:
        off = self.offsets.get(frame)
        if off is None:
            return None
        self._f.seek(off)
        return {int(k): v for k, v in json.loads(self._f.readline())["rles"].items()}

    def close(self) -> None:
        self._f.close()
        try:
            os.unlink(self.spool_path)
        except OSError:
            pass


def _bucket(area: float) -> str:
    if area < 32 ** 2:
        return "small"
    if area < 96 ** 2:
        return "medium"
    return "large"


def write_sav(spool: SavSpool, video_id: str, n_frames: int, h: int, w: int, fps: float, stride: int,
              edited: dict[int, set]) -> None:
    """Assemble the SA-V JSON from the spool, one annotated frame at a time, atomically."""
    from annotator.core.rle import area, encode

    import numpy as np

    empty = encode(np.zeros((h, w), bool))
    ids = spool.obj_ids
    k = len(ids)
    areas = [0.0] * k
    nonempty = [0] * k
    first = [None] * k
    changes = [0] * k
    prev_vis = [None] * k
    fd, name = tempfile.mkstemp(prefix=f".{spool.out.name}.", suffix=".part", dir=spool.out.parent)
    tmp = Path(name)
    apply_umask(fd)
    annotated = list(range(0, n_frames, stride))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        head = {
            "video_id": video_id,
            "video_duration": n_frames / fps if fps else 0.0,
            "video_frame_count": float(n_frames),
            "video_height": float(h),
            "video_width": float(w),
            "video_resolution": float(h * w),
        }
        f.write(json.dumps(head)[:-1] + ', "masklet": [')
        for a, t in enumerate(annotated):
            rles = spool.read(t) or {}
            row = []
            for j, oid in enumerate(ids):
                r = rles.get(oid) or empty
                row.append(r)
                ar = area(r)
                vis = ar > 0
                if vis:
                    areas[j] += ar
                    nonempty[j] += 1
                    if first[j] is None:
                        first[j] = a
                if first[j] is not None and prev_vis[j] is not None and vis != prev_vis[j]:
                    changes[j] += 1
                prev_vis[j] = vis
            f.write(("," if a else "") + json.dumps(row))
        size_abs = [areas[j] / nonempty[j] if nonempty[j] else 0.0 for j in range(k)]
        tail = {
            "masklet_id": [oid - 1 for oid in ids],  # SA-V ids start at 0, ours at 1
            "masklet_size_rel": [s / float(h * w) for s in size_abs],
            "masklet_size_abs": size_abs,
            "masklet_size_bucket": [_bucket(s) for s in size_abs],
            "masklet_visibility_changes": changes,
            "masklet_first_appeared_frame": [fa if fa is not None else 0 for fa in first],
            "masklet_frame_count": [len(annotated)] * k,
            "masklet_edited_frame_count": [len({t for t in edited.get(oid, ()) if t % stride == 0}) for oid in ids],
            "masklet_type": ["manual"] * k,
            "masklet_stability_score": [None] * k,
            "masklet_num": k,
        }
        if stride != 4:
            tail["masklet_stride"] = stride  # SA-V files annotate every 4th frame; say so when we do not
        f.write("], " + json.dumps(tail)[1:])
        f.flush()
        os.fsync(f.fileno())
    try:
        os.replace(tmp, check_output(spool.out))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _run(args) -> int:
    from annotator.core.rle import encode
    from annotator.engines.registry import create_video_session
    from annotator.media import open_video

    prompts = read_prompts(args.prompts)
    out = check_output(args.output)  # a folder or the project itself fails now, not after the run
    if out.parent and not out.parent.is_dir():
        raise AnnotatorError(f"{out.parent}: output folder does not exist")
    if args.stride <= 0:
        raise AnnotatorError(f"--stride must be positive, got {args.stride}")
    source = open_video(args.video)
    n, h, w = int(source.num_frames), int(source.height), int(source.width)
    for pr in prompts:
        if not 0 <= pr["frame"] < n:
            raise AnnotatorError(f"{args.prompts}: prompt on frame {pr['frame']} but {args.video} has {n} frames")
        check_prompt(pr["points"], pr["labels"], pr["box"], width=w, height=h,
                     where=f"{args.prompts}: prompt on frame {pr['frame']}")
    from annotator import precision_option as precision_arg

    precision_arg.note(args, args.model)
    session = create_video_session(args.model, args.weights, precision=args.precision)
    session.open(source)
    obj_ids = sorted({pr["obj_id"] for pr in prompts})
    edited: dict[int, set] = {}
    for pr in sorted(prompts, key=lambda p: p["frame"]):
        session.add_prompt(pr["frame"], pr["obj_id"], points=pr["points"], labels=pr["labels"], box=pr["box"])
        edited.setdefault(pr["obj_id"], set()).add(pr["frame"])
    start = min(pr["frame"] for pr in prompts)
    spool = SavSpool(out, obj_ids)
    t0 = time.perf_counter()
    done = 0
    try:
        direction = "both" if start > 0 else "forward"
        for t, masks in session.propagate(start, direction):
            spool.add(t, {oid: encode(m) for oid, m in masks.items()})
            done += 1
            if not args.quiet:
                el = time.perf_counter() - t0
                print(f"\rframe {t + 1}/{n}  ({done / el:.2f} frames/s)", end="", file=sys.stderr, flush=True)
        if not args.quiet:
            print(file=sys.stderr)
        write_sav(spool, Path(args.video).stem, n, h, w, float(getattr(source, "fps", 0) or 0), args.stride, edited)
    finally:
        spool.close()
        close = getattr(source, "close", None)
        if close:
            close()
    print(f"wrote {out} ({len(obj_ids)} objects, {done} frames propagated in {time.perf_counter() - t0:.1f} s)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("propagate", help="propagate prompted objects through a video and write SA-V JSON")
    p.add_argument("video", help="video file or frame folder")
    p.add_argument("--model", required=True, help="video engine: a model card name (e.g. sam2.1_hiera_tiny) or classic")
    p.add_argument("--weights", default=None, help="checkpoint file, or 'random' for synthetic weights "
                                                   "(default: the installed checkpoint)")
    p.add_argument("--prompts", required=True, help="JSON list of {frame, obj_id, points, labels} or {frame, obj_id, box}")
    p.add_argument("-o", "--output", required=True, help="SA-V JSON to write (e.g. out.sav.json)")
    p.add_argument("--stride", type=int, default=1, help="write every Nth frame (SA-V datasets use 4; default 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    from annotator import precision_option as precision_arg

    precision_arg.add(p)
    p.set_defaults(func=_run)
