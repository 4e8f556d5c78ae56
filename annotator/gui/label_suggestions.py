"""Label suggestions in the label picker (T; gui/editing opens it and calls `attach`): when it
opens on a selected object that has a mask on this frame, the project's categories ranked by
CLIP for that mask (zero-shot, mixed with
prototypes of the objects already labelled in this project: app/label_suggest) are listed
first, the best one pre-selected, so Enter takes it.

The picker opens at once as before; the ranking runs as a task on the engine worker's thread
(CLIP is only touched there) and fills the picker in when it arrives. Embeddings of the labelled
objects are kept between openings, so only new or changed objects are embedded again. With no
CLIP model installed the picker is unchanged.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject

from annotator.app.label_suggest import LabelSuggester, labelled_records, learn_from_records
from annotator.gui.worker import long_lived_objects

log = logging.getLogger(__name__)


class LabelSuggestionController(QObject):
    def __init__(self, win, clip):
        """clip: the ClipProvider shared with the Find box."""
        super().__init__(win)
        self.win = win
        self.clip = clip
        self.top = 3
        self.method = win.settings.get("label_suggest_method") or "pooled"
        self.task: int | None = None
        self.panel = None  # the picker's LabelPanel waiting for suggestions
        self.last: list = []  # the last suggestions (app.label_suggest.Suggestion)
        self._examples: dict = {}  # example embeddings: read and written on the worker thread only
        win.worker.taskFinished.connect(self._on_finished)

    def attach(self, dialog) -> bool:
        """Ask for suggestions for the selected object and show them in `dialog` (a
        LabelPickerDialog) when they come; False when there is nothing to suggest for."""
        win = self.win
        p = win.project
        if p is None or win.item is None or win.active_track is None or not win.item.exists:
            return False
        rec = p.mask(win.active_track, win.frame)
        cats = [c.name for c in p.categories()]
        if rec is None or not cats or self.clip.missing() is not None:
            return False
        records = labelled_records(p, exclude_track=win.active_track)
        if len(self._examples) > 20000:  # a long session over many projects: start again
            self._examples = {}
        clip, method, top, examples, key = self.clip, self.method, self.top, self._examples, win._key()
        mask_rle = rec.rle

        def job(worker):  # on the worker thread
            from annotator.core import rle

            worker.busyChanged.emit("Suggesting labels…")
            with long_lived_objects():  # the first call loads CLIP: no full collections meanwhile
                cs = clip.get()
            sugg = LabelSuggester(cs, cats, method=method)
            learn_from_records(sugg, records, examples, load=lambda it, f: worker.cache.get(it.abspath, it.kind, f))
            return sugg.suggest(worker.cache.get(*key), rle.decode(mask_rle).astype(bool), top)

        self.panel = dialog.panel
        dialog.finished.connect(self._closed)
        self.task = win.worker.new_task_id()
        win.worker.run_task(self.task, job)
        return True

    def _closed(self, _result=0) -> None:
        self.panel = None

    def _on_finished(self, task_id: int, status: str, result) -> None:
        if task_id != self.task:
            return
        self.task = None
        if status == "error":
            log.info("label suggestions failed: %r", result)
            self.win.statusBar().showMessage(f"No label suggestions: {result}", 5000)
            return
        # "cancelled" too: the shared cancel flag was set meanwhile, but this job never checks it
        self.last = list(result or [])
        if self.panel is not None:
            self.panel.set_suggestions([(s.label, s.score) for s in self.last])
