"""`annotator eval noc|vos`: accuracy on a DAVIS-layout folder, printed as a table and
optionally written as JSON (layouts in annotator/eval/noc.py and vos.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


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
    n.set_defaults(func=run_noc)

    v = ev.add_parser("vos", help="semi-supervised video object segmentation J, F, J&F (DAVIS protocol)")
    v.add_argument("--engine", **common["engine"])
    v.add_argument("--weights", default=None, help="checkpoint file for a learned engine (default: installed one)")
    v.add_argument("--data", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p)")
    v.add_argument("--init", choices=("mask", "clicks"), default="mask", help="first-frame GT mask or simulated clicks")
    v.add_argument("--init-clicks", type=int, default=3, help="number of simulated clicks with --init clicks")
    v.add_argument("--sequences", default=None, help="comma-separated sequence names (default: all)")
    v.add_argument("--json", default=None, help="write the results here")
    v.add_argument("-q", "--quiet", action="store_true", help="no per-sequence progress lines")
    _loo_args(v)
    v.set_defaults(func=run_vos)


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
    if path:
        from annotator.errors import AnnotatorError

        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as e:
            raise AnnotatorError(f"{path}: cannot write results ({e.strerror})") from None


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
    session = create_image_session(args.engine, args.weights)
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
    session = create_video_session(args.engine, args.weights)
    report = evaluate_vos(session, seqs, args.engine, args.init, args.init_clicks, _progress(args.quiet))
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
