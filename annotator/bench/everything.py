"""`annotator bench everything --model M [--mode grid|hierarchical|both]`: segment-everything
speed, and Fast NMS against greedy mask NMS.

Per image: the embedding is computed once and reused (cached), then each mode runs on it;
wall and CPU time of the generation, decoder calls, prompts decoded, masks out, peak RSS. The
hierarchical/grid ratio is measured in the same process on the same images. With random
weights the official thresholds (IoU 0.88, stability 0.95, high logit 8.5) are never reached
(logits stay within about +-2.5), so the bench then calibrates them per image by a fixed rule,
not tuned to any ratio: on the 8x8 first-pass grid, pred_iou_thresh = median raw IoU,
stability_score_thresh = median stability of the IoU-passing masks, high_score_thresh = median
of the survivors' largest logit; the values are printed and stored.

NMS: candidates are the unfiltered masks of the first grid prompts on the first image (at the
model's 1024 working size); greedy mask NMS (the textbook loop: each candidate against every
kept mask, one pair at a time), greedy mask NMS with one IoU row per kept mask, and Fast NMS
(one IoU matrix) on the same masks; kept counts and whether Fast NMS's extra suppressions are
all of the kind the method allows (suppressed by a candidate that was itself suppressed).
"""
from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

SHARED_PHOTOS = ("images_groceries.jpg", "images_truck.jpg")


def register(sub) -> None:
    p = sub.add_parser("everything", help="segment everything: grid vs hierarchical speed, Fast vs greedy NMS")
    p.add_argument("--model", required=True, help="image model card name")
    p.add_argument("--weights", default="parity",
                   help="'parity' (default: the parity fill with the salt of PARITY_DIR/<model>.schema.json, the "
                        "weights the everything fixtures were made with), 'random', or a checkpoint file")
    p.add_argument("--mode", choices=("grid", "hierarchical", "both"), default="both")
    p.add_argument("--images", nargs="*", default=None,
                   help="images, or 'parity' for the fixtures' input image (default: the two shared photos)")
    p.add_argument("--points-per-side", type=int, default=32)
    p.add_argument("--thresholds", choices=("auto", "official", "parity", "calibrated"), default="auto",
                   help="auto: calibrated with random weights, official otherwise; parity: the shared fixture's "
                        "values; calibrated: medians of the model's own raw outputs on the image (see module doc)")
    p.add_argument("--nms-candidates", type=int, default=240, help="masks in the NMS timing (default 240)")
    p.add_argument("--nms-thresh", type=float, default=0.7)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--json", dest="json_out", default=None, help="write the results as JSON here")
    p.set_defaults(func=run)


def _shared_dir() -> Path:
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("ANNOTATOR_SHARED", root.parent / "shared"))


def _parity_options() -> dict:
    pdir = Path(os.environ.get("PARITY_DIR", _shared_dir() / "parity"))
    f = pdir / "everything" / "hier_tinysam.json"
    if not f.is_file():
        from annotator.errors import AnnotatorError

        raise AnnotatorError(f"{f}: not found (needed for --thresholds parity; use --thresholds official)")
    o = json.loads(f.read_text())["options"]
    return {k: o[k] for k in ("pred_iou_thresh", "stability_score_thresh", "high_score_thresh",
                              "stability_score_offset")} | {"_from": str(f)}


def _parity_session(model: str):
    import torch

    from annotator.engines.learned import LearnedImageSession
    from annotator.engines.registry import get_card
    from annotator.errors import AnnotatorError
    from annotator.nn import factory
    from annotator.nn.fill import fill_state_dict

    pdir = Path(os.environ.get("PARITY_DIR", _shared_dir() / "parity"))
    f = pdir / f"{model}.schema.json"
    if not f.is_file():
        raise AnnotatorError(f"{f}: not found (use --weights random)")
    card = get_card(model)
    with torch.device("cpu"):
        sd = fill_state_dict(factory.build(dict(card.arch)).state_dict(), json.loads(f.read_text())["fill_salt"])
    return LearnedImageSession(card, sd)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def calibrate(session, rgb) -> dict:
    """Median thresholds from the model's raw outputs on the image's 8x8 grid (set_image done)."""
    from annotator.everything import grid as _grid
    from annotator.everything.masks import stability

    h, w = rgb.shape[:2]
    low, iou = session.predict_points(_grid.point_grid(8) * (w, h))
    low = low.reshape(-1, *low.shape[-2:])
    iou = np.asarray(iou, np.float32).reshape(-1)
    t_iou = float(np.median(iou))
    st, mx = [], []
    for i in np.flatnonzero(iou > t_iou):
        lg = session.upsample_logits(low[i:i + 1])[0]
        st.append(float(stability(lg, 0.0, 1.0)))
        mx.append(float(lg.max()))
    st, mx = np.nan_to_num(np.asarray(st)), np.asarray(mx)
    t_st = float(np.median(st))
    return {"pred_iou_thresh": t_iou, "stability_score_thresh": t_st,
            "high_score_thresh": float(np.median(mx[st >= t_st])) if len(mx) else 8.5}


