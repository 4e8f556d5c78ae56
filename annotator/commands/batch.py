"""`annotator batch encode|segment-everything|propagate|export|eval PROJECT [--items ...] [--workers N] [--ray [ADDRESS]]`

Thin over annotator/batch: the driver writes each item's result into PROJECT as it arrives
(one undo step each) and records it done; a re-run skips done items unless --redo.
export and eval only read PROJECT: one export identical to `annotator export`, or a J/F
table (and --json) of the project's masks against DAVIS-layout ground truth.
"""
from __future__ import annotations

import sys
from pathlib import Path

from annotator.errors import AnnotatorError


def _items(text: str | None):
    if not text:
        return None
    out = set()
    for part in text.replace(" ", "").split(","):
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-", 1))
                out.update(range(a, b + 1))
            elif part:
                out.add(int(part))
        except ValueError:
            raise AnnotatorError(f"--items: expected ids like 1,3,5-9, got {part!r}") from None
    return out


def _job(args):
    from annotator.batch.jobs import JOBS

    opts = {}
    if args.batch == "segment-everything":
        opts = {"mode": args.mode, "nms": args.nms}
        if args.points_per_side:
            opts["points_per_side"] = args.points_per_side
    return JOBS[args.batch](args.model, args.weights, opts)


def _run(args) -> int:
    from annotator.batch import driver, executors
    from annotator.batch.progress import Progress, summary_text
    from annotator.core.store import Project

    if args.workers is not None and args.workers < 1:
        raise AnnotatorError(f"--workers must be 1 or more, got {args.workers}")
    job = _job(args)
    job.check()  # refuse before the workers start
    items = _items(args.items)
    with Project.open(Path(args.project)) as project:
        with executors.make(args.ray, args.workers) as ex:
            s = driver.run(project, job, ex, item_ids=items, redo=args.redo,
                           progress=Progress(json_lines=args.json_progress, quiet=args.quiet))
        ok = project.integrity_ok()
    print(summary_text(s), file=sys.stderr if args.json_progress else sys.stdout)
    if not ok:
        raise AnnotatorError(f"{args.project}: integrity_check failed after the batch")
    return 130 if s.interrupted else (1 if s.failed else 0)


def _read_only(args, work) -> int:
    """export / eval: open PROJECT read-only, run `work(project, executor, progress)`."""
    from annotator.batch import executors
    from annotator.batch.progress import Progress
    from annotator.core.store import Project

    if args.workers is not None and args.workers < 1:
        raise AnnotatorError(f"--workers must be 1 or more, got {args.workers}")
    items = _items(args.items)
    with Project.open(Path(args.project), readonly=True) as project:
        if items:
            known = {i.id for i in project.items()}
            if items - known:
                raise AnnotatorError(f"{args.project}: no media item {min(items - known)}")
        with executors.make(args.ray, args.workers) as ex:
            return work(project, ex, Progress(json_lines=args.json_progress, quiet=args.quiet), items)


def _export(args) -> int:
    from annotator.batch.export import export
    from annotator.batch.progress import summary_text
    from annotator.commands.project import _format, _parse_options, _print_summary
    from annotator.core.outputs import check_output

    fmt = _format(args.format)
    opts = _parse_options(args.option)
    check_output(args.output, folder=None)

    def work(project, ex, progress, items):
        s, fmt_summary, why = export(project, fmt, Path(args.output), ex, sorted(items) if items else None,
                                     opts, progress)
        print(summary_text(s), file=sys.stderr if args.json_progress else sys.stdout)
        if why:
            raise AnnotatorError(why)
        if not args.json_progress:
            print(f"exported {args.format} to {args.output}")
            _print_summary(fmt_summary)
        return 0

    return _read_only(args, work)


def _eval(args) -> int:
    from annotator.batch.evaluate import evaluate
    from annotator.batch.progress import summary_text
    from annotator.core.outputs import write_results_json
    from annotator.eval.project import table

    def work(project, ex, progress, items):
        s, data = evaluate(project, args.gt, ex, items, progress)
        out = sys.stderr if args.json_progress else sys.stdout
        print(summary_text(s), file=out)
        print(f"masks of {args.project} against {args.gt}", file=out)
        print(file=out)
        for line in table(data):
            print(line, file=out)
        write_results_json(args.json, data)
        return 130 if s.interrupted else (1 if s.failed else 0)

    return _read_only(args, work)


def _common(q) -> None:
    q.add_argument("project", help="the .annotator project")
    q.add_argument("--items", default=None, help="item ids, e.g. 1,3,5-9 (default: all)")
    q.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count; "
                                                             "with --ray: the cluster's CPUs)")
    q.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help="run on Ray: 'auto' (default: the running cluster), an address, or 'local' "
                        "(start one on this machine)")
    q.add_argument("--json-progress", action="store_true", help="one JSON line per event on stdout")
    q.add_argument("-q", "--quiet", action="store_true", help="no progress line")


def register(sub) -> None:
    p = sub.add_parser("batch", help="run encode / segment-everything / propagate / export / eval over a "
                                     "project's items")
    bsub = p.add_subparsers(dest="batch", metavar="JOB", required=True)
    helps = {"encode": "fill the embedding cache of a learned image model (instant first clicks)",
             "segment-everything": "segment everything on every image item (objects of source auto)",
             "propagate": "propagate every video item from its objects' first manual frames"}
    for name, text in helps.items():
        q = bsub.add_parser(name, help=text)
        _common(q)
        q.add_argument("--model", default="classic", help="engine: classic (default) or a model card name")
        q.add_argument("--weights", default=None, help="checkpoint file (default: the installed one); it must "
                                                       "exist at this path on every worker machine")
        q.add_argument("--redo", action="store_true", help="run items already done again")
        if name == "segment-everything":
            q.add_argument("--mode", default="grid", choices=("grid", "hierarchical"))
            q.add_argument("--nms", default="greedy")
            q.add_argument("--points-per-side", type=int, default=None)
        q.set_defaults(func=_run)
    q = bsub.add_parser("export", help="export as `annotator export` does, each item's files (frames, PNGs) "
                                       "written by the workers")
    _common(q)
    q.add_argument("--format", "-f", required=True, help="coco | sav | ytvis | davis | yolo | maskpng | ...")
    q.add_argument("-o", "--output", required=True, help="output file or folder (with Ray on several machines: "
                                                          "on a path every node sees)")
    q.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="format option (see `annotator formats`)")
    q.set_defaults(func=_export)
    q = bsub.add_parser("eval", help="J, F, J&F of each video item's masks against DAVIS-layout ground truth")
    _common(q)
    q.add_argument("--gt", required=True, help="DAVIS-layout root (JPEGImages/480p, Annotations/480p); an item "
                                               "meets the sequence of its name")
    q.add_argument("--json", default=None, help="write the summary here")
    q.set_defaults(func=_eval)
