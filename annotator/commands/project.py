"""Project subcommands: new, add, info, export, import."""
from __future__ import annotations

from pathlib import Path

from annotator.errors import AnnotatorError, FormatError, ProjectError

def register(sub) -> None:
    p = sub.add_parser("new", help="create an empty project file")
    p.add_argument("project", help="path of the new project (.annotator)")
    p.add_argument("--category", action="append", default=[], help="add a category (repeatable)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("add", help="add images, videos or frame folders to a project")
    p.add_argument("project")
    p.add_argument("media", nargs="+", help="image/video files or folders")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--frames", action="store_true", help="treat every folder as one video (frame sequence)")
    g.add_argument("--images", action="store_true", help="treat every folder as a set of separate images")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("info", help="summarise a project")
    p.add_argument("project")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("export", help="export annotations to a file format")
    p.add_argument("project")
    p.add_argument("--format", "-f", required=True, help="coco | sav | ytvis | davis | labelme | ...")
    p.add_argument("-o", "--output", required=True, help="output file or folder")
    p.add_argument("--item", type=int, action="append", help="only this media item id (repeatable)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="format option (see `annotator formats`)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="import annotations from a file")
    p.add_argument("project")
    p.add_argument("file")
    p.add_argument("--format", "-f", required=True)
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("formats", help="list annotation formats and their options")
    p.set_defaults(func=cmd_formats)


def _parse_options(pairs: list[str]) -> dict:
    opts = {}
    for pair in pairs:
        if "=" not in pair:
            raise AnnotatorError(f"--option {pair!r}: expected KEY=VALUE")
        k, v = pair.split("=", 1)
        low = v.lower()
        opts[k.strip()] = True if low in ("true", "yes", "1") else False if low in ("false", "no", "0") else v
    return opts


def cmd_new(args) -> int:
    from annotator.core.store import Project

    with Project.create(args.project) as p:
        for name in args.category:
            p.add_category(name)
    print(f"created {args.project}")
    return 0


def cmd_add(args) -> int:
    from annotator.app import media
    from annotator.core.store import Project
    from annotator.media import probe

    files = media.expand(args.media, "frames" if args.frames else "images" if args.images else "auto")
    probed = [(f, probe(f)) for f in files]  # everything is checked before the project changes
    with Project.open(args.project) as p:
        added, _ = media.add_probed(p, probed, skip_existing=False)
        for item_id in added:
            item = p.item(item_id)
            print(f"added #{item.id} {item.name} ({item.kind}, {item.width}x{item.height}, "
                  f"{item.num_frames} frame{'s' if item.num_frames != 1 else ''})")
    return 0


def cmd_info(args) -> int:
    from annotator.core.store import Project

    with Project.open(args.project, readonly=True) as p:
        cats = {c.id: c.name for c in p.categories()}
        print(f"project {p.path}")
        print(f"categories: {', '.join(cats.values()) or '-'}")
        for item in p.items():
            missing = "" if item.exists else "  [MISSING: relink it]"
            print(f"#{item.id} {item.kind:6s} {item.width}x{item.height} {item.num_frames} frames "
                  f"{item.path}{missing}")
            for t in p.tracks(item.id):
                frames = p.mask_frames(t.id)
                label = cats.get(t.category_id, "-")
                print(f"    object {t.obj_id} [{label}] {len(frames)} masked frame(s)")
        n = p.counts()
        print(f"total: {n['items']} items, {n['tracks']} objects, {n['masks']} masks")
    return 0


def _format(name: str):
    from annotator.formats.registry import get_format

    return get_format(name)


def cmd_export(args) -> int:
    from annotator.core.store import Project

    from annotator.core.outputs import check_output

    fmt = _format(args.format)
    check_output(args.output, folder=None)  # before the format looks at it
    with Project.open(args.project, readonly=True) as p:
        if args.item:
            known = {i.id for i in p.items()}
            bad = [i for i in args.item if i not in known]
            if bad:
                raise ProjectError(f"{args.project}: no media item {bad[0]}")
        from annotator.formats.frame_files import progress_hook

        token = progress_hook.set(_progress_printer())
        try:
            summary = fmt.export(p, Path(args.output), item_ids=args.item, **_parse_options(args.option))
        finally:
            progress_hook.reset(token)
    print(f"exported {args.format} to {args.output}")
    _print_summary(summary)
    return 0


def _progress_printer():
    """Progress of long exports on stderr: one updating line on a terminal, a line per 10% else."""
    import sys

    tty = sys.stderr.isatty()
    last = [-1]

    def report(done: int, total: int, what: str) -> None:
        pct = 100 * done // max(1, total)
        if tty:
            sys.stderr.write(f"\r  {what}: {done}/{total} ({pct}%)" + ("\n" if done == total else ""))
            sys.stderr.flush()
        elif pct // 10 != last[0] // 10 or done == total:
            print(f"  {what}: {done}/{total}", file=sys.stderr)
        last[0] = pct

    return report


def _print_summary(summary) -> None:
    lines = summary.lines() if summary is not None and hasattr(summary, "lines") else []
    for line in lines:
        print(f"  {line}")


def cmd_import(args) -> int:
    from annotator.core.store import Project

    fmt = _format(args.format)
    if not Path(args.file).exists():
        raise FormatError(f"{args.file}: file not found")
    with Project.open(args.project) as p:
        before = p.counts()
        result = fmt.load(p, Path(args.file), **_parse_options(args.option))
        after = p.counts()
    print(f"imported {args.file}: +{after['items'] - before['items']} items, "
          f"+{after['tracks'] - before['tracks']} objects, +{after['masks'] - before['masks']} masks")
    _print_summary(getattr(result, "summary", None))
    return 0


def cmd_formats(args) -> int:
    from annotator.formats.registry import list_formats

    for fmt in list_formats():
        exts = ", ".join(getattr(fmt, "extensions", []) or [])
        print(f"{fmt.name:10s} {exts}")
        for k, v in (getattr(fmt, "options", {}) or {}).items():
            print(f"    {k}: {v}")
    return 0
