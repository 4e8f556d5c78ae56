"""The main window: wires the canvas, timeline and panels to the project store and the
engine worker.

Rules this file keeps:
- The store is the truth. Every edit is a store command (so it is durable and
  undoable) and the views are redrawn from the store after each change, coalesced
  into one refresh per event-loop turn.
- No model and no decoding here: prompts go to the EngineWorker, frames come from the
  MediaLoader; both answer with signals.
- A propagation run is one undo group, entered when it starts and left when the worker
  says it finished or was cancelled; edits are blocked meanwhile so nothing else lands
  in that group.
"""
from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QMainWindow

from annotator.app.prompting import PromptState
from annotator.errors import AnnotatorError, MediaError
from annotator.gui import errors as gui_errors
from annotator.gui import icons
from annotator.gui import layout
from annotator.gui.actions import build_actions
from annotator.gui.first_run import FirstRunPanel
from annotator.gui.labels import LabelPickerDialog
from annotator.gui.media_loader import MediaLoader
from annotator.media.frame_cache import FrameCache
from annotator.gui.settings import Settings
from annotator.gui.navigation import STATE_KEY, NavigationController
from annotator.gui.prompting import PromptingController
from annotator.gui.propagation import PropagationController
from annotator.gui.worker import EngineWorker

# Import what the worker threads use here, on the GUI thread at startup: a first import in a
# worker holds the GIL while it loads extension modules, which stalled the GUI by ~50 ms on a
# cold start. torch is imported at start-up only when the startup engine is a learned one
# (engines.registry.preload_runtime); the worker loads the model.
import annotator.core.rle  # noqa: E402,F401
import annotator.engines.classic  # noqa: E402,F401
import annotator.engines.registry  # noqa: E402,F401
import annotator.media  # noqa: E402,F401

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".annotator"


