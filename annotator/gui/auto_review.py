"""Walking through automatic objects (segment everything, find by text) and accepting or
rejecting them with single keys.

The rules (what counts as auto, what accepting does, one undo step each) live in
annotator.app.auto_objects; this controller picks the object to show, keeps the status-bar
indicator current (is the selected object an unaccepted auto one, how many are left on this
frame) and moves on to the next auto object after each decision, so reviewing a frame is
a run of Y / X presses.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, QTimer
from PySide6.QtWidgets import QLabel

from annotator.app import auto_objects
from annotator.errors import AnnotatorError
from annotator.gui import errors as gui_errors


class AutoReviewController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.indicator = QLabel("", win)
        self.indicator.setToolTip("Unaccepted automatic objects on this frame")
        win.statusBar().addPermanentWidget(self.indicator)
        self._pending = False
        # the object list is rebuilt after every store change and selection: follow it
        win.objects.itemSelectionChanged.connect(self.schedule_update)
        win.objects.model().dataChanged.connect(self.schedule_update)
        win.objects.model().rowsRemoved.connect(self.schedule_update)

    # ---------------- queries ----------------
    def _ready(self) -> bool:
        w = self.win
        return w.project is not None and w.item is not None

    def auto_ids(self) -> list[int]:
        if not self._ready():
            return []
        return auto_objects.auto_tracks(self.win.project, self.win.item.id, self.win.frame)

    def selected_is_auto(self) -> bool:
        w = self.win
        return (self._ready() and w.active_track is not None
                and auto_objects.is_auto(w.project, w.active_track, w.frame))

    def _can_edit(self) -> bool:
        w = self.win
        if not self._ready():
            return False
        if w._edits_wait():
            w.statusBar().showMessage("Wait for the propagation or import to finish before reviewing.", 3000)
            return False
        return True

    # ---------------- actions ----------------
    def next(self, step: int = 1) -> int | None:
        """Select the next (step=1) or previous (-1) unaccepted auto object on this frame and show it."""
        if not self._ready():
            return None
        w = self.win
        tid = auto_objects.next_auto(w.project, w.item.id, w.frame, w.active_track, step)
        if tid is None:
            w.statusBar().showMessage("No unaccepted auto objects on this frame.", 3000)
            self.update_indicator()
            return None
        w.select_track(tid)
        rec = w.project.mask(tid, w.frame)
        if rec is not None:
            x, y, bw, bh = rec.bbox
            w.canvas.ensureVisible(QRectF(x, y, max(bw, 1.0), max(bh, 1.0)), 20, 20)
        ids = self.auto_ids()
        w.statusBar().showMessage(
            f"Auto object {w.project.track(tid).obj_id} ({ids.index(tid) + 1} of {len(ids)}): "
            f"{self.key_text('accept_auto')} accepts, {self.key_text('reject_auto')} rejects, "
            f"{self.key_text('next_auto')} skips.", 5000)
        self.update_indicator()
        return tid

    def accept(self) -> bool:
        """Accept the selected auto object and move on to the next one."""
        if not self._can_edit() or not self._selected_auto("accept"):
            return False
        w = self.win
        tid = w.active_track
        self._run(lambda: auto_objects.accept(w.project, tid))
        w.statusBar().showMessage(f"Accepted object {w.project.track(tid).obj_id}.", 3000)
        self._advance(tid)
        return True

    def reject(self) -> bool:
        """Delete the selected auto object and move on to the next one."""
        if not self._can_edit() or not self._selected_auto("reject"):
            return False
        w = self.win
        tid = w.active_track
        obj = w.project.track(tid).obj_id
        after = auto_objects.next_auto(w.project, w.item.id, w.frame, tid)
        self._run(lambda: auto_objects.reject(w.project, tid))
        w.active_track = None
        w.prompt = None
        w.canvas.set_prompts()
        w.statusBar().showMessage(f"Rejected object {obj} (Undo brings it back).", 3000)
        self._advance(None if after == tid else after, jump=True)
        return True

    def accept_all(self) -> list[int]:
        if not self._can_edit():
            return []
        w = self.win
        ids = self._run(lambda: auto_objects.accept_all(w.project, w.item.id, w.frame)) or []
        w.statusBar().showMessage(f"Accepted {len(ids)} auto object(s) on this frame.", 3000)
        self.update_indicator()
        return ids

    def reject_all(self) -> list[int]:
        if not self._can_edit():
            return []
        w = self.win
        ids = self._run(lambda: auto_objects.reject_all(w.project, w.item.id, w.frame)) or []
        if w.active_track in ids:
            w.active_track = None
            w.prompt = None
            w.canvas.set_prompts()
        w.statusBar().showMessage(f"Rejected {len(ids)} auto object(s) on this frame (Undo brings them back).", 3000)
        w.schedule_refresh()
        self.update_indicator()
        return ids

    # ---------------- helpers ----------------
    def _selected_auto(self, verb: str) -> bool:
        if self.selected_is_auto():
            return True
        hint = f"{self.key_text('next_auto')} selects the next one" if self.auto_ids() else "none on this frame"
        self.win.statusBar().showMessage(f"Select an unaccepted auto object to {verb} ({hint}).", 3000)
        return False

    def _run(self, fn):
        try:
            return fn()
        except AnnotatorError as e:
            gui_errors.show_error(self.win, e)
            return None

    def _advance(self, current: int | None, jump: bool = False) -> None:
        """After a decision: the next auto object, or none when the frame is done."""
        w = self.win
        if jump:
            if current is not None:
                w.select_track(current)
        elif self.auto_ids():
            self.next()
            return
        if not self.auto_ids():
            w.statusBar().showMessage("All auto objects on this frame are reviewed.", 4000)
        w.schedule_refresh()
        self.update_indicator()

    def key_text(self, action: str) -> str:
        keys = self.win.settings.shortcut(action)
        return keys[0] if keys else action

    def schedule_update(self, *_args) -> None:
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self.update_indicator)

    def update_indicator(self) -> None:
        self._pending = False
        if self.win.closed:
            return
        try:
            n = len(self.auto_ids())
            auto = self.selected_is_auto()
        except AnnotatorError:  # a project closing under us
            n, auto = 0, False
        if auto:
            text = f"Selected: auto object, not accepted · {n} to review"
        elif n:
            text = f"{n} auto object(s) to review ({self.key_text('next_auto')})"
        else:
            text = ""
        self.indicator.setText(text)
