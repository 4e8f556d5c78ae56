"""Model manager: list the model cards, download a checkpoint (progress, cancel, resume),
import a checkpoint file, verify installed files, and pick the model to use.

Downloads, imports and checks run in a background thread; the dialog only shows
progress. The heavy lifting is annotator.engines.download / the `annotator models`
command, so the GUI and the CLI install files the same way.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from annotator.errors import CheckpointError
from annotator.gui import errors as gui_errors

log = logging.getLogger(__name__)


class Task(QThread):
    """Runs fn(progress, cancel) off the GUI thread."""

    progressed = Signal(object, object)  # done, total (bytes; total may be None)
    done = Signal(bool, str, object)  # ok, message, exception

    def __init__(self, fn, parent=None):
        super().__init__(parent)
        self.fn = fn
        self.cancel_event = threading.Event()

    def run(self) -> None:
        try:
            out = self.fn(lambda d, t: self.progressed.emit(d, t), self.cancel_event)
            if isinstance(out, list):
                self.rows, out = out, ""
            self.done.emit(True, out or "", None)
        except Exception as e:
            self.done.emit(False, gui_errors.message_for(e), e)


def _size(n) -> str:
    if not n:
        return "-"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class ModelManagerDialog(QDialog):
    modelChosen = Signal(str)

    COLS = ["Model", "Kind", "Size", "Status", "Licence"]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Model manager")
        self.table = QTableWidget(0, len(self.COLS), self)
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        for col in range(4):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.progress = QProgressBar(self)
        self.progress.hide()
        self.btn_download = QPushButton("Download", self)
        self.btn_cancel = QPushButton("Cancel download", self)
        self.btn_import = QPushButton("Import file…", self)
        self.btn_verify = QPushButton("Verify", self)
        self.btn_use = QPushButton("Use this model", self)
        self.btn_close = QPushButton("Close", self)
        self.btn_cancel.hide()
        row = QHBoxLayout()
        for b in (self.btn_download, self.btn_cancel, self.btn_import, self.btn_verify, self.btn_use):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.btn_close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(row)
        self.btn_download.clicked.connect(self.download)
        self.btn_cancel.clicked.connect(self.cancel)
        self.btn_import.clicked.connect(self.import_dialog)
        self.btn_verify.clicked.connect(self.verify)
        self.btn_use.clicked.connect(self.use)
        self.btn_close.clicked.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.task: Task | None = None
        self.last_result: tuple[bool, str] | None = None
        self.rows: list[dict] = []
        self.loaded = False
        self._lister: Task | None = None
        self._reload_again = False
        self.reload()
        self.resize(980, 480)

    # ---------------- listing ----------------
    def reload(self) -> None:
        """Re-read the cards in a background thread (checking whether a card's architecture
        is implemented may build it on torch's meta device: seconds the first time)."""
        if self._lister is not None:
            self._reload_again = True
            return
        self.status.setText("Reading model cards…")
        self.loaded = False
        self._lister = Task(lambda progress, cancel: _card_rows(), self)
        self._lister.done.connect(self._on_listed)
        self._lister.start()

    def _on_listed(self, ok: bool, msg: str, exc) -> None:
        rows = self._lister.rows if ok else []
        self._lister.wait()
        self._lister = None
        if not ok:
            gui_errors.show_error(self, exc, "Model cards")
        sel = self.selected_name()
        self.rows = [dict(name="classic", installed=True, implemented=True,
                          cells=["classic (built in, no weights)", "image+video", "-", "always available", "-"])]
        self.rows += rows
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            self._set_row(i, r["cells"])
        names = self.names()
        self.table.selectRow(names.index(sel) if sel in names else 0)
        if self.status.text() == "Reading model cards…":
            self.status.setText("")
        self.loaded = True
        self._update_buttons()
        if self._reload_again:
            self._reload_again = False
            self.reload()

    @property
    def idle(self) -> bool:
        """No download/import/check running and the list is current."""
        return self.task is None and self._lister is None

    def _set_row(self, i: int, cells: list[str]) -> None:
        for j, text in enumerate(cells):
            it = QTableWidgetItem(text)
            it.setToolTip(text)
            self.table.setItem(i, j, it)

    def names(self) -> list[str]:
        return [r["name"] for r in self.rows]

    def selected_name(self) -> str | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if not rows:
            return None
        r = min(rows)
        names = self.names()
        return names[r] if r < len(names) else None

    def select(self, name: str) -> None:
        self.table.selectRow(self.names().index(name))

    def _row(self) -> dict | None:
        name = self.selected_name()
        return next((r for r in self.rows if r["name"] == name), None)

    def _card(self):
        r = self._row()
        return r.get("card") if r else None

    def _update_buttons(self) -> None:
        r = self._row()
        c = self._card()
        busy = self.task is not None
        installed = bool(r and r["installed"])
        self.btn_download.setEnabled(c is not None and not installed and not busy)
        self.btn_import.setEnabled(c is not None and not busy)
        self.btn_verify.setEnabled(c is not None and installed and not busy)
        self.btn_use.setEnabled(bool(r and installed and r["implemented"]) and not busy)

    # ---------------- tasks ----------------
    def _start(self, fn, what: str) -> None:
        self.task = Task(fn, self)
        self.task.progressed.connect(self._on_progress)
        self.task.done.connect(self._on_done)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(what)
        self.task.start()
        self._update_buttons()

    def _on_progress(self, done, total) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} / {total / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)

    def _on_done(self, ok: bool, msg: str, exc) -> None:
        self.task.wait()
        self.task = None
        self.progress.hide()
        self.btn_cancel.hide()
        self.last_result = (ok, msg)
        self.status.setText(msg)
        if not ok and exc is not None and not _is_cancel(exc):
            gui_errors.show_error(self, exc, "Model manager")
        self.reload()

    def download(self) -> None:
        from annotator.engines import download

        c = self._card()
        if c is None:
            return
        accept = False
        notice = download.licence_notice(c)
        if notice and not download.licence_accepted(c):
            if gui_errors.DIALOGS_ENABLED and QMessageBox.question(
                    self, "Licence", notice + "\n\nAccept and download?") != QMessageBox.StandardButton.Yes:
                return
            accept = True

        def run(progress, cancel):
            path = download.download_card(c, progress=progress, cancel=cancel, accept_licence=accept)
            return f"Installed {c.name}: {path}"

        self.btn_cancel.show()
        self._start(run, f"Downloading {c.name}… (Cancel keeps the partial file; the next try resumes)")

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel_event.set()
            self.status.setText("Cancelling…")

    def import_dialog(self) -> None:
        c = self._card()
        if c is None:
            return
        f, _ = QFileDialog.getOpenFileName(self, f"Import a checkpoint for {c.title}", "",
                                           "Checkpoints (*.pt *.pth *.safetensors *.bin);;All files (*)")
        if f:
            self.import_file(c.name, f)

    def import_file(self, name: str, file: str, allow_checksum_mismatch: bool = False) -> None:
        def run(progress, cancel):
            from annotator.app import models

            result = models.import_file(name, file, allow_checksum_mismatch)
            return " ".join([result.summary(name)] + [f"warning: {w}" for w in result.warnings])

        self._start(run, f"Checking and importing {Path(file).name}…")

    def verify(self) -> None:
        from annotator.engines import registry

        c = self._card()
        path = registry.installed_path(c) if c else None
        if path is None:
            return

        def run(progress, cancel):
            from annotator.app import models

            v = models.verify(c, progress=progress, cancel=cancel)
            if v is None:
                raise CheckpointError(f"{path}: the checkpoint is gone")
            if v.verdict == "ok":
                return f"{c.name}: OK — matches the published sha256"
            if v.verdict == "mismatch":
                raise CheckpointError(f"{v.path}: sha256 {v.digest[:16]}… does not match the published "
                                      f"{v.published[:16]}…; delete it and download again")
            return f"{c.name}: {v.verdict}, nothing to compare with (file sha256 {v.digest[:16]}…)"

        self._start(run, f"Verifying {path.name}…")

    def use(self) -> None:
        name = self.selected_name()
        if name:
            self.modelChosen.emit(name)
            self.accept()

    def reject(self) -> None:
        if self._lister is not None:
            self._lister.wait(60000)
        if self.task is not None:
            self.task.cancel_event.set()
            self.task.wait(10000)
        super().reject()


def _card_rows() -> list[dict]:
    from annotator.app import models

    rows = []
    for r in models.rows():
        status = "installed" if r.installed else "not installed"
        if not r.implemented:
            status += f" · {r.status}"
        rows.append(dict(name=r.name, card=r.card, installed=r.installed, implemented=r.implemented,
                         cells=[f"{r.title} ({r.name})", r.kind, _size(r.card.size), status, r.licence_note]))
    return rows


def _is_cancel(exc) -> bool:
    try:
        from annotator.engines.download import DownloadCancelled

        return isinstance(exc, DownloadCancelled)
    except ImportError:
        return False