class MainWindow(QMainWindow):
    def __init__(self, paths: list[str] | tuple = (), settings: Settings | None = None, engine: str | None = None,
                 weights=None):
        """weights: for the startup engine (None = its installed checkpoint; "random" in tests)."""
        # A busy Python thread keeps the GIL for up to the switch interval (5 ms by default)
        # before the GUI thread gets it; with several worker threads that adds up to late
        # frames. 1 ms costs the workers little: their heavy work runs in C without the GIL.
        sys.setswitchinterval(0.001)
        super().__init__()
        self.setWindowTitle("Annotator")
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.project = None
        self.item = None
        self.frame = 0
        self.active_track: int | None = None  # the object clicks/brush go to
        self.current_label = ""
        self.prompt: PromptState | None = None
        self._gen = 0  # prompt generation
        self._probe_id = 0
        self._refresh_pending = False
        self._shown_key = None  # (path, kind, frame) now on the canvas
        self._paint_tokens: dict = {}
        self._transfers: dict = {}  # "export"/"import" -> its open dialog
        self.latencies_ms: list[float] = []  # click -> mask painted
        self.last_timing = ""
        self.engine_name = ""
        self.video_engine_name = ""
        self.device = ""
        self.closed = False

        # Worker threads run Python too; a shorter GIL switch interval lets the GUI thread
        # take the GIL back within ~1 ms instead of 5 ms when it has an event to handle.
        sys.setswitchinterval(0.001)
        # torch's first import holds the GIL ~0.4 s: pay it here, before the window exists,
        # rather than in the worker, where it would freeze the window (registry.preload_runtime)
        annotator.engines.registry.preload_runtime(engine if engine is not None else
                                                   self.settings.get("default_model") or "")
        self.cache = FrameCache()
        self.loader = MediaLoader(self.cache, self)
        self.worker = EngineWorker(self.cache, self)
        self.propagation = PropagationController(self)
        self.navigation = NavigationController(self)
        self.prompting = PromptingController(self)
        self._build_ui()
        self._build_actions()
        self._connect()
        self.loader.start()
        self.worker.start()
        self._init_engines(engine, weights)
        self.first_run = FirstRunPanel(self, opened_empty=not paths)
        self._restore_layout()
        self._state_timer = QTimer(self, singleShot=True, interval=400, timeout=self._save_view_state)
        if paths:
            QTimer.singleShot(0, lambda: self.open_paths(list(paths)))
        self._update_enabled()
        # Everything built so far lives as long as the window: move it out of the cyclic
        # collector's view, so full collections (which stop every thread) stay short.
        gc.freeze()

    # =====================================================================
    # UI construction
    # =====================================================================
    def _build_ui(self) -> None:
        layout.build_widgets(self)

    def _icon(self, name: str):
        return icons.icon(name, self.palette().text().color())

    def _build_actions(self) -> None:
        self.actions, tb = build_actions(self, self.settings, (self.files_dock, self.objects_dock, self.labels_dock))
        self.actions["tool_prompt"].setChecked(True)
        self.actions["toggle_outlines"].setChecked(self.canvas.outlines_only)
        layout.build_toolbar_widgets(self, tb)

    def _connect(self) -> None:
        c = self.canvas
        c.pointClicked.connect(self.prompting.on_point)
        c.boxDrawn.connect(self.prompting.on_box)
        c.strokeFinished.connect(self.prompting.on_stroke)
        c.maskPainted.connect(self.prompting.on_mask_painted)
        c.zoomChanged.connect(lambda z: self.status_zoom.setText(f"{z * 100:.0f}%"))
        self.timeline.frameRequested.connect(self.go_frame)
        self.timeline.laneClicked.connect(self.select_track)
        for b in self._video_buttons:
            b.clicked.connect(lambda _=False, a=b.property("action_id"): self.actions[a].trigger())
        for direction, b in self.prop_buttons.items():
            b.clicked.connect(lambda _=False, d=direction: self.start_propagation(d))
        self.prop_cancel.clicked.connect(self.cancel_propagation)
        self.all_objects.toggled.connect(lambda on: self.settings.__setitem__("propagate_all_objects", on))
        self.files.currentRowChanged.connect(self.navigation.on_file_row)
        self.objects.trackSelected.connect(lambda t: self.select_track(t if t >= 0 else None))
        self.objects.hideToggled.connect(self.toggle_hidden)
        self.objects.lockToggled.connect(self.toggle_locked)
        self.objects.labelRequested.connect(lambda t: (self.select_track(t), self.pick_label_dialog()))
        self.labels.labelChosen.connect(self.choose_label)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100, from_slider=True))
        self.model_combo.activated.connect(lambda _i: self.set_engine(self.model_combo.currentData()))
        self.loader.frameLoaded.connect(self.navigation.on_frame_loaded)
        self.loader.loadFailed.connect(self.navigation.on_load_failed)
        self.loader.probed.connect(self._on_probed)
        w = self.worker
        w.engineReady.connect(self._on_engine_ready)
        w.enginesListed.connect(self._on_engines_listed)
        w.engineFailed.connect(self._on_engine_failed)
        w.encoded.connect(self.prompting.on_encoded)
        w.predicted.connect(self.prompting.on_predicted)
        w.predictFailed.connect(self.prompting.on_predict_failed)
        w.busyChanged.connect(self.status_busy.setText)

    def _restore_layout(self) -> None:
        self.resizeDocks([self.files_dock, self.objects_dock], [190, 300], Qt.Orientation.Horizontal)
        win = self.settings.get("window") or {}
        try:
            if win.get("geometry"):
                self.restoreGeometry(QByteArray.fromBase64(win["geometry"].encode()))
            if win.get("state"):
                self.restoreState(QByteArray.fromBase64(win["state"].encode()))
        except Exception as e:  # a stale layout must not stop the app
            log.info("ignoring saved window layout: %s", e)

    # =====================================================================
    # Engines
    # =====================================================================
    def _init_engines(self, engine: str | None, weights=None) -> None:
        # The list of installed engines comes from the worker (checking a card may touch
        # torch); until it arrives the picker shows the engine being loaded.
        wanted = engine or self.settings.get("default_model") or ""
        self.model_combo.clear()
        self.model_combo.addItem("classic", "classic")
        self.worker.list_engines()
        self.set_engine(wanted, weights)

    def _on_engines_listed(self, names: list) -> None:
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for n in names:
            self.model_combo.addItem(n, n)
        self.model_combo.blockSignals(False)
        self._sync_model_combo()

    def set_engine(self, name: str, weights=None) -> None:
        """name "" = the best installed engine (decided by the worker)."""
        if self.propagation.running:
            gui_errors.show_info(self, "Wait for the propagation to finish (or cancel it) before switching models.")
            self._sync_model_combo()
            return
        self.engine_name = name
        if name:
            self.settings["default_model"] = name
            self._sync_model_combo()
        self.status_engine.setText(f"Engine: {name or 'default'} (loading…)")
        if self.prompt is not None:
            self.prompt.logits = None  # logits belong to the previous model
        self.worker.set_engine(name, weights)
        self._hint_encode()

    def _sync_model_combo(self) -> None:
        if not self.engine_name:
            return
        i = self.model_combo.findData(self.engine_name)
        if i < 0:
            self.model_combo.addItem(self.engine_name, self.engine_name)
            i = self.model_combo.count() - 1
        self.model_combo.blockSignals(True)
        self.model_combo.setCurrentIndex(i)
        self.model_combo.blockSignals(False)

    def _on_engine_ready(self, name: str, device: str, video_name: str) -> None:
        self.engine_name = name
        self.settings["default_model"] = name
        self._sync_model_combo()
        self.device, self.video_engine_name = device, video_name
        vid = f", video: {video_name}" if video_name and video_name != name else ""
        self.status_engine.setText(f"Engine: {name}{vid} · {device}")
        self._hint_encode()  # what to prepare depends on the engine (image encodings or the video model)

    def _on_engine_failed(self, name: str, exc) -> None:
        gui_errors.show_error(self, exc, f"Model {name}")
        if name != "classic":
            self.set_engine("classic")

    def refresh_engines(self) -> None:
        """After the model manager installed something."""
        self.worker.list_engines()

    # =====================================================================
    # Opening media and projects
    # =====================================================================
    def open_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images, videos or a project", self.settings.get("last_folder") or "",
            "Media and projects (*.annotator *.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp *.mp4 *.mov *.avi *.mkv "
            "*.webm *.m4v);;All files (*)")
        if files:
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.get("last_folder") or "")
        if d:
            self.open_paths([d], folder_as="images")

    def open_video_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Open a video (Cancel to pick a frame folder)",
                                           self.settings.get("last_folder") or "",
                                           "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.m4v *.mpg *.ts);;All files (*)")
        if not f:
            f = QFileDialog.getExistingDirectory(self, "Open a folder of video frames",
                                                 self.settings.get("last_folder") or "")
            if not f:
                return
            self.open_paths([f], folder_as="frames")
            return
        self.open_paths([f])

    def open_paths(self, paths: list[str], folder_as: str = "auto") -> None:
        """Open project files and/or add media (files, image folders, frame folders)."""
        if self.importing:
            gui_errors.show_info(self, "An import is being applied; open files when it is done.")
            return
        try:
            self._open_paths(paths, folder_as)
        except Exception as e:
            gui_errors.show_error(self, e)

    def _open_paths(self, paths: list[str], folder_as: str) -> None:
        from annotator.app import media as app_media

        projects = [p for p in paths if str(p).endswith(PROJECT_SUFFIX)]
        media = [str(p) for p in app_media.expand([p for p in paths if not str(p).endswith(PROJECT_SUFFIX)],
                                                  folder_as)]
        if paths:
            first = Path(paths[0])
            self.settings["last_folder"] = str(first if first.is_dir() else first.parent)
        if projects:
            self.open_project(projects[0])
        if media:
            if self.project is None:
                self.open_project(self._default_project_path(Path(media[0])), create=True)
            self._probe_id += 1
            self.status_busy.setText(f"Reading {len(media)} file(s)…")
            self.loader.probe(self._probe_id, media)

    def _default_project_path(self, media: Path) -> Path:
        """A project beside the media when that folder is writable, else in the user data dir."""
        folder = media.parent  # a file's folder, or the folder holding a frame folder
        name = (media.name if media.is_dir() else media.parent.name) or "project"
        cand = folder / f"{name}{PROJECT_SUFFIX}"
        if os.access(folder, os.W_OK):
            return cand
        from annotator.paths import data_dir

        d = data_dir() / "projects"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{name}{PROJECT_SUFFIX}"

    def open_project(self, path, create: bool = False) -> None:
        from annotator.core.store import Project

        path = Path(path)
        if self.project is not None and Path(self.project.path).resolve() == path.resolve():
            return
        self.close_project()
        if create and not path.exists():
            proj = Project.create(path)
        else:
            proj = Project.open(path)
        self.project = proj
        proj.on_change.append(self._on_store_change)
        self.setWindowTitle(f"Annotator — {path.name}")
        recent = [str(path)] + [p for p in self.settings.get("recent_projects", []) if p != str(path)]
        self.settings["recent_projects"] = recent[:10]
        self._refresh_files()
        self._refresh_labels()
        last = proj.get_state(STATE_KEY, {}) or {}
        items = proj.items()
        target = None
        if last.get("item") is not None and any(i.id == last["item"] for i in items):
            target = last["item"]
        elif items:
            target = items[0].id
        if target is not None:
            self.go_item(target, int(last.get("frame", 0)) if target == last.get("item") else 0)
            if last.get("label"):
                self.current_label = last["label"]
                self._refresh_labels()
        self._update_enabled()

    def close_project(self) -> None:
        if self.project is None:
            return
        for dlg in list(self._transfers.values()):
            dlg.shutdown()
            dlg.close()
        self._transfers.clear()
        if self.propagation.running:
            self.cancel_propagation()
            self.propagation.finish()
        self._save_view_state()
        try:
            self.project.on_change.remove(self._on_store_change)
        except ValueError:
            pass
        self.project.close()
        self.project = None
        self.item = None
        self.active_track = None
        self.prompt = None

    def _on_probed(self, req_id: int, results: list) -> None:
        if self.project is None:
            return
        self.status_busy.setText("")
        from annotator.app import media as app_media

        added = []
        try:
            added, _ = app_media.add_probed(self.project, results)
        except Exception as e:
            gui_errors.show_error(self, e)
        errors = [gui_errors.message_for(info) for _p, info in results if isinstance(info, Exception)]
        self._refresh_files()
        if errors:
            gui_errors.show_error(self, MediaError("; ".join(errors[:5]) + (" …" if len(errors) > 5 else "")),
                                  "Some files could not be opened")
        target = added[0] if added else None
        if target is None:
            # re-opening files already in the project jumps to the first of them
            for p, info in results:
                if not isinstance(info, Exception):
                    rp = str(Path(p).resolve())
                    target = next((i.id for i in self.project.items() if str(Path(i.abspath).resolve()) == rp), None)
                    break
        if target is not None:
            self.go_item(target, 0)
        self._update_enabled()

    # =====================================================================
    # Navigation
    # =====================================================================
    def _refresh_files(self) -> None:
        self.navigation.refresh_files()

    def step_item(self, d: int) -> None:
        self.navigation.step_item(d)

    def go_item(self, item_id: int, frame: int = 0) -> None:
        self.navigation.go_item(item_id, frame)

    def step_frame(self, d: int) -> None:
        self.navigation.step_frame(d)

    def go_frame(self, frame: int, force: bool = False) -> None:
        self.navigation.go_frame(frame, force)

    def _key(self, item=None, frame=None) -> tuple:
        return self.navigation.key(item, frame)

    def _hint_encode(self) -> None:
        self.navigation.hint_encode()

    def _save_view_state(self) -> None:
        self.navigation.save_view_state()

    # =====================================================================
    # Store -> views
    # =====================================================================
    def _on_store_change(self, event: str, payload: dict) -> None:
        if event != "command":
            # undo/redo: the clicks we remembered may no longer match the store
            self.prompt = None
            self.canvas.set_prompts()
        if self.active_track is not None and "tracks" in payload.get("tables", ()):
            try:
                self.project.track(self.active_track)
            except AnnotatorError:
                self.active_track = None
        if "categories" in payload.get("tables", ()):
            self._refresh_labels()
        if "items" in payload.get("tables", ()):
            self._refresh_files()
        self.schedule_refresh()

    def schedule_refresh(self) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            # While a propagation or an import streams masks in, redraw a few times a second,
            # not per frame or per command.
            QTimer.singleShot(200 if self._edits_wait() else 0, self._refresh)

    def _refresh(self) -> None:
        self._refresh_pending = False
        if self.closed:
            return
        self.refresh_overlay()
        self._refresh_objects()
        self._update_enabled()

    def _cat_names(self) -> dict[int, str]:
        return {c.id: c.name for c in self.project.categories()} if self.project else {}

    def _refresh_objects(self) -> None:
        if self.project is None or self.item is None:
            self.objects.set_rows([], None)
            self.timeline.set_lanes([])
            return
        cats = self._cat_names()
        rows, lanes = [], []
        for t in self.project.tracks(self.item.id):
            frames = self.project.mask_frames(t.id)
            label = cats.get(t.category_id, "(no label)")
            rows.append(dict(track_id=t.id, obj_id=t.obj_id, color=t.color, label=label, frames=len(frames),
                             hidden=t.hidden, locked=t.locked))
            lanes.append(dict(track_id=t.id, obj_id=t.obj_id, color=t.color, label=f"{t.obj_id} {label}",
                              frames=frames, selected=t.id == self.active_track))
        self.objects.set_rows(rows, self.active_track)
        if self.item.kind != "image":
            self.timeline.set_lanes(lanes)

    def _refresh_labels(self) -> None:
        if self.project is None:
            self.labels.set_categories([], "")
            return
        self.labels.set_categories([(c.name, c.color) for c in self.project.categories()], self.current_label)

    def _layers(self) -> list:
        layers = []
        for t in self.project.tracks(self.item.id):
            if t.hidden:
                continue
            rec = self.project.mask(t.id, self.frame)
            if rec is not None:
                layers.append((rec.rle, t.color, t.id == self.active_track))
        return layers

    def refresh_overlay(self, token=None) -> None:
        if self.project is None or self.item is None or self._shown_key != self._key():
            if token is not None:
                self._paint_tokens[token] = True
            return
        self.canvas.set_layers(self._layers(), token)
        if self.prompt is not None and self.prompt.frame == self.frame and self.prompt.item_id == self.item.id:
            self.canvas.set_prompts(self.prompt.points, self.prompt.labels, self.prompt.box)

    def _update_enabled(self) -> None:
        p = self.project
        running = self.propagation.running
        # Enabled whenever a project is open: the store says whether there is anything to
        # undo at the moment the key is pressed (the refresh may not have run yet).
        self.actions["undo"].setEnabled(bool(p) and not running)
        self.actions["redo"].setEnabled(bool(p) and not running)
        if p is not None:
            self.actions["undo"].setText(f"&Undo {p.undo_label}" if p.can_undo else "&Undo")
            self.actions["redo"].setText(f"&Redo {p.redo_label}" if p.can_redo else "&Redo")
        is_video = self.item is not None and self.item.kind != "image"
        for k in ("propagate_forward", "propagate_backward", "propagate_both"):
            self.actions[k].setEnabled(is_video and not running)
        for b in self.prop_buttons.values():
            b.setEnabled(is_video and not running)
        self.actions["export"].setEnabled(p is not None)
        self.actions["import"].setEnabled(p is not None and not running)
        self.canvas.readonly = running
        if running != getattr(self, "_was_running", False):
            self._was_running = running

    # =====================================================================
    # Prompting
    # =====================================================================
    def _edits_wait(self) -> bool:
        """A propagation or an import is writing to the store as one undo step."""
        return self.propagation.running or self.importing

    def _edit_blocked(self) -> bool:
        if self.project is None or self.item is None:
            return True
        if self.propagation.running:
            self.statusBar().showMessage("Propagation is running: cancel it (Esc) before editing.", 3000)
            return True
        if self.importing:
            self.statusBar().showMessage("An import is being applied: edits wait until it is done.", 3000)
            return True
        if self.active_track is not None:
            t = self.project.track(self.active_track)
            if t.locked:
                self.statusBar().showMessage(f"Object {t.obj_id} is locked (L unlocks it).", 3000)
                return True
        return False

    def on_point(self, x: float, y: float, positive: bool, t_event: float) -> None:
        self.prompting.on_point(x, y, positive, t_event)

    def on_box(self, x0: float, y0: float, x1: float, y1: float, t_event: float) -> None:
        self.prompting.on_box(x0, y0, x1, y1, t_event)

    def clicks_go_to_video_model(self) -> bool:
        return self.prompting.clicks_go_to_video_model()

    def cycle_mask(self) -> None:
        self.prompting.cycle_mask()

    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.actions[f"tool_{tool}"].setChecked(True)

    def change_brush(self, f: float) -> None:
        r = int(min(400, max(1, round(self.canvas.brush_radius * f + (1 if f > 1 else -1)))))
        self.canvas.brush_radius = r
        self.settings["brush_radius"] = r
        self.statusBar().showMessage(f"Brush radius {r} px", 1500)

    def commit_object(self) -> None:
        """Finish the current object; the next click starts a new one."""
        if self.project is None:
            return
        if self.active_track is not None:
            cat = self._label_category(create=False)
            t = self.project.track(self.active_track)
            if cat is not None and t.category_id is None:
                self.project.update_track(t.id, category_id=cat)
            self.statusBar().showMessage(f"Object {t.obj_id} done — click to start the next object.", 3000)
        self.active_track = None
        self.prompt = None
        self.canvas.set_prompts()
        self.schedule_refresh()

    def escape(self) -> None:
        if self.propagation.running:
            self.cancel_propagation()
            return
        self.commit_object()

    def select_track(self, track_id: int | None) -> None:
        if track_id == self.active_track:
            return
        self.active_track = track_id
        self.prompt = None
        self.canvas.set_prompts()
        if track_id is not None and self.project is not None:
            t = self.project.track(track_id)
            if t.category_id is not None:
                self.current_label = self.project.category(t.category_id).name
                self._refresh_labels()
        self.schedule_refresh()

    # =====================================================================
    # Labels, objects
    # =====================================================================
    def _label_category(self, create: bool = True) -> int | None:
        if not self.current_label or self.project is None:
            return None
        c = self.project.category_by_name(self.current_label)
        if c is None and create:
            c = self.project.add_category(self.current_label)
        return c.id if c else None

    def choose_label(self, name: str) -> None:
        if self.project is None or not name or self.importing:
            return
        self.current_label = name
        try:
            with self.project.group(f"Label {name}"):
                cat = self._label_category()
                if self.active_track is not None:
                    self.project.update_track(self.active_track, category_id=cat)
        except Exception as e:
            gui_errors.show_error(self, e)
        self._refresh_labels()
        self._state_timer.start()
        self.canvas.setFocus()

    def pick_label_index(self, i: int) -> None:
        if self.project is None:
            return
        cats = self.project.categories()
        if i < len(cats):
            self.choose_label(cats[i].name)

    def pick_label_dialog(self) -> None:
        if self.project is None:
            return
        dlg = LabelPickerDialog([(c.name, c.color) for c in self.project.categories()], self.current_label, self)
        if dlg.exec() and dlg.chosen:
            self.choose_label(dlg.chosen)

    def toggle_hidden(self, track_id: int | None) -> None:
        if self.project is None or track_id is None or self._edits_wait():
            return
        t = self.project.track(track_id)
        self.project.update_track(track_id, hidden=not t.hidden)

    def toggle_locked(self, track_id: int | None) -> None:
        if self.project is None or track_id is None or self._edits_wait():
            return
        t = self.project.track(track_id)
        self.project.update_track(track_id, locked=not t.locked)

    def delete_object(self) -> None:
        if self.project is None or self.active_track is None or self._edits_wait():
            return
        self.project.delete_track(self.active_track)
        self.active_track = None
        self.prompt = None
        self.canvas.set_prompts()

    def delete_range_dialog(self) -> None:
        if self.project is None or self.active_track is None or self.item is None or self._edits_wait():
            return
        from annotator.gui.dialogs import FrameRangeDialog

        dlg = FrameRangeDialog(self.item.num_frames, self.frame, self)
        if dlg.exec():
            first, last = dlg.range()
            self.delete_masks_range(self.active_track, first, last)

    def delete_masks_range(self, track_id: int, first: int, last: int) -> int:
        n = self.project.delete_masks(track_id, first, last)
        self.statusBar().showMessage(f"Deleted {n} mask(s) of the object in frames {first}–{last}.", 3000)
        return n

    def toggle_outlines(self) -> None:
        on = self.actions["toggle_outlines"].isChecked()
        self.canvas.set_outlines_only(on)
        self.settings["outlines_only"] = on

    def set_opacity(self, v: float, from_slider: bool = False) -> None:
        self.canvas.set_opacity(v)
        self.settings["opacity"] = round(self.canvas.opacity, 2)
        if not from_slider:
            self.opacity_slider.blockSignals(True)
            self.opacity_slider.setValue(int(round(self.canvas.opacity * 100)))
            self.opacity_slider.blockSignals(False)

    # =====================================================================
    # Undo
    # =====================================================================
    def undo(self) -> None:
        if self.project is None or self._edits_wait():
            return
        label = self.project.undo()
        if label:
            self.statusBar().showMessage(f"Undid: {label}", 2000)

    def redo(self) -> None:
        if self.project is None or self._edits_wait():
            return
        label = self.project.redo()
        if label:
            self.statusBar().showMessage(f"Redid: {label}", 2000)

    # =====================================================================
    # Propagation
    # =====================================================================
    def start_propagation(self, direction: str, track_ids: list[int] | None = None) -> bool:
        return self.propagation.start(direction, track_ids)

    def cancel_propagation(self) -> None:
        self.propagation.cancel()

    @property
    def propagating(self) -> bool:
        return self.propagation.running

    @property
    def last_job_status(self) -> str | None:
        return self.propagation.last_status

    # =====================================================================
    # Dialogs
    # =====================================================================
    def export_dialog(self) -> None:
        if self.project is None:
            return
        from annotator.gui.dialogs import ExportDialog

        self._show_transfer_dialog("export", lambda: ExportDialog(self.project, self.item.id if self.item else None,
                                                                  self))

    def import_dialog(self) -> None:
        if self.project is None:
            return
        from annotator.gui.dialogs import ImportDialog

        self._show_transfer_dialog("import", lambda: ImportDialog(self.project, self))

    def _show_transfer_dialog(self, mode: str, make):
        """Not modal: the export/import runs in a thread and the window stays usable. While an
        import is being checked and applied, edits wait (it becomes one undo step)."""
        dlg = self._transfers.get(mode)
        if dlg is not None and dlg.isVisible():
            dlg.raise_()
            dlg.activateWindow()
            return dlg
        if dlg is not None:
            dlg.deleteLater()  # the previous one, closed (kept until now for whoever still looks at it)
        dlg = make()
        dlg.setModal(False)
        dlg.finished.connect(lambda result, m=mode, d=dlg: self._on_transfer_closed(m, d, result))
        self._transfers[mode] = dlg
        dlg.show()
        return dlg

    def _on_transfer_closed(self, mode: str, dlg, result: int) -> None:
        if mode == "import" and result and self.project is not None:
            self._refresh_files()
            self._refresh_labels()
            if self.item is None and self.project.items():
                self.go_item(self.project.items()[0].id)
            self.schedule_refresh()
        self._update_enabled()

    @property
    def importing(self) -> bool:
        dlg = self._transfers.get("import")
        return dlg is not None and dlg.busy

    def transfer_dialog(self, mode: str):
        """The export/import dialog now open, else None."""
        dlg = self._transfers.get(mode)
        return dlg if dlg is not None and dlg.isVisible() else None

    def relink_dialog(self) -> None:
        if self.project is None or self.item is None:
            return
        if self.item.kind == "frames":
            new = QFileDialog.getExistingDirectory(self, f"Where is the frame folder {self.item.name}?")
        else:
            new, _ = QFileDialog.getOpenFileName(self, f"Where is {self.item.name}?")
        if new:
            self.relink(self.item.id, new)

    def relink(self, item_id: int, new_path: str) -> None:
        if self._edits_wait():
            return
        try:
            self.project.relink_item(item_id, new_path)
        except Exception as e:
            gui_errors.show_error(self, e, "Relink")
            return
        self._refresh_files()
        self.go_item(item_id, self.frame if self.item is not None and self.item.id == item_id else 0)

    def model_manager_dialog(self) -> None:
        from annotator.gui.models_dialog import ModelManagerDialog

        dlg = ModelManagerDialog(self)
        dlg.modelChosen.connect(lambda name: (self.refresh_engines(), self.set_engine(name)))
        dlg.exec()
        self.refresh_engines()

    def shortcuts_dialog(self) -> None:
        from annotator.gui.dialogs import ShortcutsDialog

        ShortcutsDialog(self.settings, self).exec()

    # =====================================================================
    # Window events
    # =====================================================================
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, e) -> None:
        self.shutdown()
        super().closeEvent(e)

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.settings["window"] = {"geometry": bytes(self.saveGeometry().toBase64()).decode(),
                                   "state": bytes(self.saveState().toBase64()).decode()}
        self.settings.save()
        for dlg in list(self._transfers.values()):
            dlg.shutdown()
        self.first_run.shutdown()
        if self.propagation.running:
            self.worker.cancel()
        self.worker.stop()
        self.loader.stop()
        self.canvas.shutdown()
        if self.propagation.running:
            self.propagation.finish()
        self.close_project()