def bench_modes(session, images, modes, opts_kw: dict, calibrated: bool = False) -> list[dict]:
    from annotator.everything.generator import Options, generate
    from annotator.everything.masks import Stats

    rows = []
    for path, rgb in images:
        _, enc_s, _ = _timed(lambda: session.set_image(rgb))  # encoder once; both modes reuse it
        kw = dict(opts_kw, **calibrate(session, rgb)) if calibrated else dict(opts_kw)
        for mode in modes:
            opts = Options.from_dict(dict(kw, crop_n_layers=0))
            st = Stats()
            recs, wall, cpu = _timed(lambda: generate(session, rgb, opts, mode=mode, stats=st))
            rows.append({"image": Path(path).name, "size": [int(rgb.shape[1]), int(rgb.shape[0])], "mode": mode,
                         "wall_s": wall, "cpu_s": cpu, "encoder_s": enc_s, "decoder_calls": st.decoder_calls,
                         "points": st.points, "upsampled": st.upsampled, "masks": len(recs),
                         "encoder_runs": st.encoder_runs, "peak_rss_mb": _rss_mb(), "passes": st.per_pass,
                         "thresholds": {k: kw[k] for k in ("pred_iou_thresh", "stability_score_thresh",
                                                          "high_score_thresh") if k in kw}})
            print(f"  {rows[-1]['image']} {mode}: {wall:.1f} s, {st.points} points, {len(recs)} masks",
                  file=sys.stderr, flush=True)
    return rows


