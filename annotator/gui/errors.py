"""Error dialogs: a user's mistake gets its one-line message; a bug gets logged with
its traceback and a short note pointing at the log file. Never a traceback in a dialog."""
from __future__ import annotations

import logging
import sys

from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.errors import AnnotatorError

log = logging.getLogger("annotator.gui")

# Tests set this to collect messages instead of opening modal dialogs.
DIALOGS_ENABLED = True
shown: list[tuple[str, str]] = []


def message_for(exc: BaseException) -> str:
    if isinstance(exc, AnnotatorError):
        return str(exc)
    from annotator.paths import log_dir

    return (f"Something went wrong: {type(exc).__name__}: {exc}\n\n"
            f"Your annotations are safe. Details are in {log_dir() / 'annotator.log'}.")


def show_error(parent: QWidget | None, exc: BaseException, title: str = "Annotator") -> str:
    if not isinstance(exc, AnnotatorError):
        log.error("unexpected error", exc_info=(type(exc), exc, exc.__traceback__))
    else:
        log.info("user error: %s", exc)
    text = message_for(exc)
    shown.append((title, text))
    if DIALOGS_ENABLED:
        QMessageBox.warning(parent, title, text)
    return text


def show_info(parent: QWidget | None, text: str, title: str = "Annotator") -> None:
    shown.append((title, text))
    if DIALOGS_ENABLED:
        QMessageBox.information(parent, title, text)


# With dialogs off (tests), ask() records the question and returns this answer.
ASK_ANSWER = True


def ask(parent: QWidget | None, text: str, title: str = "Annotator") -> bool:
    """A yes/no question; No is the default button, so Enter never replaces anything."""
    shown.append((title, text))
    if not DIALOGS_ENABLED:
        return ASK_ANSWER
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, no) == yes


def install_excepthook(parent_getter) -> None:
    """Exceptions escaping a slot would otherwise only print; show them instead."""
    previous = sys.excepthook

    def hook(tp, value, tb):
        if issubclass(tp, KeyboardInterrupt):
            previous(tp, value, tb)
            return
        try:
            show_error(parent_getter(), value.with_traceback(tb))
        except Exception:  # never let the hook itself crash the app
            previous(tp, value, tb)

    sys.excepthook = hook
