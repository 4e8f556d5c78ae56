"""`annotator bench clip --clip NAME`: CLIP speed on this machine: image tower (one crop), text
tower (one prompt-ensembled label and a batch of texts), MaskCLIP dense map, the text-prompt
path end to end on a photo (dense map + labels + regions -> masks with the image engine), and
peak RSS. Prints a table, --json writes the figures.

`--clip-weights random` (the default when the card has no checkpoint installed) times the real
architecture with synthetic weights: speed is the same, the masks found mean nothing.
"""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np


def _default_photo() -> Path:
    env = os.environ.get("ANNOTATOR_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return base / "data" / "images_truck.jpg"


def register(sub) -> None:
    p = sub.add_parser("clip", help="CLIP speed: image/text towers, dense map, text prompt end to end, peak RSS")
    p.add_argument("--clip", default="clip_b16", help="CLIP model card (default clip_b16)")
    p.add_argument("--clip-weights", default=None, help="checkpoint FILE or 'random' (default: installed, else random)")
    p.add_argument("--model", default="classic", help="image engine for the text-prompt path (default classic)")
    p.add_argument("--weights", default=None, help="checkpoint of --model (FILE or 'random')")
    p.add_argument("--image", default=None, help="photo (default: ../shared/data/images_truck.jpg)")
    p.add_argument("--text", action="append", default=None, help="labels for the text-prompt path (default: truck, wheel)")
    p.add_argument("--dense-size", type=int, default=None, help="longest side for dense features (default: the card's)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each step after one warm-up (default 3)")
    p.add_argument("--json", default=None, help="write the results here")
    p.set_defaults(func=run)


def _time(fn, repeats: int) -> tuple[list[float], list[float]]:
    """(wall-clock seconds, CPU seconds of this process) per timed run. On a shared machine the
    CPU time is the steadier figure (other jobs stretch wall-clock time, not CPU time)."""
    fn()  # warm-up (allocations, kernel choice)
    wall, cpu = [], []
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def run(args) -> int:
    import torch

    from annotator.engines import registry
    from annotator.engines.clip_model import crop_view, load_clip
    from annotator.engines.clip_session import ClipSession
    from annotator.app.text_find import FindOptions, find_by_text
    from annotator.errors import AnnotatorError
    from annotator.media.image import load_image

    card = registry.get_card(args.clip)
    if card.kind != "clip":
        raise AnnotatorError(f"--clip {args.clip}: not a CLIP model card")
    weights = args.clip_weights
    if weights is None:
        weights = registry.installed_path(card) or "random"
    weights = registry.resolve_weights(card, weights)
    photo = Path(args.image) if args.image else _default_photo()
    if not photo.is_file():
        raise AnnotatorError(f"{photo}: photo not found (pass --image)")
    rgb = load_image(photo)
    labels = args.text or ["truck", "wheel"]

    t0 = time.perf_counter()
    clip = load_clip(card, weights)
    load_s = time.perf_counter() - t0
    sess = ClipSession(clip, dense_size=args.dense_size, disk_cache=False)
    px = clip.pixels([crop_view(rgb, clip.image_size)])
    ids = torch.from_numpy(clip.tokenizer.encode([f"a photo of a {lb}." for lb in labels * 8][:16]))

    with torch.inference_mode():
        image_s = _time(lambda: clip.model.encode_image(px), args.repeats)
        text_s = _time(lambda: clip.model.encode_text(ids), args.repeats)

    def ensemble():
        sess._text.clear()
        sess.text_embeddings(labels[:1])

    ensemble_s = _time(ensemble, args.repeats)
    dense_s = _time(lambda: sess.dense_uncached(rgb), args.repeats)
    sess.set_image(rgb)
    image_session = registry.create_image_session(args.model, args.weights)
    if hasattr(image_session, "disk_cache"):
        image_session.disk_cache = False  # every timed run encodes the image, as a new photo would
    found: list = []

    def end_to_end():
        sess.cache.clear_memory()
        sess._text.clear()
        if hasattr(image_session, "cache"):
            image_session.cache.clear_memory()
        found[:] = find_by_text(sess, image_session, rgb, labels, FindOptions(threshold=0.6, relative=True))

    e2e_s = _time(end_to_end, max(1, args.repeats // 2))

    def end_to_end_warm():  # a new image, labels already embedded (the app after its first query)
        sess.cache.clear_memory()
        if hasattr(image_session, "cache"):
            image_session.cache.clear_memory()
        find_by_text(sess, image_session, rgb, labels, FindOptions(threshold=0.6, relative=True))

    warm_s = _time(end_to_end_warm, max(1, args.repeats // 2))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gh, gw = sess.features.shape[:2]
    med = lambda v: round(float(np.median(v[0])) * 1000, 1)  # noqa: E731
    cpu = lambda v: round(float(np.median(v[1])) * 1000, 1)  # noqa: E731
    res = {
        "clip": card.name, "weights": "random" if weights == "random" else str(weights),
        "params": sum(int(p.numel()) for p in clip.model.state_dict().values()),
        "image": str(photo), "image_size": [int(rgb.shape[1]), int(rgb.shape[0])],
        "dense_grid": [int(gw), int(gh)], "dense_input": [int(gw * clip.patch), int(gh * clip.patch)],
        "labels": labels, "image_engine": args.model, "found": len(found),
        "load_s": round(load_s, 2),
        "image_tower_ms": med(image_s), "text_tower_ms_16_texts": med(text_s),
        "text_ensemble_ms_one_label": med(ensemble_s), "templates": len(sess.templates),
        "dense_map_ms": med(dense_s), "text_prompt_end_to_end_ms": med(e2e_s),
        "text_prompt_labels_cached_ms": med(warm_s),
        "cpu_ms": {"image_tower": cpu(image_s), "text_tower_16_texts": cpu(text_s),
                   "text_ensemble_one_label": cpu(ensemble_s), "dense_map": cpu(dense_s),
                   "text_prompt_end_to_end": cpu(e2e_s), "text_prompt_labels_cached": cpu(warm_s)},
        "peak_rss_mb": round(peak_kb / 1024, 1), "threads": torch.get_num_threads(), "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
    print(f"{card.title} ({card.name}, {res['params']:,} parameters, weights {res['weights']}), "
          f"{res['threads']} threads, median of {args.repeats}")
    print()
    print("| Measure | Wall clock | CPU time |")
    print("|---|---|---|")
    c = res["cpu_ms"]
    for label, value, cpu_v in (
        (f"image tower, one {clip.image_size}x{clip.image_size} crop", res["image_tower_ms"], c["image_tower"]),
        ("text tower, 16 texts", res["text_tower_ms_16_texts"], c["text_tower_16_texts"]),
        (f"one label, {len(sess.templates)}-template ensemble", res["text_ensemble_ms_one_label"],
         c["text_ensemble_one_label"]),
        (f"dense map, {res['dense_input'][0]}x{res['dense_input'][1]} input ({gw}x{gh} patches)",
         res["dense_map_ms"], c["dense_map"]),
        (f"text prompt end to end ({', '.join(labels)}; {args.model}; {rgb.shape[1]}x{rgb.shape[0]})",
         res["text_prompt_end_to_end_ms"], c["text_prompt_end_to_end"]),
        ("... the same with the label embeddings cached", res["text_prompt_labels_cached_ms"],
         c["text_prompt_labels_cached"]),
    ):
        print(f"| {label} | {value:.0f} ms | {cpu_v:.0f} ms |")
    print(f"| peak RSS | {res['peak_rss_mb']:.0f} MB | |")
    print()
    print(f"1-min load average {res['load_avg_1min']} on {os.cpu_count()} cores (a busy machine stretches wall-clock time)")
    if res["weights"] == "random":
        print()
        print("synthetic weights: the timings hold for the real checkpoint, the masks found do not")
    from annotator.core.outputs import write_results_json

    write_results_json(args.json, res)
    return 0
