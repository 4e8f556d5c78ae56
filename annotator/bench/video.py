"""`annotator bench video`: propagation speed and peak memory versus video length.

Each (length, object count) runs in a fresh subprocess so that its peak RSS is its own. Frames
are synthetic (a textured background with moving discs, generated on demand like a decoder
would), so the bench needs no media files; the session only ever sees one frame at a time.
Printed per row: peak RSS, seconds per frame, the image encoder and the memory path
(memory attention + SAM heads + memory encoder) timed separately, and frames per second.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np


class SyntheticVideo:
    """Deterministic frames: fixed noise texture + `k` discs moving on circular paths."""

    def __init__(self, num_frames: int, width: int = 854, height: int = 480, discs: int = 3, seed: int = 0):
        self.num_frames, self.width, self.height, self.fps = int(num_frames), int(width), int(height), 30.0
        rng = np.random.default_rng(seed)
        self._bg = (rng.integers(60, 140, size=(height // 8 + 1, width // 8 + 1, 3))).astype(np.uint8)
        self._colors = rng.integers(150, 255, size=(discs, 3)).astype(np.uint8)
        self._discs = discs
        yy, xx = np.mgrid[0:height, 0:width]
        self._yy, self._xx = yy.astype(np.float32), xx.astype(np.float32)

    def centre(self, k: int, i: int) -> tuple[float, float]:
        a = 2 * np.pi * (i / 120.0 + k / max(self._discs, 1))
        cx = self.width * (0.25 + 0.5 * (k + 0.5) / self._discs) + 0.08 * self.width * np.cos(a)
        cy = self.height * 0.5 + 0.2 * self.height * np.sin(a)
        return float(cx), float(cy)

    def frame(self, i: int) -> np.ndarray:
        img = np.repeat(np.repeat(self._bg, 8, 0), 8, 1)[: self.height, : self.width].copy()
        r = 0.09 * self.height
        for k in range(self._discs):
            cx, cy = self.centre(k, i)
            img[(self._xx - cx) ** 2 + (self._yy - cy) ** 2 <= r * r] = self._colors[k]
        return img


def _peak_rss_mb() -> float:
    import resource

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kb / 1024.0


def _current_rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_one(model: str, weights: str, frames: int, objects: int, image_size: int | None,
            precision: str = "fp32") -> dict:
    """One measurement in this process (the parent runs this in a fresh child per row)."""
    import torch

    from annotator.engines.registry import get_card
    from annotator.engines.video import LearnedVideoSession

    card = get_card(model)
    if image_size:
        # bench-only override: the architecture accepts other input sizes (grids scale with it)
        arch = dict(card.arch, image_size=int(image_size))
        inp = dict(card.input, image_size=int(image_size))
        card = {"name": card.name, "arch": arch, "input": inp, "checkpoint": card.checkpoint}
    if weights != "random":
        from annotator.engines.registry import resolve_weights

        weights = str(resolve_weights(get_card(model), weights))
    sess = LearnedVideoSession(card, weights, precision=precision)
    src = SyntheticVideo(frames, discs=max(objects, 1))
    sess.open(src)
    rss_after_load = _peak_rss_mb()
    with torch.inference_mode():
        for k in range(objects):
            cx, cy = src.centre(k, 0)
            sess.add_prompt(0, k + 1, np.array([[cx, cy]], np.float32), np.array([1], np.int32))
        rss_start = _current_rss_mb()  # after loading and prompting: what propagation adds comes on top
        t0 = time.perf_counter()
        enc0, mem0 = sess.timing["encoder_s"], sess.timing["memory_s"]
        n = 0
        for _t, _masks in sess.propagate(0):
            n += 1
        wall = time.perf_counter() - t0
    enc = sess.timing["encoder_s"] - enc0
    mem = sess.timing["memory_s"] - mem0
    return {
        "model": model, "weights": "random" if weights == "random" else os.path.basename(str(weights)),
        "image_size": sess.image_size, "frames": n, "objects": objects, "precision": sess.precision,
        "peak_rss_mb": round(_peak_rss_mb(), 1), "rss_after_load_mb": round(rss_after_load, 1),
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(_current_rss_mb(), 1),
        "sec_per_frame": round(wall / max(n, 1), 4), "fps": round(n / wall, 3) if wall > 0 else None,
        "encoder_sec_per_frame": round(enc / max(n, 1), 4),
        "memory_sec_per_frame": round(mem / max(n, 1), 4),
        "memory_sec_per_frame_per_object": round(mem / max(n * objects, 1), 4),
        "memory_bank_mb": round(sess.memory_bytes() / 2**20, 2),
        "threads": torch.get_num_threads(),
    }


def _ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        vals = []
    if not vals or min(vals) <= 0:
        from annotator.errors import AnnotatorError

        raise AnnotatorError(f"expected a comma-separated list of positive integers, got {text!r}")
    return vals


def _main(args) -> int:
    from annotator.engines.registry import get_card

    get_card(args.model)  # a clear error for unknown models before spawning anything
    rows = []
    hdr = (f"{'frames':>6} {'objs':>4} {'peak RSS MB':>11} {'s/frame':>8} {'fps':>6} "
           f"{'encoder s/f':>11} {'memory s/f':>10} {'bank MB':>8} {'RSS start->end MB':>18}")
    print(f"bench video: model {args.model}, weights {args.weights}, precision {args.precision}"
          + (f", image size {args.image_size} (bench override)" if args.image_size else ""))
    print(hdr)
    for n in _ints(args.frames):
        for k in _ints(args.objects):
            cmd = [sys.executable, "-m", "annotator.bench.video", "--child", args.model, args.weights, str(n), str(k),
                   str(args.image_size or 0), args.precision]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
                print(f"annotator: error: bench child failed for {n} frames, {k} objects: {tail[0]}",
                      file=sys.stderr)
                return 2 if "error" in tail[0].lower() else 1
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{row['frames']:>6} {row['objects']:>4} {row['peak_rss_mb']:>11.1f} {row['sec_per_frame']:>8.3f} "
                  f"{row['fps']:>6.2f} {row['encoder_sec_per_frame']:>11.3f} {row['memory_sec_per_frame']:>10.3f} "
                  f"{row['memory_bank_mb']:>8.1f} {row['rss_start_mb']:>8.1f} -> {row['rss_end_mb']:<8.1f}", flush=True)
    by_obj: dict[int, list] = {}
    for r in rows:
        by_obj.setdefault(r["objects"], []).append(r)
    for k, rs in by_obj.items():
        if len(rs) >= 2:
            lo, hi = min(rs, key=lambda r: r["frames"]), max(rs, key=lambda r: r["frames"])
            growth = (hi["peak_rss_mb"] - lo["peak_rss_mb"]) / lo["peak_rss_mb"] * 100
            print(f"{k} object(s): peak RSS {lo['frames']} -> {hi['frames']} frames: {growth:+.1f}%")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"bench": "video", "model": args.model, "rows": rows}, f, indent=1)
        print(f"wrote {args.json}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("video", help="video propagation: seconds/frame, fps, peak RSS vs number of frames")
    p.add_argument("--model", required=True, help="a video model card name (e.g. sam2.1_hiera_tiny)")
    p.add_argument("--weights", default="random", help="'random' (synthetic weights) or a checkpoint file")
    p.add_argument("--frames", default="50,200,600", help="comma-separated video lengths (default 50,200,600)")
    p.add_argument("--objects", default="1,3", help="comma-separated object counts (default 1,3)")
    p.add_argument("--image-size", type=int, default=None,
                   help="bench-only model input size override (e.g. 512 to run faster on small CPUs)")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    from annotator import precision_option as precision_arg

    precision_arg.add(p, default="fp32")
    p.set_defaults(func=_main)


if __name__ == "__main__" and len(sys.argv) >= 2 and sys.argv[1] == "--child":
    _model, _weights, _n, _k, _size = sys.argv[2:7]
    _prec = sys.argv[7] if len(sys.argv) > 7 else "fp32"
    print(json.dumps(run_one(_model, _weights, int(_n), int(_k), int(_size) or None, _prec)))
