"""The propagation controller: wires the worker's propagation signals to annotator.app.propagation.

The rules (what is seeded, which frames stay, one undo step per run) live in the app layer;
this class only decides when to write (small batches on a timer, so the GUI thread stays free
and a crash loses at most the last batch), shows progress, and follows the propagation front
on the canvas until the person looks elsewhere.
"""
from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QTimer

from annotator.app import propagation
from annotator.errors import MediaError
from annotator.gui import errors as gui_errors
from annotator.gui import layout
from annotator.gui.worker import PropagateJob

log = logging.getLogger(__name__)

MESSAGES = {"done": "Propagated {n} frame(s).",
            "cancelled": "Propagation cancelled after {n} frame(s); they are kept.",
            "error": "Propagation stopped after {n} frame(s)."}


class PropagationController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.run: propagation.PropagationRun | None = None
        self.job_id = 0
        self.user_moved = False  # the person looked at another frame: stop following
        self.following = False  # True while the controller itself moves the view
        self.last_status: str | None = None
        self._last_progress = 0.0
        self._timer = QTimer(self, singleShot=True, interval=100, timeout=self.flush)
        win.worker.propagated.connect(self._on_propagated)
        win.worker.progress.connect(self._on_progress)
        win.worker.jobFinished.connect(self._on_finished)

    @property
    def running(self) -> bool:
        return self.run is not None

    def start(self, direction: str, track_ids: list[int] | None = None) -> bool:
        win = self.win
        if win.project is None or win.item is None or win.item.kind == "image" or win._edits_wait():
            return False
        if not win.item.exists:
            gui_errors.show_error(win, MediaError(f"{win.item.abspath}: media file is missing"))
            return False
        if win.everything.running:  # one worker: the run would wait behind it, sharing its Cancel
            gui_errors.show_info(win, "Segment everything is running; wait for it or cancel it first.")
            return False
        if track_ids is None:
            # The selected object alone (a correction must not disturb the others), or
            # every object when none is selected or "All objects" is on.
            if not win.all_objects.isChecked() and win.active_track is not None:
                track_ids = [win.active_track]
        plan = propagation.plan(win.project, win.item, win.frame, direction, track_ids)
        if not plan.seeds:
            gui_errors.show_info(win, f"Nothing to propagate: no unlocked object has a mask on frame {win.frame}. "
                                      "Click an object on this frame first.")
            return False
        self.job_id += 1
        self.user_moved = False
        self.run = propagation.PropagationRun(win.project, plan, model=win.video_engine_name)
        win.prop_progress.setRange(0, max(1, plan.total))
        win.prop_progress.setValue(0)
        layout.show_progress(win, True)
        win.timeline.busy_range = plan.frame_range
        win._update_enabled()
        win.worker.propagate(PropagateJob(self.job_id, win.item.abspath, win.item.kind, plan.start, direction,
                                          None, plan.seeds))
        return True

    def cancel(self) -> None:
        if self.run is not None:
            self.win.worker.cancel()
            self.win.status_busy.setText("Cancelling…")

    def _on_propagated(self, job_id: int, frame: int, masks: dict) -> None:
        if self.run is None or job_id != self.job_id:
            return
        self.run.add(frame, masks)
        if not self._timer.isActive():
            self._timer.start()

    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self.run is None or job_id != self.job_id:
            return
        # QProgressBar repaints synchronously on setValue: a few updates a second is plenty.
        now = time.perf_counter()
        if now - self._last_progress < 0.25 and done < total:
            return
        self._last_progress = now
        self.win.prop_progress.setMaximum(max(total, 1))
        self.win.prop_progress.setValue(done)

    def _on_finished(self, job_id: int, status: str, exc) -> None:
        if self.run is None or job_id != self.job_id:
            return
        frames = self.run.frames
        self.finish()
        if status == "error":
            gui_errors.show_error(self.win, exc, "Propagation failed")
        self.win.statusBar().showMessage(MESSAGES[status].format(n=frames), 5000)
        self.last_status = status

    def flush(self) -> None:
        run, win = self.run, self.win
        if run is None or win.project is None:
            return
        try:
            run.flush()
        except Exception as e:
            self.cancel()
            gui_errors.show_error(win, e, "Could not save propagated masks")
            return
        # Follow the front, showing only frames already saved, so masks appear as they come.
        if (run.front is not None and win.item is not None and win.item.id == run.plan.item_id
                and not self.user_moved):
            self.following = True
            try:
                win.go_frame(run.front)
            finally:
                self.following = False

    def finish(self) -> None:
        """Write what is left and close the run's undo group (also when cancelled or failed)."""
        self._timer.stop()
        self.flush()
        run, self.run = self.run, None
        if run is None:
            return
        try:
            run.finish()
        except Exception as e:
            log.warning("closing the propagation undo group failed: %s", e)
        win = self.win
        layout.show_progress(win, False)
        win.timeline.busy_range = None
        win.status_busy.setText("")
        win._refresh()  # show the final state now, not after the throttled redraw
