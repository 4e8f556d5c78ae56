"""What to do with a checkpoint whose sha256 is not the published one: the GUI's own choice
(keep it anyway, delete it and download again, or cancel) instead of a command-line flag."""
from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from annotator.gui import errors as gui_errors

KEEP, REDOWNLOAD, CANCEL = "keep", "redownload", "cancel"
# With dialogs off (tests), ask() records the question and returns this answer.
ANSWER = CANCEL


def mismatch_box(parent: QWidget | None, text: str, keep_text: str = "Keep anyway",
                 redownload_text: str = "Delete and download again") -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Warning, "Checksum mismatch", text, QMessageBox.StandardButton.NoButton,
                      parent)
    box.setInformativeText("A converted or fine-tuned file is expected to differ; a damaged or "
                           "substituted download also does. Keep it only if you trust where it came from.")
    box.addButton(keep_text, QMessageBox.ButtonRole.AcceptRole).setObjectName(KEEP)
    box.addButton(redownload_text, QMessageBox.ButtonRole.DestructiveRole).setObjectName(REDOWNLOAD)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.button(QMessageBox.StandardButton.Cancel).setObjectName(CANCEL)
    return box


def ask(parent: QWidget | None, text: str, **labels) -> str:
    """KEEP, REDOWNLOAD or CANCEL (Cancel is the default button and what closing the box means)."""
    gui_errors.shown.append(("Checksum mismatch", text))
    if not gui_errors.DIALOGS_ENABLED:
        return ANSWER
    box = mismatch_box(parent, text, **labels)
    box.exec()
    clicked = box.clickedButton()
    return clicked.objectName() if clicked is not None and clicked.objectName() else CANCEL
