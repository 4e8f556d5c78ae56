"""`annotator eval noc|vos`: accuracy on a DAVIS-layout folder, printed as a table and
optionally written as JSON (layouts in annotator/eval/noc.py and vos.py).
`annotator eval labels --data DIR`: label-suggestion accuracy on a COCO-style set
(annotator/eval/labels.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from annotator import precision_option as precision_arg


def _sequences_arg(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy benchmarks on DAVIS-layout data (NoC clicks, video J&F)")
    ev = p.add_subparsers(dest="eval", metavar="EVAL", required=True)

    common = dict(
        engine=dict(default="classic", help="classic, grabcut-plain, flow-warp, or a model card name"),
    )
    n = ev.add_parser("noc", help="number of simulated clicks to reach 85/90%% IoU (interactive protocol)")
    n.add_argument("--engine", **common["engine"])
    n.add_argument("--weights", default=None, help="checkpoint file for a learned engine (default: installed one)")
    n.add_argument("--data", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p)")
    n.add_argument("--every", type=int, default=10, help="use every N-th frame of each sequence (default 10)")
    n.add_argument("--max-clicks", type=int, default=20)
    n.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    n.add_argument("--json", default=None, help="write the results here")
    n.add_argument("-q", "--quiet", action="store_true", help="no per-sample progress lines")
    _loo_args(n)
    precision_arg.add(n)
    n.set_defaults(func=run_noc)

    v = ev.add_parser("vos", help="semi-supervised video object segmentation J, F, J&F (DAVIS protocol)")
    v.add_argument("--engine", **common["engine"])
    v.add_argument("--weights", default=None, help="checkpoint file for a learned engine (default: installed one)")
    v.add_argument("--data", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p)")
    v.add_argument("--init", choices=("mask", "clicks"), default="mask", help="first-frame GT mask or simulated clicks")
    v.add_argument("--init-clicks", type=int, default=3, help="number of simulated clicks with --init clicks")
    v.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    v.add_argument("--json", default=None, help="write the results here")
    v.add_argument("--save", default=None, metavar="DIR",
                   help="write the predictions as DAVIS palette PNGs, DIR/<sequence>/<frame>.png (every propagated "
                        "frame), for the official DAVIS evaluator")
    v.add_argument("-q", "--quiet", action="store_true", help="no per-sequence progress lines")
    _loo_args(v)
    precision_arg.add(v)
    v.set_defaults(func=run_vos)

    r = ev.add_parser("review", help="drift detectors of the review queue: AP, flags, frames to review (leave one sequence out)")
    r.add_argument("--engine", **common["engine"])
    r.add_argument("--weights", default=None, help="checkpoint file for a learned engine (default: installed one)")
    r.add_argument("--data", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p)")
    r.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    r.add_argument("--detectors", default="rglasso,mcd,threshold", help="comma-separated (default: all three)")
    r.add_argument("--pool", choices=("all", "sequence"), default="all",
                   help="fit each detector once over all sequences (as the app pools a project) or per sequence")
    r.add_argument("--max-frames", type=int, default=None, help="propagate only the first N frames of each sequence")
    r.add_argument("--stop-lost", type=int, default=5, metavar="N",
                   help="also report what propagate --stop-lost N would have stopped (default 5; 0: skip)")
    r.add_argument("--cache", default=None, help="folder for cached propagation runs (default: the user cache)")
    r.add_argument("--no-cache", action="store_true", help="propagate again, keep nothing")
    r.add_argument("--json", default=None, help="write the results here")
    r.add_argument("-q", "--quiet", action="store_true", help="no per-sequence progress lines")
    r.set_defaults(func=run_review)
    lb = ev.add_parser("labels", help="label-suggestion top-1/top-5 (zero-shot and with k examples per class)")
    lb.add_argument("--data", required=True, type=Path,
                    help="folder with a COCO-style JSON (annotations.json or the only .json) and its images")
    lb.add_argument("--annotations", default=None, type=Path, help="the COCO JSON, when not found in --data")
    lb.add_argument("--clip", default=None, metavar="NAME", help="CLIP model card (default: the installed one)")
    lb.add_argument("--clip-weights", default=None, metavar="FILE", help="CLIP checkpoint FILE or 'random'")
    lb.add_argument("--k", default="1,5", help="examples per class for the few-shot rows (default 1,5)")
    lb.add_argument("--few-shot-weight", type=float, default=0.5, help="share of the prototypes in the mix (0-1)")
    lb.add_argument("--seed", type=int, default=0, help="which examples are drawn (default 0)")
    lb.add_argument("--json", default=None, help="write the results here")
    lb.set_defaults(func=run_labels)
    from annotator.eval import everything as _everything

    _everything.register(ev)


def _loo_args(p) -> None:
    p.add_argument(
        "--loo", default=None, metavar="GRID",
        help="leave-one-sequence-out tuning of the classic engine over GRID, e.g. 'extent_factor=4,3;edit_factor=4,6' "
        "(each sequence is scored with the grid point best on the others)",
    )
    p.add_argument("--cache", default=None, help="with --loo: cache per-sequence results in this folder")


def _progress(quiet: bool):
    if quiet:
        return None
    return lambda line: print(line, file=sys.stderr, flush=True)


def _write_json(path: str | None, data: dict) -> None:
    from annotator.core.outputs import write_results_json

    write_results_json(path, data)


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def run_noc(args) -> int:
    from annotator.errors import AnnotatorError
    from annotator.eval.davis import list_sequences
    from annotator.engines.registry import create_image_session
    from annotator.eval.noc import evaluate_noc

    if args.every < 1 or args.max_clicks < 1:
        raise AnnotatorError("--every and --max-clicks must be at least 1")
    seqs = list_sequences(args.data, _sequences_arg(args.sequences))
    if args.loo is not None:
        from annotator.eval import loo

        settings = {"every": args.every, "max_clicks": args.max_clicks}
        return _run_loo(args, "noc", seqs, lambda p, s: loo.noc_sequence(p, s, args.every, args.max_clicks), settings)
    precision_arg.note(args, args.engine)
    session = create_image_session(args.engine, args.weights, precision=args.precision)
    report = evaluate_noc(session, seqs, args.engine, args.every, args.max_clicks, _progress(args.quiet))
    data = report.to_json()
    print(f"NoC on {args.data} (every {args.every}th frame, max {args.max_clicks} clicks), engine {args.engine}")
    print()
    print("| Sequence | Samples | NoC@85 | NoC@90 | >=max@90 | mIoU@1 | mIoU@3 | mIoU@5 | s/click |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = list(data["per_sequence"].items()) + [("**all**", {**data, "samples": data["samples"], "fail90": data["fail90"]})]
    for name, r in rows:
        m = r["miou"]
        print(
            f"| {name} | {r['samples']} | {_fmt(r['noc85'], '.2f')} | {_fmt(r['noc90'], '.2f')} | {r.get('fail90', '-')} | "
            f"{_fmt(m['1'], '.3f')} | {_fmt(m['3'], '.3f')} | {_fmt(m['5'], '.3f')} | {_fmt(r.get('sec_per_click'), '.3f')} |"
        )
    lat = data["click_latency_ms"]
    print()
    print(f"click latency: median {_fmt(lat['median'], '.0f')} ms, p95 {_fmt(lat['p95'], '.0f')} ms")
    _write_json(args.json, data)
    return 0


def run_vos(args) -> int:
    from annotator.errors import AnnotatorError
    from annotator.eval.davis import list_sequences
    from annotator.engines.registry import create_video_session
    from annotator.eval.vos import evaluate_vos

    if args.init_clicks < 1:
        raise AnnotatorError("--init-clicks must be at least 1")
    seqs = list_sequences(args.data, _sequences_arg(args.sequences))
    if args.loo is not None:
        from annotator.eval import loo

        settings = {"init": args.init, "init_clicks": args.init_clicks}
        return _run_loo(args, "vos", seqs, lambda p, s: loo.vos_sequence(p, s, args.init, args.init_clicks), settings)
    precision_arg.note(args, args.engine)
    session = create_video_session(args.engine, args.weights, precision=args.precision)
    save = None
    if args.save:
        from pathlib import Path

        from annotator.core.outputs import check_output

        save = check_output(Path(args.save), folder=True)
    report = evaluate_vos(session, seqs, args.engine, args.init, args.init_clicks, _progress(args.quiet), save)
    data = report.to_json()
    how = "first-frame GT mask" if args.init == "mask" else f"{args.init_clicks} simulated clicks on the first frame"
    print(f"VOS on {args.data} ({how}), engine {args.engine}")
    print()
    print("| Sequence | J | F | J&F | fps |")
    print("|---|---|---|---|---|")
    for name, r in data["per_sequence"].items():
        print(f"| {name} | {r['J']:.1f} | {r['F']:.1f} | {r['JF']:.1f} | {_fmt(r['fps'], '.1f')} |")
    print(f"| **mean** | {_fmt(data['J'], '.1f')} | {_fmt(data['F'], '.1f')} | {_fmt(data['JF'], '.1f')} | {_fmt(data['fps'], '.1f')} |")
    print()
    print(f"peak memory (process RSS): {data['peak_rss_mb']:.0f} MiB")
    _write_json(args.json, data)
    return 0


def _run_loo(args, kind: str, seqs, evaluate, settings: dict) -> int:
    from annotator.errors import AnnotatorError
    from annotator.eval import loo

    if args.engine != "classic":
        raise AnnotatorError(f"--loo tunes the classic engine's knobs; engine {args.engine} has none")
    grid = loo.parse_grid(args.loo)
    report = loo.run_loo(kind, seqs, grid, evaluate, settings, loo.Cache(args.cache), _progress(args.quiet))
    what = "NoC" if kind == "noc" else "VOS"
    print(f"{what} on {args.data}, classic engine, leave-one-sequence-out over {len(grid)} grid point(s): {args.loo or 'defaults'}")
    print()
    for line in loo.format_table(report):
        print(line)
    _write_json(args.json, report)
    return 0


def run_review(args) -> int:
    from annotator.errors import AnnotatorError
    from annotator.eval.davis import list_sequences
    from annotator.eval.review import RECALL_TARGET, evaluate_detectors
    from annotator.eval.review_runs import propagate_runs
    from annotator.review.detectors import DETECTORS

    dets = _sequences_arg(args.detectors) or list(DETECTORS)
    bad = [d for d in dets if d not in DETECTORS]
    if bad:
        raise AnnotatorError(f"--detectors: unknown {', '.join(bad)} (choose from {', '.join(DETECTORS)})")
    if "mcd" in dets:
        try:
            import sklearn.covariance  # noqa: F401
        except ImportError:
            print("mcd skipped: it needs scikit-learn (pip install scikit-learn)", file=sys.stderr)
            dets.remove("mcd")
    if args.max_frames is not None and args.max_frames < 3:
        raise AnnotatorError("--max-frames must be at least 3")
    seqs = list_sequences(args.data, _sequences_arg(args.sequences))
    if len(seqs) < 2:
        raise AnnotatorError("eval review leaves one sequence out: it needs at least 2 sequences")
    from annotator.paths import cache_dir

    cache = None if args.no_cache else Path(args.cache) if args.cache else cache_dir() / "eval-review"
    progress = _progress(args.quiet)
    runs = []
    session = None
    for seq in seqs:
        from annotator.eval.review_runs import cache_file

        label = args.engine + (f"@{args.max_frames}" if args.max_frames else "")
        if session is None and (cache is None or not cache_file(cache, label, seq).is_file()):
            from annotator.engines.registry import create_video_session

            session = create_video_session(args.engine, args.weights)
        got = propagate_runs(session, seq, args.engine, cache, args.max_frames)
        runs += got
        if progress:
            r = got[0]
            how = "cached" if r.cached else f"propagated in {r.seconds:.1f} s"
            progress(f"{seq.name}: {len(r.frames)} frames ({how})")
    data = evaluate_detectors(runs, dets, args.pool, progress)
    data.update({"engine": args.engine, "data": str(args.data), "max_frames": args.max_frames})
    if args.stop_lost > 0:
        from annotator.eval.review import auto_stop_figures
        from annotator.review.lost import LostRule

        data["auto_stop"] = auto_stop_figures(runs, LostRule(frames=args.stop_lost))
    n, d = data["frames"], data["drifted"]
    print(f"Review detectors on {args.data}, engine {args.engine}: {n} frames, {d} drifted ({_pct(d / n if n else None)}; "
          f"J < 0.5 or a fall of J by > 0.2), leave one sequence out, pool {args.pool}")
    print()
    print("| Detector | mean AP (held-out) | flag precision | flag recall | frames flagged | review for 80% |")
    print("|---|---|---|---|---|---|")
    for name, r in data["detectors"].items():
        h = r["held_out"]
        print(f"| {name} | {_fmt(h['mean_ap'], '.3f')} | {_pct(h['precision'])} | {_pct(h['recall'])} | "
              f"{_pct(h['flagged'])} | {_pct(h['review_for_80'])} |")
    print()
    print("| Sequence | frames | drifted | mean J | " + " | ".join(f"AP {k}" for k in data["detectors"]) + " |")
    print("|---|---|---|---|" + "---|" * len(data["detectors"]))
    for s, info in data["sequences"].items():
        aps = " | ".join(_fmt(r["folds"][s]["ap"], ".3f") for r in data["detectors"].values())
        print(f"| {s} | {info['frames']} | {info['drifted']} | {info['mean_J']:.3f} | {aps} |")
    if n and d:
        best = min(1.0, RECALL_TARGET * d / n)
        print()
        print(f"(an oracle reviews {_pct(best)} of frames to catch {_pct(RECALL_TARGET)} of the drift; flagging 20% "
              f"of frames catches at most {_pct(min(1.0, 0.2 * n / d))} of it here)")
    a = data.get("auto_stop")
    if a:
        where = ", ".join(f"{k} at frame {v['stopped_at']}" for k, v in a["stops"].items()) or "none"
        print()
        print(f"propagate --stop-lost {args.stop_lost} would stop {len(a['stops'])} of {len(runs)} objects ({where}), "
              f"giving up {a['dropped']} frames of which {a['dropped_drifted']} had drifted "
              f"({a['dropped_drifted']} of all {a['drifted']} drifted frames)")
    _write_json(args.json, data)
    return 0


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}%"


def _coco_file(args) -> Path:
    from annotator.errors import AnnotatorError

    if args.annotations is not None:
        return args.annotations
    if not args.data.is_dir():
        raise AnnotatorError(f"{args.data}: folder not found")
    named = args.data / "annotations.json"
    if named.is_file():
        return named
    found = sorted(args.data.glob("*.json"))
    if len(found) != 1:
        raise AnnotatorError(f"{args.data}: expected annotations.json or exactly one .json file "
                             f"(found {len(found)}); pass --annotations FILE")
    return found[0]


def run_labels(args) -> int:
    import tempfile

    from annotator.core.store import Project
    from annotator.engines.clip_session import create_clip_session
    from annotator.errors import AnnotatorError
    from annotator.eval.labels import evaluate, embed_samples
    from annotator.formats.registry import get_format

    try:
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    except ValueError:
        ks = []
    if not ks or ks[0] < 1:
        raise AnnotatorError(f"--k {args.k!r}: expected comma-separated counts of 1 or more")
    if not 0.0 <= args.few_shot_weight <= 1.0:
        raise AnnotatorError(f"--few-shot-weight {args.few_shot_weight}: expected a value between 0 and 1")
    ann = _coco_file(args)
    root = args.data / "images" if (args.data / "images").is_dir() else args.data
    session = create_clip_session(args.clip, args.clip_weights)
    with tempfile.TemporaryDirectory(prefix="annotator-eval-labels-") as tmp:
        with Project.create(Path(tmp) / "eval") as p:
            get_format("coco").load(p, ann, image_root=str(root))  # the hardened importer checks the file
            cats = [c.name for c in p.categories()]
            samples = embed_samples(p, session)
    if not samples:
        raise AnnotatorError(f"{ann}: no annotation with a category and a mask")
    res = evaluate(samples, cats, session, ks=ks, seed=args.seed, few_shot_weight=args.few_shot_weight)
    weights = args.clip_weights or "installed"
    print(f"label suggestions on {ann} ({len(samples)} objects, {len(cats)} categories), CLIP {session.name} "
          f"({weights}), few-shot weight {args.few_shot_weight}")
    print()
    cols = ["zero_shot"] + [f"k{k}" for k in ks]
    print("| Mask embedding | " + " | ".join(f"{c} top-1 / top-5" for c in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for method, row in res.items():
        print(f"| {method} | " + " | ".join(f"{_fmt(row[c]['top1'], '.3f')} / {_fmt(row[c]['top5'], '.3f')} (n={row[c]['n']})"
                                            for c in cols) + " |")
    if str(args.clip_weights) == "random":
        print()
        print("synthetic weights: these accuracies mean nothing; run with the real checkpoint to compare")
    _write_json(args.json, {"annotations": str(ann), "objects": len(samples), "categories": cats,
                            "clip": session.name, "weights": str(weights), "results": res})
    return 0
