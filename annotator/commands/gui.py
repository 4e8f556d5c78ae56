"""`annotator gui [PATHS...]`: open the app on images, videos, folders or a project file.

(`annotator` with no arguments opens the app empty.)
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("gui", help="open the annotation app on images, videos, folders or a .annotator project")
    p.add_argument("paths", nargs="*", help="image/video files, image or frame folders, or a project file")
    p.add_argument("--engine", default=None, help="engine to start with (default: the last one used)")
    p.set_defaults(func=cmd_gui)


def cmd_gui(args) -> int:
    from annotator.gui.app import run_app

    return run_app(list(args.paths), engine=args.engine)
