"""The prompting controller: clicks, boxes and brush strokes on the canvas become requests to
the worker, and the worker's predictions become masks in the store through
annotator.app.prompting (which holds the rules). Times each click until its mask is painted.
Also which object prompts go to: a new one after a commit, an existing one only when the
person chose it (object list, timeline lane or Ctrl+click), and the window says which."""
from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QObject

from annotator.app import labels, prompting
from annotator.app.prompting import PromptState
from annotator.gui import errors as gui_errors


class PromptingController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win

    def prompt_state(self) -> PromptState:
        win = self.win
        ps = win.prompt
        if ps is None or not ps.matches(win.item.id, win.frame, win.active_track):
            ps = win.prompt = prompting.resume(win.project, win.item.id, win.frame, win.active_track)
        return ps

    def on_point(self, x: float, y: float, positive: bool, t_event: float) -> None:
        win = self.win
        if win._edit_blocked():
            return
        ps = self.prompt_state()
        ps.add_point(x, y, positive)
        self.send(ps, t_event)

    def on_box(self, x0: float, y0: float, x1: float, y1: float, t_event: float) -> None:
        win = self.win
        if win._edit_blocked():
            return
        ps = self.prompt_state()
        ps.set_box(x0, y0, x1, y1)
        self.send(ps, t_event)

    def clicks_go_to_video_model(self) -> bool:
        """On a video whose active engine is a learned video model, clicks are that model's
        point prompts (as in the SAM 2 demo) instead of the image engine's."""
        win = self.win
        return (win.item is not None and win.item.kind != "image" and bool(win.engine_name)
                and win.engine_name != "classic" and win.video_engine_name == win.engine_name)

    def send(self, ps: PromptState, t_event: float) -> None:
        win = self.win
        win._gen += 1
        win.canvas.set_prompts(ps.points, ps.labels, ps.box)
        if self.clicks_go_to_video_model():
            prompting.object_id(win.project, ps)
            ps.sent += 1
            win.worker.predict_video(
                win._gen, win._key(), ps.obj_id, points=ps.points or None, labels=ps.labels or None, box=ps.box,
                fresh=ps.sent == 1,
                ctx=dict(item_id=ps.item_id, frame=ps.frame, points=[list(p) for p in ps.points],
                         labels=list(ps.labels), box=ps.box, t_event=t_event, ps=ps, obj_id=ps.obj_id))
            return
        win.worker.predict(
            win._gen, win._key(), points=ps.points or None, labels=ps.labels or None, box=ps.box,
            mask_input=ps.mask_input, multimask=ps.multimask,
            ctx=dict(item_id=ps.item_id, frame=ps.frame, points=[list(p) for p in ps.points],
                     labels=list(ps.labels), box=ps.box, t_event=t_event, ps=ps),
        )

    def on_predicted(self, res) -> None:
        win = self.win
        ctx = res.ctx
        ps: PromptState = ctx["ps"]
        if win.project is None or (res.gen != win._gen and not ps.closed):
            return  # a newer click is on its way; it includes this one's points
        from annotator.core.model import Prompts

        try:
            tid = prompting.apply_prediction(win.project, ps, res, Prompts(ctx["points"], ctx["labels"], ctx["box"]),
                                             model=win.engine_name, category=win.labeling.category)
        except Exception as e:
            gui_errors.show_error(win, e)
            return
        if not ps.closed and win.item is not None and ps.item_id == win.item.id and ps.frame == win.frame:
            win.active_track = tid
            win.prompt = ps
        win.last_timing = f"encode {res.encode_ms:.0f} ms · mask {res.predict_ms:.0f} ms"
        win.status_timing.setText(win.last_timing)
        token = ("click", ctx["t_event"])
        win.refresh_overlay(token)  # the object list follows in the coalesced refresh
        if token in win._paint_tokens:  # not on screen (other frame): nothing to time
            win._paint_tokens.pop(token, None)

    def on_mask_painted(self, token) -> None:
        win = self.win
        if isinstance(token, tuple) and token and token[0] == "click":
            ms = (time.perf_counter() - token[1]) * 1000
            win.latencies_ms.append(ms)
            win.status_timing.setText(f"{win.last_timing} · click→mask {ms:.0f} ms")

    def on_predict_failed(self, gen: int, exc) -> None:
        win = self.win
        if gen == win._gen:
            gui_errors.show_error(win, exc, "Segmentation failed")

    def on_encoded(self, key, ms: float) -> None:
        win = self.win
        if win.item is not None and key == win._key():
            win.status_timing.setText(f"encode {ms:.0f} ms")

    def cycle_mask(self) -> None:
        win = self.win
        ps = win.prompt
        if ps is None or ps.candidates is None or ps.track_id is None or win._edit_blocked():
            return
        step = prompting.cycle_candidate(win.project, ps, win.engine_name)
        if step is None:
            win.statusBar().showMessage("Only one candidate mask for this prompt.", 2000)
            return
        choice, k, score = step
        win.statusBar().showMessage(f"Candidate {choice + 1} of {k} (score {score:.2f})", 2000)

    def on_stroke(self, stroke: np.ndarray, erase: bool) -> None:
        win = self.win
        if win._edit_blocked():
            return
        tid = win.active_track
        if tid is None and erase:
            win.statusBar().showMessage("Select an object to erase from.", 2000)
            return
        tid = prompting.apply_stroke(win.project, win.item.id, win.frame, tid, stroke, erase,
                                     category=win.labeling.category)
        win.active_track = tid
        win.prompt = None  # the clicks no longer describe this mask
        win.canvas.set_prompts()

    # ---------------- which object the prompts go to ----------------
    def commit(self) -> None:
        """Finish the current object; the next prompt starts a new one, even if the answer
        to the last click is still on its way (it lands in the object it was made for)."""
        win = self.win
        if win.project is None:
            return
        if win.prompt is not None:
            win.prompt.closed = True
        if win.active_track is not None:
            labels.finish_object(win.project, win.active_track, win.current_label)
            t = win.project.track(win.active_track)
            win.statusBar().showMessage(f"Object {t.obj_id} done — the next prompt starts a new object.", 3000)
        self._set_target(None)

    def select(self, track_id: int | None) -> None:
        """The explicit choice to edit an existing object (None: back to a new object). The
        label for new objects stays as the person set it."""
        if track_id != self.win.active_track:
            if self.win.prompt is not None:
                self.win.prompt.closed = True
            self._set_target(track_id)

    def on_pick(self, x: float, y: float) -> None:
        """Ctrl+click: edit the object under the cursor, or none when there is none."""
        win = self.win
        if win.project is None or win.item is None:
            return
        self.select(prompting.object_at(win.project, win.item.id, win.frame, x, y))

    def _set_target(self, track_id: int | None) -> None:
        win = self.win
        win.active_track = track_id
        win.prompt = None
        win.canvas.set_prompts()
        self.show_target()
        win.labeling.refresh()  # the Labels panel highlights the edited object's label
        win.schedule_refresh()

    def target_text(self) -> str:
        """"Editing object 3 (truck)", or what the next prompt will start."""
        win = self.win
        if win.project is None or win.item is None:
            return ""
        if win.active_track is not None:
            try:
                t = win.project.track(win.active_track)
            except Exception:
                return ""
            label = win.project.category(t.category_id).name if t.category_id is not None else "no label"
            return f"Editing object {t.obj_id} ({label})"
        nxt = win.project.next_obj_id(win.item.id)
        return f"New object: the next prompt starts object {nxt}"

    def show_target(self) -> None:
        text = self.target_text()
        self.win.status_target.setText(text)
        self.win.status_target.setToolTip(
            "Clicks, boxes and the brush go to this object. Enter or Esc finishes it; pick an object in "
            "the list (or Ctrl+click it) to edit it again." if self.win.active_track is not None else
            "Clicks and boxes start a new object. To refine an existing one, select it in the object "
            "list or Ctrl+click it.")
