"""Tools > Segment everything: every object on the current image or video frame, no prompts.

The dialog picks the model (any listed image engine; the classic one is run one click per
grid point by annotator.everything.run.PromptAdapter), the mode, the grid density and the
suppression. The run is a task on the engine worker (its cached encoding of this image is
reused when the model is the one in use), with progress and Cancel in the status bar. The
masks are added by annotator.everything.run.add_to_project as new objects of source "auto",
one undo step, and the auto-object review (gui/auto_review.py) starts on them.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QToolButton,
)

from annotator.gui import errors as gui_errors

MODES = (("hierarchical", "Hierarchical (TinySAM): sparse grid, then dense only where nothing was found"),
         ("grid", "Grid (SAM): every point of the grid"))
SUPPRESSION = (("greedy", "Greedy box NMS (the official default)"),
               ("mask", "Mask-IoU NMS: keeps touching objects whose boxes overlap"),
               ("fast", "Fast NMS (YOLACT): one matrix step, fastest with many masks"),
               ("noh", "Density-aware NMS (NOH): keeps more in crowds"))
CLASSIC_NOTE = ("The classic engine runs one click per grid point (a coarser default grid) and has no "
                "learned scores: only clicks where GrabCut found nothing are left out.")


@dataclass(frozen=True)
class EverythingRequest:
    model: str  # "" = the engine in use
    mode: str = "hierarchical"
    nms: str = "greedy"
    points_per_side: int | None = None  # None: the engine's default (everything.run.options_for)


class EverythingDialog(QDialog):
    def __init__(self, models: list[str], current: str, last: EverythingRequest | None = None, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Segment everything")
        form = QFormLayout(self)
        self.model = QComboBox(self)
        for n in models:
            self.model.addItem(f"{n} (in use)" if n == current else n, n)
        want = last.model if last is not None and last.model in models else current
        self.model.setCurrentIndex(max(0, self.model.findData(want)))
        form.addRow("Model", self.model)
        self.mode = self._combo(MODES, last.mode if last else "hierarchical")
        form.addRow("Mode", self.mode)
        self.density = QSpinBox(self)
        self.density.setRange(0, 64)
        self.density.setSpecialValueText("model default")
        self.density.setValue((last.points_per_side or 0) if last else 0)
        self.density.setToolTip("Points per side of the grid (hierarchical: of the dense pass; at least 4)")
        form.addRow("Points per side", self.density)
        self.nms = self._combo(SUPPRESSION, last.nms if last else "greedy")
        form.addRow("Suppression", self.nms)
        self.note = QLabel(CLASSIC_NOTE, self)
        self.note.setWordWrap(True)
        form.addRow(self.note)
        self.model.currentIndexChanged.connect(self._model_changed)
        self._model_changed()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Segment")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _combo(self, entries, value: str) -> QComboBox:
        c = QComboBox(self)
        for key, text in entries:
            c.addItem(text, key)
        c.setCurrentIndex(max(0, c.findData(value)))
        return c

    def _model_changed(self) -> None:
        self.note.setVisible(self.model.currentData() == "classic")

    def request(self, current: str) -> EverythingRequest:
        model = self.model.currentData() or ""
        pps = self.density.value()
        if self.mode.currentData() == "hierarchical" and 0 < pps < 4:
            pps = 4
        return EverythingRequest("" if model == current else model, self.mode.currentData(),
                                 self.nms.currentData(), pps or None)


def _segment_task(key: tuple, req: EverythingRequest):
    """Runs on the engine worker: (everything.run.Result, model name), or None when cancelled."""
    def run(worker):
        from annotator.everything.masks import Cancelled
        from annotator.everything.run import segment_image

        session, name = worker.image_session_for(req.model)
        worker.busyChanged.emit("Segmenting everything…")
        rgb = worker.cache.get(*key)
        try:
            result = segment_image(session, rgb, mode=req.mode, nms=req.nms, progress=worker.report,
                                   cancel=worker.cancelled, points_per_side=req.points_per_side)
        except Cancelled:
            return None
        return result, name
    return run


class EverythingController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.task_id = 0
        self.target: tuple | None = None  # (project path, item id, frame) of the run in flight
        self.last: EverythingRequest | None = None
        self.last_status: str | None = None
        self.added: list[int] = []  # track ids of the last run's objects
        self._pending = None  # a finished result waiting for a propagation/import to end
        self.progress = QProgressBar(win)
        self.progress.setMaximumWidth(180)
        self.progress.setFormat("Everything %p%")
        self.progress.hide()
        self.cancel_button = QToolButton(win)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop segmenting everything (nothing is added)")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel)
        win.statusBar().addPermanentWidget(self.progress)
        win.statusBar().addPermanentWidget(self.cancel_button)
        self._retry = QTimer(self, singleShot=True, interval=300, timeout=self._add_pending)
        win.worker.taskProgress.connect(self._on_progress)
        win.worker.taskFinished.connect(self._on_finished)

    @property
    def running(self) -> bool:
        return self.target is not None

    def _models(self) -> list[str]:
        combo = self.win.model_combo
        names = [combo.itemData(i) for i in range(combo.count())]
        return [n for n in names if n] or ["classic"]

    def dialog(self) -> None:
        win = self.win
        if not self._can_start():
            return
        dlg = EverythingDialog(self._models(), win.engine_name, self.last, win)
        if dlg.exec():
            self.start(dlg.request(win.engine_name))

    def _can_start(self) -> bool:
        win = self.win
        if win.project is None or win.item is None:
            gui_errors.show_info(win, "Open an image or a video first.")
            return False
        if self.running:
            gui_errors.show_info(win, "Segment everything is already running (Cancel in the status bar stops it).")
            return False
        if win._edits_wait():
            gui_errors.show_info(win, "Wait for the propagation or import to finish before segmenting everything.")
            return False
        if not win.item.exists:
            gui_errors.show_info(win, f"{win.item.abspath}: media file is missing; relink it first.")
            return False
        return True

    def start(self, req: EverythingRequest) -> bool:
        """Segment the current image/frame in the worker; the objects are added when it ends."""
        win = self.win
        if not self._can_start():
            return False
        self.last = req
        self.task_id = win.worker.new_task_id()  # ids shared with the Find box and label suggestions
        self.target = (win.project.path, win.item.id, win.frame)
        self.last_status = None
        self.progress.setRange(0, 0)  # busy until the first batch reports
        self.progress.show()
        self.cancel_button.show()
        win.statusBar().showMessage(f"Segmenting everything on {win.item.name}"
                                    f"{f' frame {win.frame}' if win.item.is_video else ''}…", 3000)
        win.worker.run_task(self.task_id, _segment_task(win._key(), req))
        return True

    def cancel(self) -> None:
        if self.running:
            self.win.worker.cancel()
            self.win.status_busy.setText("Cancelling…")

    def _on_progress(self, task_id: int, done: int, total: int) -> None:
        if task_id == self.task_id and self.running:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(min(done, total))

    def _on_finished(self, task_id: int, status: str, result) -> None:
        if task_id != self.task_id or not self.running:
            return
        target, self.target = self.target, None
        self.progress.hide()
        self.cancel_button.hide()
        win = self.win
        if status == "error":
            self.last_status = status
            gui_errors.show_error(win, result, "Segment everything failed")
            return
        if status == "cancelled" or result is None:
            self.last_status = "cancelled"
            win.statusBar().showMessage("Segment everything cancelled; nothing was added.", 4000)
            return
        self._pending = (target, result)
        self._add_pending()

    def _add_pending(self) -> None:
        """Store the result as one undo step, once no propagation or import holds an undo group open."""
        if self._pending is None:
            return
        win = self.win
        if win.project is None:
            self._pending = None
            return
        if win._edits_wait() or win.project.in_group:
            self._retry.start()
            return
        (path, item_id, frame), (res, model) = self._pending
        self._pending = None
        if win.project.path != path:  # another project was opened meanwhile
            win.statusBar().showMessage("Segment everything finished for a project that is closed; nothing added.",
                                        5000)
            return
        from annotator.everything.run import add_to_project

        try:
            item = win.project.item(item_id)
            self.added = add_to_project(win.project, item, frame, res.records, model=model)
        except Exception as e:
            self.last_status = "error"
            gui_errors.show_error(win, e, "Could not add the objects")
            return
        self.last_status = "done"
        keys = win.auto_review
        win.statusBar().showMessage(
            f"Segment everything: {len(self.added)} auto object(s) in {res.seconds:.1f} s. "
            f"{keys.key_text('next_auto')} walks through them, {keys.key_text('accept_auto')} accepts, "
            f"{keys.key_text('reject_auto')} rejects.", 8000)
        if win.item is not None and (win.item.id, win.frame) == (item_id, frame) and self.added:
            win.active_track = None
            keys.next()
        win.schedule_refresh()
