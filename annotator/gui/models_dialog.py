"""Model manager: list the model cards, download a checkpoint (progress, cancel, resume),
import a checkpoint file, verify installed files, and pick the model to use.

Downloads, imports and checks run in a background thread (gui.model_jobs, shared with the
first-run screen); the dialog only shows progress. The heavy lifting is
annotator.engines.download / the `annotator models` command, so the GUI and the CLI install
files the same way.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from annotator.gui import errors as gui_errors
from annotator.gui.model_jobs import ModelJobs, Task

log = logging.getLogger(__name__)


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
        # Everything but the model's name sized to its contents; the name takes the rest (elided,
        # full text in its tooltip), so every column fits at the default size.
        hh = self.table.horizontalHeader()
        for col in range(1, len(self.COLS)):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
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
        self.jobs = ModelJobs(self)
        self.jobs.started.connect(self._on_started)
        self.jobs.progressed.connect(self._on_progress)
        self.jobs.finished.connect(self._on_done)
        self.last_result: tuple[bool, str] | None = None
        self.rows: list[dict] = []
        self.loaded = False
        self._lister: Task | None = None
        self._reload_again = False
        self.reload()
        self.resize(980, 480)

    # ---------------- listing ----------------
    def reload(self) -> None:
        """Re-read the cards in a background thread (a fraction of a second; a card whose family
        has no torch-free answer is built on torch's meta device, which takes longer)."""
        if self._lister is not None:
            self._reload_again = True
            return
        if not self.rows:  # later reloads keep the last job's message on the status line
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
                          cells=["classic (built in, no weights)", "image+video", "-", "always available", "-"],
                          tips={})]
        self.rows += rows
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            self._set_row(i, r["cells"], r["tips"])
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
        return not self.jobs.busy and self._lister is None

    @property
    def task(self) -> Task | None:
        return self.jobs.task

    def _set_row(self, i: int, cells: list[str], tips: dict) -> None:
        for j, text in enumerate(cells):
            it = QTableWidgetItem(text)
            it.setToolTip(tips.get(j, text))
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
        busy = self.jobs.busy
        if r and not r["implemented"]:
            self.status.setText(f"{r['name']}: {r['reason']}")
        installed = bool(r and r["installed"])
        self.btn_download.setEnabled(c is not None and not installed and not busy)
        self.btn_import.setEnabled(c is not None and not busy)
        self.btn_verify.setEnabled(c is not None and installed and not busy)
        self.btn_use.setEnabled(bool(r and installed and r["implemented"]) and not busy)

    # ---------------- jobs ----------------
    def _on_started(self, what: str) -> None:
        self.progress.setRange(0, 0)
        self.progress.show()
        self.btn_cancel.setVisible(self.jobs.cancellable)
        self.status.setText(what)
        self._update_buttons()

    def _on_progress(self, done, total) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{done / 1e6:.1f} / {total / 1e6:.1f} MB")
        else:
            self.progress.setRange(0, 0)

    def _on_done(self, ok: bool, msg: str) -> None:
        self.progress.hide()
        self.btn_cancel.hide()
        self.last_result = (ok, msg)
        self.status.setText(msg)
        self.reload()

    def download(self) -> None:
        c = self._card()
        if c is not None:
            self.jobs.download(c)

    def cancel(self) -> None:
        if self.jobs.busy:
            self.jobs.cancel()
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
        """A checksum mismatch asks (install anyway / download the published file / cancel)."""
        from annotator.engines import registry

        self.jobs.import_file(registry.get_card(name), file, allow_checksum_mismatch)

    def verify(self) -> None:
        """A mismatch asks (keep / delete and download again / cancel)."""
        c = self._card()
        if c is not None:
            self.jobs.verify(c)

    def use(self) -> None:
        name = self.selected_name()
        if name:
            self.modelChosen.emit(name)
            self.accept()

    def reject(self) -> None:
        if self._lister is not None:
            self._lister.wait(60000)
        self.jobs.stop()
        super().reject()


def _card_rows() -> list[dict]:
    from annotator.app import models

    rows = []
    for r in models.rows():
        status = "installed" if r.installed else "not installed"
        tips = {}
        if not r.implemented:
            status += " · not usable"  # the reason: tooltip and status line (it is long)
            tips[3] = r.status
        rows.append(dict(name=r.name, card=r.card, installed=r.installed, implemented=r.implemented,
                         reason=r.status, tips=tips,
                         cells=[f"{r.title} ({r.name})", r.kind, _size(r.card.size), status, r.licence_note]))
    return rows
