"""The "Find…" box: type a label (or several, comma-separated), press Enter, and every region
CLIP's dense map gives that label is segmented by the active image model and added as `auto`
objects with that label, in one undo step, for the person to accept or reject.

The search (app/text_find.find_by_text) runs as a task on the engine worker's thread, which owns
the image model and, through the shared ClipProvider, the CLIP model; this controller only
starts it, offers Cancel while it runs (its own flag: Cancel here stops this search only),
writes the result to the store when it comes back (later, if a propagation or an import is
writing), and starts the auto review (gui/auto_review) on the new objects.
"""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QToolButton

from annotator.app.clip_provider import ClipProvider
from annotator.app.text_find import FindOptions, add_to_project, find_by_text, parse_labels
from annotator.gui import errors as gui_errors
from annotator.gui.labels import TextField
from annotator.gui.worker import long_lived_objects


class FindController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.clip = ClipProvider(win.settings.get("clip_model") or None)
        self.options = FindOptions()
        self.task: int | None = None  # the worker task of the Find now running
        self._stop = threading.Event()
        self._pending: dict = {}  # what the running Find was started on
        self.last_added: list[int] = []  # track ids the last Find added
        self.last_message = ""
        self._result = None  # a finished search waiting to be stored
        self._retry = QTimer(self, singleShot=True, interval=300, timeout=self._add_result)

        tb = win.addToolBar("Find")
        tb.setObjectName("find_toolbar")
        tb.addWidget(QLabel(" Find ", win))
        self.edit = TextField(win)
        self.edit.setPlaceholderText("Find… e.g. car, person (Enter)")
        self.edit.setToolTip("Type one label or several (comma-separated) and press Enter: CLIP finds them, "
                             "the image model segments them, and they are added as auto objects to accept or "
                             "reject. Needs a CLIP model (Models > Model manager).")
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(160)
        self.edit.setMaximumWidth(260)
        self.edit.returnPressed.connect(self.find)
        tb.addWidget(self.edit)
        self.cancel_button = QToolButton(win)
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop the search (nothing is added)")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_action = tb.addWidget(self.cancel_button)
        self.cancel_action.setVisible(False)
        self.toolbar = tb
        win.worker.taskFinished.connect(self._on_finished)

    @property
    def running(self) -> bool:
        """A search is in the worker, or its result waits to be stored."""
        return self.task is not None or self._result is not None

    def focus(self) -> None:
        self.edit.setFocus()
        self.edit.selectAll()

    def _say(self, text: str, ms: int = 5000) -> None:
        self.last_message = text
        self.win.statusBar().showMessage(text, ms)

    def find(self, text: str | None = None) -> bool:
        """Start a Find for `text` (default: the box's text); False when it cannot start (why is shown)."""
        win = self.win
        labels = parse_labels(self.edit.text() if text is None else text)
        if not labels:
            self._say("Type a label to find (several: comma-separated).")
            return False
        if win.project is None or win.item is None:
            self._say("Open an image first.")
            return False
        if self.running:
            self._say("A Find is already running (Cancel stops it).")
            return False
        if win._edits_wait():
            self._say("Wait for the propagation or import to finish before Find.")
            return False
        if not win.item.exists:
            self._say(f"{win.item.abspath}: media file is missing")
            return False
        reason = self.clip.missing()
        if reason is not None:
            gui_errors.show_info(win, f"Find needs a CLIP model: {reason}.", "Find")
            self._say(f"Find needs a CLIP model: {reason}.", 10000)
            return False
        self._stop = stop = threading.Event()
        clip, options, key, what = self.clip, self.options, win._key(), f"Finding {', '.join(labels)}…"

        def job(worker):  # on the worker thread, with the engine in use and its cached encoding
            session, model = worker.image_session_for()
            worker.busyChanged.emit(what)
            with long_lived_objects():  # the first call loads CLIP: no full collections meanwhile
                cs = clip.get()
            found = find_by_text(cs, session, worker.cache.get(*key), labels, options, stop=stop.is_set)
            return found, f"{model}+{cs.name}"

        self._pending = dict(project=win.project, item_id=win.item.id, frame=win.frame, labels=labels)
        self.task = win.worker.new_task_id()
        win.worker.run_task(self.task, job)
        self.cancel_action.setVisible(True)
        self._say(what, 0)
        return True

    def cancel(self) -> None:
        if self._result is not None:  # finished, waiting to be stored: drop it
            self._result = None
            self._retry.stop()
            self.cancel_action.setVisible(False)
            self._say("Find cancelled; nothing was added.")
        elif self.running:
            self._stop.set()
            self._say("Cancelling the Find…", 0)

    def _on_finished(self, task_id: int, status: str, result) -> None:
        if task_id != self.task:
            return
        self.task = None
        labels = ", ".join(self._pending["labels"])
        if self._stop.is_set():
            self.cancel_action.setVisible(False)
            self._say(f"Find {labels} cancelled; nothing was added.")
            return
        if status == "error":
            self.cancel_action.setVisible(False)
            self._say(f"Find {labels} failed.")
            gui_errors.show_error(self.win, result, "Find")
            return
        # "cancelled" here means another job's Cancel set the shared flag: this Find never checks it
        self._result = result
        self._add_result()

    def _add_result(self) -> None:
        """Store the found masks as one undo step, once no propagation or import holds an undo
        group open; then the auto review starts on them."""
        if self._result is None:
            return
        win, pending = self.win, self._pending
        if win.closed or win.project is not pending["project"]:
            self._result = None  # the project was closed meanwhile
            self.cancel_action.setVisible(False)
            return
        if win._edits_wait() or win.project.in_group:
            self._retry.start()
            return
        (found, model), self._result = self._result, None
        self.cancel_action.setVisible(False)
        labels = ", ".join(pending["labels"])
        if not found:
            self._say(f"Found no {labels} here (a lower threshold finds more).")
            return
        try:
            self.last_added = add_to_project(win.project, pending["item_id"], found, model=model,
                                             frame=pending["frame"])
        except Exception as e:
            gui_errors.show_error(win, e, "Find")
            return
        review = win.auto_review
        if win.item is not None and (win.item.id, win.frame) == (pending["item_id"], pending["frame"]):
            win.active_track = None
            review.next()  # selects the first new object
        per = {lb: sum(f.label == lb for f in found) for lb in pending["labels"]}
        self._say("Found " + ", ".join(f"{n} {lb}" for lb, n in per.items()) + " as auto objects: "
                  f"{review.key_text('next_auto')} walks through them, {review.key_text('accept_auto')} accepts, "
                  f"{review.key_text('reject_auto')} rejects; Ctrl+Z undoes the Find.", 8000)
        win.schedule_refresh()
