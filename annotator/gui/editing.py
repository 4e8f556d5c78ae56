"""The editing controller: the object being edited (select, commit, escape), its label,
hiding, locking and deleting objects and masks, undo/redo, the canvas tools, and the one
rule of when edits must wait (a propagation or an import is writing one undo step)."""
from __future__ import annotations

from PySide6.QtCore import QObject

from annotator.app import labels
from annotator.gui import errors as gui_errors
from annotator.gui.labels import LabelPickerDialog


class EditingController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win

    def edits_wait(self) -> bool:
        """A propagation or an import is writing to the store as one undo step."""
        return self.win.propagation.running or self.win.transfers.importing

    def edit_blocked(self) -> bool:
        """No edit target, or edits must wait, or the object is locked (says why)."""
        win = self.win
        if win.project is None or win.item is None:
            return True
        say = win.statusBar().showMessage
        if win.propagation.running:
            say("Propagation is running: cancel it (Esc) before editing.", 3000)
            return True
        if win.transfers.importing:
            say("An import is being applied: edits wait until it is done.", 3000)
            return True
        if win.active_track is not None:
            t = win.project.track(win.active_track)
            if t.locked:
                say(f"Object {t.obj_id} is locked (L unlocks it).", 3000)
                return True
        return False

    def label_category(self, create: bool = True) -> int | None:
        return labels.category_id(self.win.project, self.win.current_label, create)

    def _forget_prompt(self) -> None:
        self.win.prompt = None
        self.win.canvas.set_prompts()

    def commit_object(self) -> None:
        """Finish the current object; the next click starts a new one."""
        win = self.win
        if win.project is None:
            return
        if win.active_track is not None:
            labels.finish_object(win.project, win.active_track, win.current_label)
            obj = win.project.track(win.active_track).obj_id
            win.statusBar().showMessage(f"Object {obj} done — click to start the next object.", 3000)
        win.active_track = None
        self._forget_prompt()
        win.display.schedule_refresh()

    def escape(self) -> None:
        if self.win.propagation.running:
            self.win.propagation.cancel()
            return
        self.commit_object()

    def select_track(self, track_id: int | None) -> None:
        win = self.win
        if track_id == win.active_track:
            return
        win.active_track = track_id
        self._forget_prompt()
        if track_id is not None and win.project is not None:
            t = win.project.track(track_id)
            if t.category_id is not None:
                win.current_label = win.project.category(t.category_id).name
                win.display.refresh_labels()
        win.display.schedule_refresh()

    def choose_label(self, name: str) -> None:
        win = self.win
        if win.project is None or not name or win.transfers.importing:
            return
        win.current_label = name
        try:
            labels.label_object(win.project, win.active_track, name)
        except Exception as e:
            gui_errors.show_error(win, e)
        win.display.refresh_labels()
        win._state_timer.start()
        win.canvas.setFocus()

    def pick_label_index(self, i: int) -> None:
        if self.win.project is None:
            return
        cats = self.win.project.categories()
        if i < len(cats):
            self.choose_label(cats[i].name)

    def pick_label_dialog(self) -> None:
        win = self.win
        if win.project is None:
            return
        dlg = LabelPickerDialog([(c.name, c.color) for c in win.project.categories()], win.current_label, win)
        win.label_suggestions.attach(dlg)  # CLIP's suggestions listed first when they come
        if dlg.exec() and dlg.chosen:
            self.choose_label(dlg.chosen)

    def label_object_dialog(self, track_id: int) -> None:
        self.select_track(track_id)
        self.pick_label_dialog()

    def toggle(self, track_id: int | None, flag: str) -> None:
        """Flip an object's `hidden` or `locked`."""
        win = self.win
        if win.project is None or track_id is None or self.edits_wait():
            return
        win.project.update_track(track_id, **{flag: not getattr(win.project.track(track_id), flag)})

    def toggle_hidden(self, track_id: int | None) -> None:
        self.toggle(track_id, "hidden")

    def toggle_locked(self, track_id: int | None) -> None:
        self.toggle(track_id, "locked")

    def delete_object(self) -> None:
        win = self.win
        if win.project is None or win.active_track is None or self.edits_wait():
            return
        win.project.delete_track(win.active_track)
        win.active_track = None
        self._forget_prompt()

    def delete_range_dialog(self) -> None:
        win = self.win
        if win.project is None or win.active_track is None or win.item is None or self.edits_wait():
            return
        from annotator.gui.dialogs import FrameRangeDialog

        dlg = FrameRangeDialog(win.item.num_frames, win.frame, win)
        if dlg.exec():
            first, last = dlg.range()
            self.delete_masks_range(win.active_track, first, last)

    def delete_masks_range(self, track_id: int, first: int, last: int) -> int:
        n = self.win.project.delete_masks(track_id, first, last)
        self.win.statusBar().showMessage(f"Deleted {n} mask(s) of the object in frames {first}–{last}.", 3000)
        return n

    def undo(self, redo: bool = False) -> None:
        win = self.win
        if win.project is None or self.edits_wait():
            return
        label = win.project.redo() if redo else win.project.undo()
        if label:
            win.statusBar().showMessage(f"{'Redid' if redo else 'Undid'}: {label}", 2000)

    def redo(self) -> None:
        self.undo(redo=True)

    def set_tool(self, tool: str) -> None:
        self.win.canvas.set_tool(tool)
        self.win.actions[f"tool_{tool}"].setChecked(True)

    def change_brush(self, f: float) -> None:
        win = self.win
        r = int(min(400, max(1, round(win.canvas.brush_radius * f + (1 if f > 1 else -1)))))
        win.canvas.brush_radius = r
        win.settings["brush_radius"] = r
        win.statusBar().showMessage(f"Brush radius {r} px", 1500)
