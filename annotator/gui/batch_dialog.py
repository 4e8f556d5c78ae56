"""Tools > Run on all items…: the batch runner (annotator/batch) in the background.

The window's own project connection stays the one writer, so the window and the batch
never fight over the project lock or a transaction: the tasks are planned on the GUI thread
(driver.plan reads the project), a BatchThread feeds them to a local process pool and
relays each outcome, and the GUI thread writes it (driver.apply: one transaction and one
undo step per item, with its done-record) - the same code and records as `annotator batch`.
Cancel stops scheduling; the items in flight finish and are written, the rest stay to do
(a re-run, here or on the command line, skips what is done). The window redraws as each
item lands (the store's change events).
"""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import QCoreApplication, QThread, QTimer, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
)

from annotator.errors import AnnotatorError
from annotator.gui import errors as gui_errors

log = logging.getLogger(__name__)

JOBS = (("propagate", "Propagate every video from its manual masks"),
        ("segment-everything", "Segment everything on every image"),
        ("encode", "Encode every image (embedding cache)"))


class BatchThread(QThread):
    """Runs the tasks on a local process pool; one `outcome` signal per finished task."""

    outcome = Signal(object, object, object)  # task, result | None, error | None
    failed = Signal(object)

    def __init__(self, tasks, workers: int, parent=None):
        super().__init__(parent)
        self.tasks = list(tasks)
        self.workers = workers
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        from annotator.batch.executors import LocalExecutor
        from annotator.gui.threads import lower_current_thread_priority

        lower_current_thread_priority()
        try:
            with LocalExecutor(self.workers) as ex:
                for task, result, error in ex.run(iter(self.tasks), self._stop.is_set):
                    self.outcome.emit(task, result, error)
        except Exception as e:  # the pool could not start: shown by the GUI thread
            log.info("batch failed: %r", e, exc_info=True)
            self.failed.emit(e)


