"""The editing controller: the object being edited (select, commit, escape), its label,
hiding, locking and deleting objects and masks, undo/redo, the canvas tools, and the one
rule of when edits must wait (a propagation or an import is writing one undo step)."""
from __future__ import annotations

from PySide6.QtCore import QObject



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

    # which object prompts go to is gui/prompting.py's; labels are gui/labeling.py's
    def label_category(self, create: bool = True) -> int | None:
        return self.win.labeling.category(create)

    def commit_object(self) -> None:
        """Finish the current object; the next prompt starts a new one."""
        self.win.prompting.commit()

    def escape(self) -> None:
        if self.win.propagation.running:
            self.win.propagation.cancel()
            return
        self.commit_object()

    def select_track(self, track_id: int | None) -> None:
        self.win.prompting.select(track_id)

    def choose_label(self, name: str) -> None:
        self.win.labeling.choose(name)

    def pick_label_index(self, i: int) -> None:
        self.win.labeling.pick_index(i)

    def pick_label_dialog(self) -> None:
        self.win.labeling.pick_dialog()

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
        win.prompting.select(None)

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
