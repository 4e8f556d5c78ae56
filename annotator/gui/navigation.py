"""The navigation controller: which media item and frame the window shows, the file list,
asking the loader for the frame (and its neighbours ahead) and the worker to encode ahead, and
remembering the view in the project."""
from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QListWidgetItem

from annotator.errors import MediaError
from annotator.gui import errors as gui_errors

log = logging.getLogger(__name__)

STATE_KEY = "gui.last_view"


class NavigationController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.view_gen = 0  # frame display generation

    def refresh_files(self) -> None:
        win = self.win
        win.files.blockSignals(True)
        win.files.clear()
        if win.project is not None:
            for it in win.project.items():
                icon = "fa5s.image" if it.kind == "image" else "fa5s.film"
                lw = QListWidgetItem(win._icon(icon), it.name + ("" if it.exists else "  (missing)"))
                lw.setData(Qt.ItemDataRole.UserRole, it.id)
                lw.setToolTip(f"{it.abspath}\n{it.width}x{it.height}, {it.num_frames} frame(s)")
                win.files.addItem(lw)
                if win.item is not None and it.id == win.item.id:
                    win.files.setCurrentItem(lw)
        win.files.blockSignals(False)

    def on_file_row(self, row: int) -> None:
        win = self.win
        if row < 0 or win.project is None:
            return
        item_id = win.files.item(row).data(Qt.ItemDataRole.UserRole)
        if win.item is None or item_id != win.item.id:
            self.go_item(item_id, 0)

    def step_item(self, d: int) -> None:
        win = self.win
        if win.project is None:
            return
        ids = [i.id for i in win.project.items()]
        if not ids:
            return
        i = ids.index(win.item.id) if win.item is not None and win.item.id in ids else -d
        j = min(max(i + d, 0), len(ids) - 1)
        if win.item is None or ids[j] != win.item.id:
            self.go_item(ids[j], 0)

    def go_item(self, item_id: int, frame: int = 0) -> None:
        win = self.win
        if win.project is None:
            return
        item = win.project.item(item_id)
        if win.propagation.running and (win.item is None or item.id != win.item.id):
            gui_errors.show_info(win, "Propagation is running on this video; cancel it (Esc) before switching.")
            return
        win.item = item
        win.active_track = None
        win.prompt = None
        win.canvas.set_prompts()
        win._shown_key = None
        win.canvas.set_layers([])
        win.timeline.set_video(item.num_frames if item.kind != "image" else 0)
        win.video_bar.setVisible(item.kind != "image")
        win.timeline.setVisible(item.kind != "image")
        for i in range(win.files.count()):
            if win.files.item(i).data(Qt.ItemDataRole.UserRole) == item.id:
                win.files.blockSignals(True)
                win.files.setCurrentRow(i)
                win.files.blockSignals(False)
        if not item.exists:
            gui_errors.show_error(win, MediaError(
                f"{item.abspath}: media file is missing; its annotations are kept (relink it to see it)"))
        self.go_frame(frame, force=True)
        win.schedule_refresh()

    def step_frame(self, d: int) -> None:
        win = self.win
        self.go_frame(win.frame + d)

    def go_frame(self, frame: int, force: bool = False) -> None:
        win = self.win
        if win.item is None:
            return
        if win.propagation.running and not win.propagation.following:
            win.propagation.user_moved = True  # the person looks elsewhere: stop following
        frame = int(min(max(frame, 0), max(0, win.item.num_frames - 1)))
        if frame == win.frame and not force:
            return
        win.frame = frame
        win.timeline.set_current(frame)
        # numbered from 0, as the timeline, the CLI and every export count
        win.frame_label.setText(f"Frame {frame} of 0-{win.item.num_frames - 1}")
        if win.prompt is not None and win.prompt.frame != frame:
            win.prompt = None
            win.canvas.set_prompts()
        self.request_frame()
        win._state_timer.start()

    def key(self, item=None, frame=None) -> tuple:
        win = self.win
        item = item or win.item
        return (item.abspath, item.kind, win.frame if frame is None else int(frame))

    def request_frame(self) -> None:
        win = self.win
        if win.item is not None and not win.item.exists:
            win._shown_key = None
            win.canvas.show_placeholder(f"{win.item.name} is missing\n\n{win.item.abspath}\n\nIts annotations are "
                                        "kept. File > Relink Missing Media… points it at the file's new place.")
            return
        if win.item is None:
            return
        self.view_gen += 1
        win.loader.request(self.view_gen, *self.key(), ahead=self.ahead(frames=3, images=2))
        self.hint_encode()

    def hint_encode(self) -> None:
        """Ask the worker to encode the current frame (and the next images) while idle."""
        win = self.win
        if win.item is None or not win.item.exists or win.project is None:
            return
        if win.clicks_go_to_video_model():
            win.worker.encode_ahead([])  # the video model encodes its own frames
            win.worker.prepare_video(win.item.abspath, win.item.kind)
            return
        win.worker.encode_ahead([self.key()] + self.ahead(frames=2, images=2))

    def ahead(self, frames: int, images: int) -> list[tuple]:
        """Keys of what the person is likely to look at next: the following frames of a video,
        or the following (present) images of the project."""
        win = self.win
        if win.item.kind != "image":
            return [self.key(frame=f) for f in range(win.frame + 1, min(win.item.num_frames, win.frame + 1 + frames))]
        items = win.project.items()
        k = [i.id for i in items].index(win.item.id)
        return [self.key(item=i, frame=0) for i in items[k + 1:k + 1 + images] if i.exists and i.kind == "image"]

    def on_frame_loaded(self, gen: int, key: tuple, qimage) -> None:
        win = self.win
        if win.item is None or key != self.key():
            return
        win._shown_key = key
        win.canvas.set_frame(qimage, win._layers())

    def on_load_failed(self, gen: int, key: tuple, exc) -> None:
        win = self.win
        if win.item is not None and key == self.key():
            gui_errors.show_error(win, exc, "Cannot show this frame")

    def save_view_state(self) -> None:
        win = self.win
        if win.project is None or win.item is None:
            return
        try:
            win.project.set_state(STATE_KEY, {"item": win.item.id, "frame": win.frame, "label": win.current_label})
        except Exception as e:  # a read-only project cannot remember the view; not an error
            log.info("could not save view state: %s", e)
