"""`annotator bench precision --model M`: a reduced precision against our float32, in one run.

Two sessions of the same model and weights, float32 and the chosen precision, are driven
call by call in alternation (encoder runs, clicks, video frames), so the machine's load hits
both alike; speed-ups are medians of the per-pair ratios. CPU time per call is reported beside
wall time: on a shared machine the wall time includes waiting for a core.
- images (--media photos, default the shared photos): encoder ratio; clicks placed by the
  standard robot user on the float32 mask's errors against a reference object (the float32
  mask of a centre click), each click answered by both sessions; mask IoU vs float32 per click.
- video (SAM 2 family, --sequence of a DAVIS folder): one object clicked on frame 0 at the
  centre of the ground-truth mask, propagated over --frames frames (the sequence played
  forward and back as needed); per-frame mask IoU vs float32 and frames/s of each.
- peak RSS: each precision in a fresh child process (load + one encoder run + clicks).
With --weights random (the only weights on the project's machines) the figures are for
synthetic weights; every printed figure says so.
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# the project's shared media (photos, DAVIS), next to the checkout unless ANNOTATOR_SHARED says
_SHARED_DATA = Path(os.environ.get("ANNOTATOR_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "data"


def register(sub) -> None:
    p = sub.add_parser("precision", help="reduced precision vs our float32: paired speed-up, mask IoU, peak RSS")
    p.add_argument("--model", required=True, help="model card name")
    p.add_argument("--weights", default="random", help="'random' (synthetic) or a checkpoint file")
    p.add_argument("--precision", choices=("int8", "bf16", "auto"), default="auto",
                   help="the precision to compare with fp32 (default auto: what this CPU would use)")
    p.add_argument("--media", nargs="*", default=None, help="photos (default: the shared photos)")
    p.add_argument("--davis", default=str(_SHARED_DATA / "davis2016"), help="DAVIS-layout folder for video models")
    p.add_argument("--sequence", default="dog", help="DAVIS sequence for video models (default dog)")
    p.add_argument("--frames", type=int, default=100, help="video frames to propagate (default 100)")
    p.add_argument("--image-size", type=int, default=None,
                   help="video part only: model input size override (as in `bench video`; default the card's)")
    p.add_argument("--repeats", type=int, default=3, help="paired encoder runs per photo (default 3)")
    p.add_argument("--clicks", type=int, default=6, help="clicks per photo (default 6)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--no-video", action="store_true", help="skip the video part of a video model")
    p.add_argument("--video-only", action="store_true", help="only the video part (no photos, no peak RSS)")
    p.add_argument("--json", default=None, help="write the results as JSON here")
    p.set_defaults(func=run)


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    from annotator.eval.metrics import j_measure

    return float(j_measure(a, b))


def _sessions(model: str, weights, precision: str):
    from annotator.engines import registry
    from annotator.engines.learned import LearnedImageSession

    card = registry.get_card(model)
    w = weights if weights == "random" else registry.resolve_weights(card, weights)
    ref = LearnedImageSession(card, w, precision="fp32", disk_cache=False)
    low = LearnedImageSession(card, w, precision=precision, disk_cache=False)
    return card, w, ref, low


def _encode(sess):
    return getattr(sess, "encode_uncached", None) or sess.set_image


def images_part(model, weights, precision, photos, repeats, clicks) -> dict:
    from annotator.eval.clicker import clicks_to_arrays, next_click
    from annotator.media.image import load_image

    _, _, ref, low = _sessions(model, weights, precision)
    enc_ratio, enc_cpu_ratio, enc = [], [], {"fp32": [], "low": []}
    click_ms = {"fp32": [], "low": []}
    click_cpu_ms = {"fp32": [], "low": []}
    per_image = []
    for path in photos:
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        for s in (ref, low):
            _encode(s)(rgb)  # warm-up
        for _ in range(repeats):
            _, wa, ca = _timed(lambda: _encode(ref)(rgb))
            _, wb, cb = _timed(lambda: _encode(low)(rgb))
            enc_ratio.append(wa / wb)
            enc_cpu_ratio.append(ca / cb)
            enc["fp32"].append(ca)
            enc["low"].append(cb)
        ref.set_image(rgb)
        low.set_image(rgb)
        centre = np.array([[w / 2, h / 2]], np.float32)
        pr = ref.predict(points=centre, labels=np.array([1]), multimask=True)
        target = pr.masks[pr.best]  # the reference object the robot user refines
        ious, pts = [], []
        pred = None
        for _ in range(clicks):
            c = next_click(target, pred, pts)
            if c is None:
                break
            pts.append(c)
            p, lab = clicks_to_arrays(pts)
            multi = len(pts) == 1
            a, ta, cpu_a = _timed(lambda: ref.predict(points=p, labels=lab, multimask=multi))
            b, tb, cpu_b = _timed(lambda: low.predict(points=p, labels=lab, multimask=multi))
            click_ms["fp32"].append(1000 * ta)
            click_ms["low"].append(1000 * tb)
            click_cpu_ms["fp32"].append(1000 * cpu_a)
            click_cpu_ms["low"].append(1000 * cpu_b)
            pred = a.masks[a.best]
            ious.append(_iou(pred, b.masks[b.best]))
        per_image.append({"image": os.path.basename(str(path)), "clicks": len(ious),
                          "iou_median": statistics.median(ious), "iou_min": min(ious)})
    all_iou = [i for r in per_image for i in [r["iou_median"], r["iou_min"]]]
    return {
        "precision": low_precision(low),
        "encoder_fp32_cpu_s": statistics.median(enc["fp32"]),
        "encoder_low_cpu_s": statistics.median(enc["low"]),
        "encoder_speedup_wall": statistics.median(enc_ratio),
        "encoder_speedup_cpu": statistics.median(enc_cpu_ratio),
        "click_fp32_ms": statistics.median(click_ms["fp32"]),
        "click_low_ms": statistics.median(click_ms["low"]),
        "click_fp32_cpu_ms": statistics.median(click_cpu_ms["fp32"]),
        "click_low_cpu_ms": statistics.median(click_cpu_ms["low"]),
        "iou_median": statistics.median(r["iou_median"] for r in per_image),
        "iou_min": min(all_iou),
        "per_image": per_image,
    }


def low_precision(sess) -> str:
    return getattr(sess, "precision", "fp32")


class _PingPong:
    """A DAVIS sequence played forward and back until `n` frames (a FrameSource-like object)."""

    def __init__(self, frames, n: int):
        self._f = frames
        self.num_frames, self.width, self.height, self.fps = int(n), frames.width, frames.height, 24.0
        k = frames.num_frames
        period = max(2 * k - 2, 1)
        self._idx = [(i % period) if (i % period) < k else period - (i % period) for i in range(n)]

    def frame(self, i: int) -> np.ndarray:
        return self._f.frame(self._idx[i])


def video_part(model, weights, precision, davis, sequence, frames, image_size=None) -> dict:
    import cv2

    from annotator.engines import registry
    from annotator.engines.video import LearnedVideoSession
    from annotator.eval.davis import list_sequences

    card = registry.get_card(model)
    w = weights if weights == "random" else str(registry.resolve_weights(card, weights))
    if image_size:  # bench-only override, as `bench video --image-size`: grids scale with it
        card = {"name": card.name, "arch": dict(card.arch, image_size=int(image_size)),
                "input": dict(card.input, image_size=int(image_size)), "checkpoint": card.checkpoint}
    seq = list_sequences(davis, [sequence])[0]
    src = _PingPong(seq.frames(), frames)
    gt0 = seq.labels(0) == seq.object_ids()[0]
    dt = cv2.distanceTransform(np.pad(gt0.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dt)), dt.shape)
    sessions = {}
    for name in ("fp32", precision):
        s = LearnedVideoSession(card, w, precision=name)
        s.open(src)
        s.add_prompt(0, 1, np.array([[x, y]], np.float32), np.array([1]))
        sessions["fp32" if name == "fp32" else "low"] = s
    gens = {k: s.propagate(0) for k, s in sessions.items()}
    ious, area, t, c = [], [], {"fp32": [], "low": []}, {"fp32": [], "low": []}
    for _ in range(frames):
        out = {}
        for k in ("fp32", "low"):
            (fr, masks), wt, ct = _timed(lambda: next(gens[k]))
            out[k] = masks.get(1)
            t[k].append(wt)
            c[k].append(ct)
        ious.append(_iou(out["fp32"], out["low"]))
        area.append(float(np.mean(out["fp32"])))
    ratio = [a / b for a, b in zip(c["fp32"][1:], c["low"][1:])]
    return {
        "precision": sessions["low"].precision, "sequence": sequence, "frames": frames,
        "image_size": sessions["fp32"].image_size, "click": [int(x), int(y)],
        "fps_fp32_cpu": len(c["fp32"]) / sum(c["fp32"]), "fps_low_cpu": len(c["low"]) / sum(c["low"]),
        "fps_fp32_wall": len(t["fp32"]) / sum(t["fp32"]), "fps_low_wall": len(t["low"]) / sum(t["low"]),
        "speedup_cpu": statistics.median(ratio) if ratio else None,
        "iou_median": statistics.median(ious), "iou_min": min(ious),
        "iou_last10_median": statistics.median(ious[-10:]),
        # what the IoU is over: the fp32 mask's share of the frame (an empty or full mask says little)
        "fp32_mask_area_median": statistics.median(area), "fp32_mask_area_min": min(area),
        "iou_per_frame": [round(v, 5) for v in ious],
    }


def _rss_child(model, weights, precision, photo) -> float:
    cmd = [sys.executable, "-m", "annotator.bench.precision", "--rss-child", model, str(weights), precision, str(photo)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr or proc.stdout).strip().splitlines()[-1])
    return float(proc.stdout.strip().splitlines()[-1])


def _rss_main(model, weights, precision, photo) -> None:
    from annotator.engines import registry
    from annotator.engines.learned import LearnedImageSession
    from annotator.media.image import load_image

    card = registry.get_card(model)
    w = weights if weights == "random" else registry.resolve_weights(card, weights)
    s = LearnedImageSession(card, w, precision=precision, disk_cache=False)
    rgb = load_image(photo)
    s.set_image(rgb)
    h, w_ = rgb.shape[:2]
    s.predict(points=np.array([[w_ / 2, h / 2]], np.float32), labels=np.array([1]))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(args) -> dict:
    from annotator.nn.threads import torch_threads

    with torch_threads(args.threads):
        return _measure(args)


def _measure(args) -> dict:
    from annotator.engines import registry
    from annotator.nn import precision as prec

    card = registry.get_card(args.model)
    resolved = prec.resolve(args.precision)
    photos = args.media or [str(_SHARED_DATA / "images_groceries.jpg"), str(_SHARED_DATA / "images_truck.jpg")]
    res = {"bench": "precision", "model": args.model,
           "weights": "random (synthetic)" if args.weights == "random" else os.path.basename(str(args.weights)),
           "setting": args.precision, "precision": resolved, "cpu_capability": prec.capability(),
           "threads": int(args.threads), "load_average_1min": round(os.getloadavg()[0], 2)}
    if resolved == "fp32":
        res["note"] = "precision resolves to fp32 on this CPU: nothing to compare"
        return res
    family = (getattr(card, "arch", {}) or {}).get("family")
    if not getattr(args, "video_only", False) or family != "sam2":
        res["images"] = images_part(args.model, args.weights, resolved, photos, args.repeats, args.clicks)
        res["peak_rss_mb"] = {p: round(_rss_child(args.model, args.weights, p, photos[0]), 1)
                              for p in ("fp32", resolved)}
    if family == "sam2" and not args.no_video:
        res["video"] = video_part(args.model, args.weights, resolved, args.davis, args.sequence, args.frames,
                                  args.image_size)
    return res


def format_table(r: dict) -> str:
    syn = " [synthetic weights]" if r["weights"].startswith("random") else ""
    lines = [f"bench precision: {r['model']}, {r['setting']} -> {r['precision']}, weights {r['weights']}, "
             f"{r['threads']} thread(s), CPU {r['cpu_capability']}, load {r['load_average_1min']}"]
    if "note" in r:
        return "\n".join(lines + [r["note"]])
    p = r["precision"]
    im = r.get("images")
    if im:
        lines += [
            f"encoder CPU s fp32 / {p}        {im['encoder_fp32_cpu_s']:.3f} / {im['encoder_low_cpu_s']:.3f}{syn}",
            f"encoder speed-up (paired)       {im['encoder_speedup_cpu']:.2f}x CPU time, "
            f"{im['encoder_speedup_wall']:.2f}x wall{syn}",
            f"click ms fp32 / {p} (wall)      {im['click_fp32_ms']:.1f} / {im['click_low_ms']:.1f}{syn}",
            f"click ms fp32 / {p} (CPU time)  {im['click_fp32_cpu_ms']:.1f} / {im['click_low_cpu_ms']:.1f}{syn}",
            f"mask IoU vs fp32 median / min   {im['iou_median']:.4f} / {im['iou_min']:.4f}{syn}",
        ]
        for row in im["per_image"]:
            lines.append(f"  {row['image']:<28} {row['clicks']} clicks, IoU median {row['iou_median']:.4f}, "
                         f"min {row['iou_min']:.4f}{syn}")
        rss = r["peak_rss_mb"]
        lines.append(f"peak RSS MB fp32 / {p}          {rss['fp32']:.0f} / {rss[p]:.0f}{syn}")
    v = r.get("video")
    if v:
        lines += [
            f"video {v['sequence']} {v['frames']} frames at {v['image_size']} px, 1 object:",
            f"  frames/s fp32 / {p} (CPU time) {v['fps_fp32_cpu']:.2f} / {v['fps_low_cpu']:.2f}, "
            f"paired speed-up {v['speedup_cpu']:.2f}x{syn}",
            f"  frames/s fp32 / {p} (wall)     {v['fps_fp32_wall']:.2f} / {v['fps_low_wall']:.2f}{syn}",
            f"  per-frame IoU vs fp32 median / min {v['iou_median']:.4f} / {v['iou_min']:.4f} "
            f"(last 10 frames median {v['iou_last10_median']:.4f}){syn}",
            f"  fp32 mask area median / min    {100 * v['fp32_mask_area_median']:.1f}% / "
            f"{100 * v['fp32_mask_area_min']:.1f}% of the frame{syn}",
        ]
    return "\n".join(lines)


def run(args) -> int:
    r = measure(args)
    print(format_table(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__" and len(sys.argv) >= 2 and sys.argv[1] == "--rss-child":
    _rss_main(*sys.argv[2:6])
