"""`annotator bench image --model NAME`: parameters, encoder and per-click decoder latency, peak RSS.

Encoder latency is the median of N runs (after warm-up) of preprocessing + image encoder on a
1024-long-side image; decoder latency is one whole `predict` call (prompt encoder, mask decoder,
upsampling to the image size) over a sequence of clicks that feed back the previous low-res
logits, as the app does. Process CPU time is reported beside wall time: on a shared machine the
wall time includes waiting for the CPU, CPU time / threads is what the run would take alone.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

# Official implementation on the parity machine kind (2 threads, float32 eager, median of 5 after
# warm-up; ../shared/parity/README.md §6): encoder s, one predictor.predict call s (ranges).
OFFICIAL = {
    "edgesam": ((0.50, 0.52), (0.056, 0.074)),
    "edgesam_3x": ((0.50, 0.52), (0.056, 0.074)),
    "mobilesam": ((1.42, 1.46), (0.068, 0.073)),
    "tinysam": ((1.42, 1.46), (0.068, 0.073)),
}


def register(sub) -> None:
    p = sub.add_parser("image", help="image model speed: encoder, decoder per click, peak memory")
    p.add_argument("--model", required=True, help="model card name (see `annotator models list`)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    p.add_argument("--weights", default=None,
                   help="'random' or a checkpoint file (default: the installed checkpoint, else random)")
    p.add_argument("--repeats", type=int, default=10, help="timed encoder runs (default 10)")
    p.add_argument("--clicks", type=int, default=20, help="timed decoder calls (default 20)")
    p.add_argument("--json", dest="json_out", default=None, help="write the results as JSON here")
    from annotator import precision_option as precision_arg

    precision_arg.add(p, default="fp32")
    p.add_argument("--malloc-ab", type=int, default=0, metavar="N",
                   help="instead: N paired encoder runs with glibc's adapted malloc thresholds and with "
                        "ours, alternated in one process (page faults and time per run)")
    p.set_defaults(func=run)


def synthetic_image(h: int = 768, w: int = 1024):
    """A deterministic photo-like test image (gradients, blobs, texture), 1024 on the long side."""
    import numpy as np

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200, yy / h * 180, (xx + yy) / (w + h) * 160], -1) + 30
    for cx, cy, r, col in ((300, 300, 140, (220, 40, 40)), (700, 450, 200, (40, 200, 60)), (520, 200, 90, (30, 60, 230))):
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        img[inside] = col
    rng = np.random.default_rng(0)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def decoder_gemm_floor(runs: int = 30) -> tuple[float, float]:
    """(GFLOP, median ms) of only the matrix products of one single-click SAM decoder call
    (256 channels, 8 heads, a 64x64 embedding; 7 tokens: 5 outputs, the click, the pad
    point), in the folded forms our decoder uses, run back to back on warm caches. No
    float32 implementation of that decoder can click faster than this on the machine:
    layer norms, softmaxes, GELUs and the upsampling to image size all come on top."""
    import torch

    m, c, heads, n = 4096, 256, 8, 7
    hn, ho = heads * n, heads * 6  # the final attention needs the <= 6 output tokens only
    shapes = [((m, hn), (hn, c)),  # layer 0 image->token output (its projections are per image)
              ((hn, c), (c, m)), ((hn, m), (m, c)),  # layer 1 token->image, folded
              ((hn, c), (c, m)), ((m, hn), (hn, c)),  # layer 1 image->token, folded
              ((ho, c), (c, m)), ((ho, m), (m, c)),  # final token->image
              ((m, c), (c, 256)), ((4 * m, 64), (64, 128)),  # the two transposed convs
              ((16 * m, 32), (32, 4))]  # hypernetwork product
    g = torch.Generator().manual_seed(0)
    mats = [(torch.randn(*a, generator=g), torch.randn(*b, generator=g)) for a, b in shapes]
    gflop = sum(2 * a[0] * a[1] * b[1] for a, b in shapes) / 1e9
    times = []
    with torch.inference_mode():
        for i in range(runs + 5):
            t = time.perf_counter()
            for a, b in mats:
                torch.mm(a, b)
            if i >= 5:
                times.append(time.perf_counter() - t)
    return gflop, 1000 * statistics.median(times)


def measure(model: str, threads: int = 2, weights=None, repeats: int = 10, clicks: int = 20,
            precision: str = "fp32") -> dict:
    from annotator.nn.threads import torch_threads

    with torch_threads(threads):
        return _measure(model, threads, weights, repeats, clicks, precision)


def _open_session(model: str, weights, precision: str = "fp32"):
    """(card, weights, session, encode function, load seconds) without the embedding cache;
    weights None = the installed checkpoint, else random. SAM 2 family sessions have no
    cache to bypass, so their encode function is set_image."""
    from annotator.engines import registry
    from annotator.engines.learned import LearnedImageSession

    card = registry.get_card(model)
    weights = (registry.installed_path(card) or "random") if weights is None else registry.resolve_weights(card, weights)
    t0 = time.perf_counter()
    sess = LearnedImageSession(card, weights, disk_cache=False, precision=precision)
    load_s = time.perf_counter() - t0
    return card, weights, sess, getattr(sess, "encode_uncached", None) or sess.set_image, load_s


def _measure(model: str, threads: int, weights, repeats: int, clicks: int, precision: str = "fp32") -> dict:
    import numpy as np
    import torch

    from annotator.nn import allocator

    card, weights, sess, encode_fn, load_s = _open_session(model, weights, precision)
    img = synthetic_image()
    h, w = img.shape[:2]
    for _ in range(2):
        encode_fn(img)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    enc = [_timed(lambda: encode_fn(img)) for _ in range(repeats)]
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / repeats
    sess.set_image(img)

    # clicks spread over the image; each refines the previous mask like the app does
    rng = np.random.default_rng(1)
    pts = np.stack([rng.uniform(0.1, 0.9, clicks + 2) * w, rng.uniform(0.1, 0.9, clicks + 2) * h], 1)
    sess.predict(points=pts[:1], labels=np.array([1]))
    dec = []
    prev = None
    for i in range(clicks):
        n = 1 + i % 3
        p, lab = pts[i: i + n], np.array([1] + [i % 2] * (n - 1))
        kw = {} if prev is None else {"mask_input": prev}
        out = {}
        dec.append(_timed(lambda: out.setdefault("p", sess.predict(points=p, labels=lab, multimask=n == 1, **kw))))
        pred = out["p"]
        prev = pred.lowres_logits[pred.best]
        if i % 3 == 2:
            prev = None  # start a new object now and then
    floor_gflop, floor_ms = decoder_gemm_floor()
    params = sum(int(p.numel()) for p in getattr(sess, "model").parameters()) if hasattr(sess, "model") else None
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res = {
        "model": model,
        "weights": "random" if str(weights) == "random" else str(weights),
        "threads": threads,
        "precision": getattr(sess, "precision", "fp32"),
        "image": f"{w}x{h}",
        "params_official": card.params,
        "params_runtime": params,
        "load_s": round(load_s, 3),
        "encoder_s_median": statistics.median(e[0] for e in enc),
        "encoder_cpu_s_median": statistics.median(e[1] for e in enc),
        "decoder_ms_median": 1000 * statistics.median(d[0] for d in dec),
        "decoder_cpu_ms_median": 1000 * statistics.median(d[1] for d in dec),
        "decoder_gemm_floor_ms": round(floor_ms, 2),
        "decoder_gemm_floor_gflop": round(floor_gflop, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "encoder_minor_faults": round(faults),
        "malloc_tuned": allocator.tune_for_inference(),
        # other processes competing for the CPU make wall times meaningless; say how busy it was
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "cpu_count": os.cpu_count(),
        "repeats": repeats,
        "clicks": clicks,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    off = OFFICIAL.get(model)
    if off:
        res["official_encoder_s"] = list(off[0])
        res["official_decoder_s"] = list(off[1])
        res["encoder_speedup_vs_official"] = round(min(off[0]) / res["encoder_s_median"], 2)
    return res


def format_table(r: dict) -> str:
    rows = [
        ("model", r["model"]),
        ("weights", r["weights"]),
        ("threads", r["threads"]),
        ("precision", r.get("precision", "fp32")),
        ("parameters (official / runtime)", f"{r['params_official']:,} / {r['params_runtime']:,}"
         if r.get("params_runtime") and r.get("params_official") else str(r.get("params_official"))),
        ("encoder s (median, wall)", f"{r['encoder_s_median']:.3f}"),
        ("encoder CPU s / threads", f"{r['encoder_cpu_s_median'] / r['threads']:.3f}"),
        ("decoder ms per click (median, wall)", f"{r['decoder_ms_median']:.1f}"),
        ("decoder CPU ms / threads", f"{r['decoder_cpu_ms_median'] / r['threads']:.1f}"),
        ("decoder GEMMs alone ms (floor)", f"{r['decoder_gemm_floor_ms']:.1f} for {r['decoder_gemm_floor_gflop']:.2f} GFLOP"),
        ("peak RSS MB", f"{r['peak_rss_mb']:.0f}"),
        ("page faults per encoder run", f"{r.get('encoder_minor_faults')}"
         + ("" if r.get("malloc_tuned") else " (glibc malloc defaults)")),
        ("machine load (1 min) / CPUs", f"{r.get('load_average_1min')} / {r.get('cpu_count')}"),
    ]
    if "official_encoder_s" in r:
        a, b = r["official_encoder_s"]
        rows.append(("official encoder s (README §6)", f"{a:.2f}-{b:.2f}"))
        rows.append(("encoder speed-up vs official", f"{r['encoder_speedup_vs_official']:.2f}x"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def malloc_ab(model: str, threads: int = 2, weights=None, pairs: int = 8) -> dict:
    """Encoder runs alternating glibc's thresholds at their largest / ours (allocator.py) in one process, so
    that the machine's drift hits both alike; each side gets one unmeasured run first."""
    import numpy as np
    import torch

    from annotator.nn import allocator

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _, _, _, encode, _ = _open_session(model, weights or "random")
        img = synthetic_image()
        runs = {"untuned": [], "tuned": []}
        for _ in range(pairs):
            for side in runs:
                if side == "untuned" and not allocator.use_untuned():
                    raise RuntimeError("malloc thresholds cannot be set here (not glibc)")
                if side == "tuned":
                    allocator.tune_for_inference()
                encode(img)
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t = time.perf_counter()
                encode(img)
                runs[side].append((time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0))
    finally:
        allocator.tune_for_inference()
        torch.set_num_threads(before)
    ratio = [u[0] / t[0] for u, t in zip(runs["untuned"], runs["tuned"])]
    return {"model": model, "threads": threads, "pairs": pairs,
            **{f"{side}_s_median": statistics.median(x[0] for x in v) for side, v in runs.items()},
            **{f"{side}_faults_median": statistics.median(x[1] for x in v) for side, v in runs.items()},
            "speedup_median": float(np.median(ratio)), "speedup_min": min(ratio), "speedup_max": max(ratio)}


def run(args) -> int:
    if args.malloc_ab:
        r = malloc_ab(args.model, args.threads, args.weights, args.malloc_ab)
        print(f"{r['model']}, {r['pairs']} pairs, {r['threads']} threads: encoder "
              f"{r['untuned_s_median']:.3f} s with glibc's adapted thresholds ({r['untuned_faults_median']:.0f} page "
              f"faults), {r['tuned_s_median']:.3f} s tuned ({r['tuned_faults_median']:.0f}); paired speed-up "
              f"median {r['speedup_median']:.2f}x (range {r['speedup_min']:.2f}-{r['speedup_max']:.2f})")
    else:
        r = measure(args.model, args.threads, args.weights, args.repeats, args.clicks, args.precision)
        print(format_table(r))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0
