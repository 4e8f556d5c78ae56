"""The display controller: the views redrawn from the store (overlay, object list, timeline
lanes, labels), coalesced into one refresh per event-loop turn, which actions are enabled,
and the overlay's look (outlines, opacity)."""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer


class DisplayController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self._pending = False

    def schedule_refresh(self) -> None:
        if not self._pending:
            self._pending = True
            # While a propagation or an import streams masks in, redraw a few times a second,
            # not per frame or per command.
            QTimer.singleShot(200 if self.win.editing.edits_wait() else 0, self.refresh)

    def refresh(self) -> None:
        self._pending = False
        if self.win.closed:
            return
        self.refresh_overlay()
        self.refresh_objects()
        self.win.prompting.show_target()
        self.update_enabled()

    def refresh_objects(self) -> None:
        win = self.win
        if win.project is None or win.item is None:
            win.objects.set_rows([], None)
            win.timeline.set_lanes([])
            return
        cats = {c.id: c.name for c in win.project.categories()}
        rows, lanes = [], []
        for t in win.project.tracks(win.item.id):
            frames = win.project.mask_frames(t.id)
            label = cats.get(t.category_id, "(no label)")
            rows.append(dict(track_id=t.id, obj_id=t.obj_id, color=t.color, label=label, frames=len(frames),
                             hidden=t.hidden, locked=t.locked, auto=frames.get(win.frame) == "auto"))
            lanes.append(dict(track_id=t.id, obj_id=t.obj_id, color=t.color, label=f"{t.obj_id} {label}",
                              frames=frames, selected=t.id == win.active_track))
        win.objects.set_rows(rows, win.active_track)
        if win.item.kind != "image":
            win.timeline.set_lanes(lanes)

    def refresh_labels(self) -> None:
        self.win.labeling.refresh()

    def layers(self) -> list:
        """(RLE, colour, selected) of every shown object's mask on this frame."""
        win = self.win
        layers = []
        for t in win.project.tracks(win.item.id):
            if t.hidden:
                continue
            rec = win.project.mask(t.id, win.frame)
            if rec is not None:
                layers.append((rec.rle, t.color, t.id == win.active_track))
        return layers

    def refresh_overlay(self, token=None) -> None:
        win = self.win
        if win.project is None or win.item is None or win._shown_key != win.navigation.key():
            if token is not None:
                win._paint_tokens[token] = True
            return
        win.canvas.set_layers(self.layers(), token)
        ps = win.prompt
        if ps is not None and ps.frame == win.frame and ps.item_id == win.item.id:
            win.canvas.set_prompts(ps.points, ps.labels, ps.box)

    def update_enabled(self) -> None:
        win, p = self.win, self.win.project
        running = win.propagation.running
        act = win.actions
        # Enabled whenever a project is open: the store says whether there is anything to
        # undo at the moment the key is pressed (the refresh may not have run yet).
        act["undo"].setEnabled(bool(p) and not running)
        act["redo"].setEnabled(bool(p) and not running)
        if p is not None:
            act["undo"].setText(f"&Undo {p.undo_label}" if p.can_undo else "&Undo")
            act["redo"].setText(f"&Redo {p.redo_label}" if p.can_redo else "&Redo")
        is_video = win.item is not None and win.item.kind != "image"
        for k in ("propagate_forward", "propagate_backward", "propagate_both"):
            act[k].setEnabled(is_video and not running)
        for b in win.prop_buttons.values():
            b.setEnabled(is_video and not running)
        act["export"].setEnabled(p is not None)
        act["import"].setEnabled(p is not None and not running)
        win.canvas.readonly = running

    def toggle_outlines(self) -> None:
        on = self.win.actions["toggle_outlines"].isChecked()
        self.win.canvas.set_outlines_only(on)
        self.win.settings["outlines_only"] = on

    def set_opacity(self, v: float, from_slider: bool = False) -> None:
        win = self.win
        win.canvas.set_opacity(v)
        win.settings["opacity"] = round(win.canvas.opacity, 2)
        if not from_slider:
            win.opacity_slider.blockSignals(True)
            win.opacity_slider.setValue(int(round(win.canvas.opacity * 100)))
            win.opacity_slider.blockSignals(False)