class BatchDialog(QDialog):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.setWindowTitle("Run on all items")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.job_combo = QComboBox()
        for key, text in JOBS:
            self.job_combo.addItem(text, key)
        self.model_edit = QComboBox()
        self.model_edit.setEditable(True)
        self.workers = QSpinBox()
        self.workers.setRange(1, 64)
        import os

        self.workers.setValue(max(1, min(4, os.cpu_count() or 1)))
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Job", self.job_combo)
        form.addRow("Model", self.model_edit)
        form.addRow("Worker processes", self.workers)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel run", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.progress)
        box.addWidget(self.status)
        box.addWidget(self.buttons)
        self.job_combo.currentIndexChanged.connect(self._suggest_model)
        self.thread: BatchThread | None = None
        self._thread_done = False
        self._queue: list = []  # outcomes not written yet
        self._retry = QTimer(self, singleShot=True, interval=200, timeout=self._drain)
        self.project = None
        self.job = None
        self.summary = None
        self.cancelled = False
        self._suggest_model()
        self._set_running(False)

    # -- state --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread is not None

    def _set_running(self, on: bool) -> None:
        for w in (self.job_combo, self.model_edit, self.workers, self.start_button):
            w.setEnabled(not on)
        self.cancel_button.setEnabled(on)

    def _suggest_model(self) -> None:
        key = self.job_combo.currentData()
        current = (self.win.video_engine_name if key == "propagate" else self.win.engine_name) or "classic"
        self.model_edit.clear()
        for name in dict.fromkeys([current, "classic"]):
            self.model_edit.addItem(name)
        self.model_edit.setCurrentIndex(0)

    # -- running ------------------------------------------------------------------------------
    def start(self) -> bool:
        from annotator.batch import driver
        from annotator.batch.jobs import JOBS as BATCH_JOBS

        if self.running or self.win.project is None:
            return False
        key = self.job_combo.currentData()
        try:
            job = BATCH_JOBS[key](self.model_edit.currentText().strip() or "classic")
            summary, tasks = driver.plan(self.win.project, job)
        except AnnotatorError as e:
            gui_errors.show_error(self, e)
            self.status.setText(gui_errors.message_for(e))
            return False
        summary.workers = self.workers.value()
        self.project, self.job, self.summary, self.cancelled = self.win.project, job, summary, False
        self.progress.setRange(0, max(1, summary.total))
        self.progress.setValue(0)
        if not tasks:
            self.status.setText(self._text(done=True))
            return True
        self._thread_done = False
        self.thread = BatchThread(tasks, self.workers.value(), self)
        self.thread.outcome.connect(self._on_outcome)
        self.thread.failed.connect(self._on_failed)
        self.thread.finished.connect(self._on_finished)
        self._set_running(True)
        self.status.setText(self._text())
        self.thread.start()
        return True

    def cancel(self) -> None:
        if self.thread is not None:
            self.cancelled = True
            self.thread.stop()
            self.status.setText(self._text() + " Cancelling: the items in flight finish first…")

    def _on_outcome(self, task, result, error) -> None:
        self._queue.append((task, result, error))
        self._drain()

    def _drain(self, force: bool = False) -> None:
        """Write the outcomes that arrived - not while a propagation or an import of the window
        holds an undo group open (an item would join that step): then a little later."""
        from annotator.batch import driver

        if self._queue and not force and self.win._edits_wait():
            self._retry.start()
            return
        while self._queue:
            task, result, error = self._queue.pop(0)
            if self.win.project is not self.project:  # the project was closed: nothing more is written
                self._queue.clear()
                self.cancel()
                break
            try:
                driver.apply(self.project, self.job, self.summary, task, result, error)
            except Exception as e:  # the store refused (disk full...): stop, show it
                self._queue.clear()
                self.cancel()
                gui_errors.show_error(self, e)
                break
        self.progress.setValue(self.summary.done + self.summary.failed)
        if self._thread_done:
            self._end()
        else:
            self.status.setText(self._text())

    def _on_failed(self, exc) -> None:
        gui_errors.show_error(self, exc)

    def _on_finished(self) -> None:
        self._thread_done = True
        self._drain()

    def _end(self) -> None:
        if self._queue or self.thread is None:
            return
        self.thread = None
        s = self.summary
        s.interrupted = self.cancelled and s.left > 0
        self._set_running(False)
        self.status.setText(self._text(done=True))
        if self.win.project is self.project:
            self.win.schedule_refresh()

    def _text(self, done: bool = False) -> str:
        s = self.summary
        if s is None:
            return ""
        parts = [f"{s.done + s.failed}/{s.total} items", f"{s.failed} failed"]
        if s.skipped_done:
            parts.append(f"{s.skipped_done} already done")
        if s.skipped:
            parts.append(f"{len(s.skipped)} with nothing to do")
        text = ", ".join(parts) + "."
        if done:
            text = ("Cancelled: " if s.interrupted else "Finished: ") + text
            if s.interrupted:
                text += f" {s.left} not run (run again to finish)."
        for iid, err in sorted(s.errors.items())[:3]:
            text += f"\nitem {iid}: {err}"
        return text

    # -- closing ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """The project is closing: stop scheduling, wait for the items in flight and write
        them while the project is still open."""
        t = self.thread
        if t is None:
            return
        self.cancel()
        while not t.wait(50):
            QCoreApplication.processEvents()
        QCoreApplication.processEvents()  # the thread's last signals
        self._thread_done = True
        self._drain(force=True)

    def closeEvent(self, e) -> None:
        if self.running:  # closing the dialog does not stop the batch; it runs on, hidden
            self.hide()
            e.ignore()
            return
        super().closeEvent(e)


def dialog_of(win) -> BatchDialog | None:
    """The window's batch dialog, kept with its background dialogs (win._transfers): closing
    the project or the window shuts the run down first (the items in flight written)."""
    dlg = win._transfers.get("batch")
    return dlg if isinstance(dlg, BatchDialog) else None


def open_dialog(win) -> BatchDialog | None:
    """Tools > Run on all items… (one dialog per window; it is made on first use)."""
    if win.project is None:
        gui_errors.show_info(win, "Open a project or some media first.")
        return None
    dlg = dialog_of(win)
    if dlg is None:
        dlg = win._transfers["batch"] = BatchDialog(win)
    dlg.show()
    dlg.raise_()
    return dlg