def decoder_candidates(session, rgb, n: int):
    """The unfiltered masks of the first grid prompts (3 per point) at the 1024 working size."""
    import cv2

    from annotator.everything import grid as _grid

    h, w = rgb.shape[:2]
    s = 1024 / max(h, w)
    small = cv2.resize(rgb, (int(w * s + 0.5), int(h * s + 0.5)), interpolation=cv2.INTER_AREA)
    session.set_image(small)
    sh, sw = small.shape[:2]
    pts = _grid.point_grid(32) * (sw, sh)
    low, iou = session.predict_points(pts[:-(-n // 3)])
    low = low.reshape(-1, *low.shape[-2:])[:n]
    scores = np.asarray(iou, np.float32).reshape(-1)[:n]
    masks = np.stack([session.upsample_logits(low[i:i + 1])[0] > 0 for i in range(len(scores))])
    return masks, scores


def synthetic_candidates(n: int, h: int = 683, w: int = 1024, copies: int = 3):
    """Deterministic proposals shaped like a trained model's: n // copies distinct objects
    (ellipses of many sizes, anywhere), each proposed `copies` times with jitter -- many
    objects survive, duplicates must go."""
    import cv2

    rng = np.random.default_rng(15)
    masks, scores = [], []
    for _ in range(n // copies):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        ax, ay = rng.uniform(8, 160), rng.uniform(8, 160)
        ang = rng.uniform(0, 180)
        for _ in range(copies):
            m = np.zeros((h, w), np.uint8)
            j = rng.normal(0, 0.06, 3)
            cv2.ellipse(m, (int(cx + j[0] * ax), int(cy + j[1] * ay)),
                        (max(2, int(ax * (1 + j[2]))), max(2, int(ay * (1 - j[2])))), ang, 0, 360, 1, -1)
            masks.append(m.astype(bool))
            scores.append(rng.uniform(0, 1))
    return np.stack(masks), np.asarray(scores, np.float32)


def bench_nms(masks: np.ndarray, scores: np.ndarray, thresh: float, label: str) -> dict:
    """Greedy mask NMS (pairwise loop; one IoU row per kept mask) vs Fast NMS on the same masks."""
    from annotator.everything.masks import mask_box
    from annotator.everything.nms import MaskSet, fast_nms, greedy_box_nms, greedy_mask_nms

    boxes = np.stack([mask_box(m) for m in masks]).astype(np.float32)
    ms = MaskSet(masks)
    res = {"candidates": int(len(scores)), "source": label, "mask_size": [int(masks.shape[2]), int(masks.shape[1])],
           "iou_threshold": thresh}
    for name, fn in (("greedy_mask_pairwise", lambda: greedy_mask_nms(ms, scores, thresh, pairwise=True)),
                     ("greedy_mask_rows", lambda: greedy_mask_nms(ms, scores, thresh)),
                     ("fast_mask", lambda: fast_nms(scores, thresh, masks=ms)),
                     ("greedy_box", lambda: greedy_box_nms(boxes, scores, thresh)),
                     ("fast_box", lambda: fast_nms(scores, thresh, boxes=boxes))):
        keep, wall, _ = _timed(fn)
        res[name] = {"s": wall, "kept": int(len(keep)), "keep": keep.tolist()}
    g, f = set(res["greedy_mask_rows"]["keep"]), set(res["fast_mask"]["keep"])
    res["greedy_variants_agree"] = res["greedy_mask_pairwise"]["keep"] == res["greedy_mask_rows"]["keep"]
    # Fast NMS may drop a mask greedy keeps only when a higher-scored mask that greedy removed
    # overlaps it by more than the threshold
    ok = f <= g
    extra = sorted(g - f)
    if extra:
        order = np.argsort(-scores.astype(np.float64), kind="stable")
        rank = np.empty(len(order), int)
        rank[order] = np.arange(len(order))
        iou = ms.iou(extra, range(len(scores)))
        for row, j in zip(iou, extra):
            higher = [i for i in range(len(scores)) if rank[i] < rank[j] and row[i] > thresh]
            ok &= bool(higher) and not (set(higher) & g)
    res["fast_subset_of_greedy"] = bool(f <= g)
    res["fast_only_differs_as_allowed"] = bool(ok)
    res["speedup_fast_vs_greedy_pairwise"] = res["greedy_mask_pairwise"]["s"] / max(res["fast_mask"]["s"], 1e-9)
    res["speedup_fast_vs_greedy_rows"] = res["greedy_mask_rows"]["s"] / max(res["fast_mask"]["s"], 1e-9)
    res["speedup_fast_box_vs_greedy_box"] = res["greedy_box"]["s"] / max(res["fast_box"]["s"], 1e-9)
    for k in ("greedy_mask_pairwise", "greedy_mask_rows", "fast_mask", "greedy_box", "fast_box"):
        del res[k]["keep"]
    return res


def _print_nms(nms: dict) -> None:
    print(f"\nNMS on {nms['candidates']} {nms['source']} at {nms['mask_size'][0]}x{nms['mask_size'][1]}, "
          f"IoU {nms['iou_threshold']}:\n")
    print("| method | time ms | kept |")
    print("|---|---|---|")
    for k in ("greedy_mask_pairwise", "greedy_mask_rows", "fast_mask", "greedy_box", "fast_box"):
        print(f"| {k} | {1000 * nms[k]['s']:.1f} | {nms[k]['kept']} |")
    print(f"\nFast NMS (mask IoU) vs greedy mask NMS: {nms['speedup_fast_vs_greedy_pairwise']:.1f}x (pairwise loop), "
          f"{nms['speedup_fast_vs_greedy_rows']:.1f}x (one IoU row per kept mask); box IoU: "
          f"{nms['speedup_fast_box_vs_greedy_box']:.1f}x. Fast keeps a subset of greedy: {nms['fast_subset_of_greedy']}; "
          f"every difference of the kind the method allows: {nms['fast_only_differs_as_allowed']}")


def run(args) -> int:
    from annotator.nn.threads import torch_threads

    with torch_threads(args.threads):
        return _run(args)


def _run(args) -> int:
    import torch

    from annotator.engines.registry import create_image_session
    from annotator.errors import AnnotatorError
    from annotator.everything.run import as_everything_session
    from annotator.media.image import load_image

    images = []
    for a in (args.images or [str(_shared_dir() / "data" / n) for n in SHARED_PHOTOS]):
        if a == "parity":  # the fixtures' input image (PARITY_DIR/inputs.npz), where their thresholds were chosen
            pdir = Path(os.environ.get("PARITY_DIR", _shared_dir() / "parity"))
            if not (pdir / "inputs.npz").is_file():
                raise AnnotatorError(f"{pdir / 'inputs.npz'}: not found")
            images.append(("parity-inputs-image", np.load(pdir / "inputs.npz")["image"]))
            continue
        if not Path(a).is_file():
            raise AnnotatorError(f"{a}: image not found")
        images.append((a, load_image(a)))
    if args.weights == "parity":
        session = as_everything_session(_parity_session(args.model))
    else:
        session = as_everything_session(create_image_session(args.model, args.weights))
    random = str(args.weights) in ("random", "parity")
    thr = args.thresholds if args.thresholds != "auto" else (
        "parity" if args.weights == "parity" else "calibrated" if random else "official")
    opts_kw: dict = {"points_per_side": args.points_per_side}
    if thr == "parity":
        po = _parity_options()
        src = po.pop("_from")
        opts_kw.update(po)
        thr_note = f"parity-fixture thresholds from {src}: " + ", ".join(f"{k}={v}" for k, v in po.items())
    elif thr == "calibrated":
        thr_note = "thresholds calibrated per image (medians of the model's raw outputs on the 8x8 grid)"
    else:
        thr_note = "official thresholds (pred_iou 0.88, stability 0.95, high logit 8.5)"
    modes = ["hierarchical", "grid"] if args.mode == "both" else [args.mode]  # hierarchical first: its RSS is its own
    print(f"bench everything: model {args.model}, weights {args.weights}, {args.threads} thread(s); {thr_note}",
          file=sys.stderr)
    rows = bench_modes(session, images, modes, opts_kw, calibrated=thr == "calibrated")
    nms = []
    if args.nms_candidates > 0:
        m, sc = decoder_candidates(session, images[0][1], args.nms_candidates)
        nms.append(bench_nms(m, sc, args.nms_thresh, f"decoder masks ({Path(images[0][0]).name}, unfiltered)"))
        del m
        m, sc = synthetic_candidates(args.nms_candidates)
        nms.append(bench_nms(m, sc, args.nms_thresh, "synthetic proposals (distinct objects x3 jittered copies)"))
        del m
    ratios = {}
    if len(modes) == 2:
        for img in {r["image"] for r in rows}:
            by = {r["mode"]: r for r in rows if r["image"] == img}
            ratios[img] = {"wall": by["grid"]["wall_s"] / by["hierarchical"]["wall_s"],
                           "cpu": by["grid"]["cpu_s"] / by["hierarchical"]["cpu_s"],
                           "decoder_calls": by["grid"]["decoder_calls"] / by["hierarchical"]["decoder_calls"],
                           "points": by["grid"]["points"] / by["hierarchical"]["points"]}
    out = {"model": args.model, "weights": str(args.weights), "threads": args.threads, "thresholds": thr_note,
           "points_per_side": args.points_per_side, "rows": rows, "grid_over_hierarchical": ratios, "nms": nms,
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                       "loadavg": os.getloadavg()}}
    print(f"\nSegment everything, {args.model} ({args.weights} weights), {args.points_per_side} points per side, "
          f"{args.threads} thread(s), embedding cached (encoder time shown apart)\n")
    print("| image | mode | wall s | CPU s | encoder s | decoder calls | points | masks | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['image']} | {r['mode']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['encoder_s']:.2f} | "
              f"{r['decoder_calls']} | {r['points']} | {r['masks']} | {r['peak_rss_mb']:.0f} |")
    for r in rows:
        if r["thresholds"] and r["mode"] == modes[0]:
            print(f"thresholds {r['image']}: " + ", ".join(f"{k}={v:.4g}" for k, v in r["thresholds"].items()))
    for img, q in ratios.items():
        print(f"\n{img}: grid / hierarchical = {q['wall']:.2f}x wall, {q['cpu']:.2f}x CPU, "
              f"{q['decoder_calls']:.2f}x decoder calls")
    for r in nms:
        _print_nms(r)
    if args.json_out:
        try:
            Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json_out).write_text(json.dumps(out, indent=2) + "\n")
        except OSError as e:
            raise AnnotatorError(f"{args.json_out}: cannot write ({e.strerror})") from None
    return 0
