"""`annotator` command line: no arguments launches the app; subcommands work headlessly.

Each module in annotator/commands/ adds its subcommands through `register(subparsers)`;
a subcommand sets `func(args) -> int`. User mistakes raise AnnotatorError: one line on
stderr, exit code 2, no traceback. Anything else is logged with its traceback to the
rotating log file (for bug reports) and exits 1.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import logging.handlers
import pkgutil
import sys

from annotator import __version__
from annotator.errors import AnnotatorError, printable

log = logging.getLogger("annotator")


def setup_logging(verbose: bool = False) -> None:
    from annotator.paths import log_dir

    root = logging.getLogger()
    target = str(log_dir() / "annotator.log")
    for h in list(root.handlers):
        if isinstance(h, logging.handlers.RotatingFileHandler):
            if h.baseFilename == target:
                return
            root.removeHandler(h)  # the user dirs moved (tests, ANNOTATOR_HOME): log to the new place
            h.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        fh = logging.handlers.RotatingFileHandler(target, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)
    except OSError:  # an unwritable log dir must not stop the app
        pass
    if verbose:
        sh = logging.StreamHandler(sys.stderr)
        sh.setLevel(logging.DEBUG)
        root.addHandler(sh)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="annotator", description="Mask annotation for images and videos.")
    p.add_argument("--version", action="version", version=f"annotator {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug output to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    import annotator.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"annotator.commands.{info.name}")
        mod.register(sub)
    return p


def launch_app(args) -> int:
    from annotator.gui.app import run_app

    return run_app([])


class _PrintableStream:
    """stdout/stderr of a command: names from files go to the terminal as text (errors.printable)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        return self._stream.write(printable(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    from annotator.app.startup import prepare_process

    prepare_process()
    func = getattr(args, "func", None) or launch_app
    if func is launch_app:
        return _run(func, args, argv)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PrintableStream(out), _PrintableStream(err)
    try:
        return _run(func, args, argv)
    finally:
        sys.stdout, sys.stderr = out, err


def _run(func, args, argv) -> int:
    try:
        return int(func(args) or 0)
    except AnnotatorError as e:
        log.info("user error: %s", e)
        print(f"annotator: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("annotator: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # the file system said no (full, read-only, name too long...): say what, where
        log.exception("OS error in %s", argv)
        where = f"{e.filename}: " if e.filename else ""
        print(f"annotator: error: {where}{e.strerror or e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug: keep the traceback for the report, show one line
        log.exception("unhandled error in %s", argv)
        from annotator.paths import log_dir

        print(f"annotator: internal error: {e!r} (details in {log_dir() / 'annotator.log'})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
