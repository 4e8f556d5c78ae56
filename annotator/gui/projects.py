"""The project controller: the open dialogs, opening and closing a project, adding media
(probed by the loader off the GUI thread), relinking missing media, and the store's change
events that reach the views. The folder classifier and the media records are
annotator.app.media's; the project file's default place is annotator.app.media's too."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from annotator.app import media as app_media
from annotator.errors import AnnotatorError, MediaError
from annotator.gui import errors as gui_errors
from annotator.gui.navigation import STATE_KEY

MEDIA_FILTER = ("Media and projects (*.annotator *.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp *.mp4 *.mov *.avi "
                "*.mkv *.webm *.m4v);;All files (*)")
VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.ts);;All files (*)"


class ProjectController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.probe_id = 0

    def _last_folder(self) -> str:
        return self.win.settings.get("last_folder") or ""

    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self.win, "Open images, videos or a project", self._last_folder(),
                                                MEDIA_FILTER)
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self.win, "Open a folder of images", self._last_folder())
        if d:
            self.open_paths([d], folder_as="images")

    def open_video_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self.win, "Open a video (Cancel to pick a frame folder)",
                                           self._last_folder(), VIDEO_FILTER)
        if f:
            self.open_paths([f])
            return
        f = QFileDialog.getExistingDirectory(self.win, "Open a folder of video frames", self._last_folder())
        if f:
            self.open_paths([f], folder_as="frames")

    def open_paths(self, paths: list[str], folder_as: str = "auto") -> None:
        """Open project files and/or add media (files, image folders, frame folders)."""
        if self.win.importing:
            gui_errors.show_info(self.win, "An import is being applied; open files when it is done.")
            return
        try:
            self._open_paths(paths, folder_as)
        except Exception as e:
            gui_errors.show_error(self.win, e)

    def _open_paths(self, paths: list[str], folder_as: str) -> None:
        win = self.win
        projects, media = app_media.split_projects(paths, folder_as)
        if paths:
            first = Path(paths[0])
            win.settings["last_folder"] = str(first if first.is_dir() else first.parent)
        if projects:
            self.open_project(projects[0])
        if media:
            if win.project is None:
                where = win.recent.new_project_path(Path(media[0]))
                if where is None:
                    return  # the person cancelled choosing where the new project goes
                self.open_project(where, create=True)
            self.probe_id += 1
            win.status_busy.setText(f"Reading {len(media)} file(s)…")
            win.loader.probe(self.probe_id, media)

    def open_project(self, path, create: bool = False) -> None:
        from annotator.core.store import Project

        win = self.win
        path = Path(path)
        if win.project is not None and Path(win.project.path).resolve() == path.resolve():
            return
        self.close_project()
        created = create and not path.exists()
        proj = Project.create(path) if created else Project.open(path)
        win.project = proj
        proj.on_change.append(self.on_store_change)
        win.recent.opened(path, created)
        win.navigation.refresh_files()
        win.display.refresh_labels()
        last = proj.get_state(STATE_KEY, {}) or {}
        win.current_label = last.get("label") or ""  # this project's default label, not the last one's
        items = proj.items()
        target = None
        if last.get("item") is not None and any(i.id == last["item"] for i in items):
            target = last["item"]
        elif items:
            target = items[0].id
        if target is not None:
            win.navigation.go_item(target, int(last.get("frame", 0)) if target == last.get("item") else 0)
            if last.get("label"):
                win.current_label = last["label"]
                win.display.refresh_labels()
        win.display.update_enabled()

    def close_project(self) -> None:
        win = self.win
        if win.project is None:
            return
        win.transfers.close_all()
        if win.propagation.running:
            win.propagation.cancel()
            win.propagation.finish()
        win.navigation.save_view_state()
        try:
            win.project.on_change.remove(self.on_store_change)
        except ValueError:
            pass
        win.project.close()
        win.project = None
        win.item = None
        win.active_track = None
        win.prompt = None

    def on_probed(self, req_id: int, results: list) -> None:
        win = self.win
        if win.project is None:
            return
        win.status_busy.setText("")
        added = []
        try:
            added, _ = app_media.add_probed(win.project, results)
        except Exception as e:
            gui_errors.show_error(win, e)
        errors = [gui_errors.message_for(info) for _p, info in results if isinstance(info, Exception)]
        win.navigation.refresh_files()
        if errors:
            gui_errors.show_error(win, MediaError("; ".join(errors[:5]) + (" …" if len(errors) > 5 else "")),
                                  "Some files could not be opened")
        # re-opening files already in the project jumps to the first of them
        target = added[0] if added else app_media.first_known(win.project, results)
        if target is not None:
            win.navigation.go_item(target, 0)
        win.display.update_enabled()

    def relink_dialog(self) -> None:
        win = self.win
        if win.project is None or win.item is None:
            return
        if win.item.kind == "frames":
            new = QFileDialog.getExistingDirectory(win, f"Where is the frame folder {win.item.name}?")
        else:
            new, _ = QFileDialog.getOpenFileName(win, f"Where is {win.item.name}?")
        if new:
            self.relink(win.item.id, new)

    def relink(self, item_id: int, new_path: str) -> None:
        win = self.win
        if win.editing.edits_wait():
            return
        try:  # refused before the store changes when the new media cannot stand in for the old
            app_media.check_relink(win.project.item(item_id), new_path)
            win.project.relink_item(item_id, new_path)
        except Exception as e:
            gui_errors.show_error(win, e, "Relink")
            return
        win.navigation.refresh_files()
        win.navigation.go_item(item_id, win.frame if win.item is not None and win.item.id == item_id else 0)

    def on_store_change(self, event: str, payload: dict) -> None:
        win = self.win
        tables = payload.get("tables", ())
        if event != "command":
            # undo/redo: the clicks we remembered may no longer match the store
            win.prompt = None
            win.canvas.set_prompts()
        if win.active_track is not None and "tracks" in tables:
            try:
                win.project.track(win.active_track)
            except AnnotatorError:
                win.active_track = None
        if "categories" in tables:
            win.display.refresh_labels()
        if "items" in tables:
            win.navigation.refresh_files()
        win.review.on_store_change(event, payload)
        win.display.schedule_refresh()
