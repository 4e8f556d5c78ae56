"""The main window: the composition root. It builds the widgets (gui/layout.py), the actions
(gui/actions.py), the loader and worker threads and one controller per concern, and wires
their signals; the rules live in the controllers and in annotator/app/.

Rules the window keeps:
- The store is the truth. Every edit is a store command (durable and undoable) and the views
  are redrawn from the store after each change (gui/display.py).
- No model and no decoding here: prompts go to the EngineWorker, frames come from the
  MediaLoader; both answer with signals. Both read frames through one FrameCache.
- The view state the controllers share lives here: project, item, frame, active_track,
  current_label, prompt.
"""
from __future__ import annotations

import gc
import logging
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow

from annotator.app.prompting import PromptState
from annotator.gui import auto_review, find_box, icons, label_suggestions, layout, segment_everything
from annotator.gui.actions import build_actions
from annotator.gui.display import DisplayController
from annotator.gui.editing import EditingController
from annotator.gui.engine_picker import EngineController
from annotator.gui.first_run import FirstRunPanel
from annotator.gui.import_export import TransferController
from annotator.gui.labeling import LabelController
from annotator.gui.media_loader import MediaLoader
from annotator.gui.navigation import NavigationController
from annotator.gui.projects import ProjectController
from annotator.gui.recent import RecentProjects
from annotator.gui.prompting import PromptingController
from annotator.gui.propagation import PropagationController
from annotator.gui.review_panel import ReviewController
from annotator.gui.settings import Settings
from annotator.gui.worker import EngineWorker
from annotator.media.frame_cache import FrameCache

# Import what the worker threads use here, on the GUI thread at startup: a first import in a
# worker holds the GIL while it loads extension modules, which stalled the GUI by ~50 ms on a
# cold start. torch is imported at start-up only when the startup engine is a learned one
# (engines.registry.preload_runtime); the worker loads the model.
import annotator.core.rle  # noqa: E402,F401
import annotator.engines.classic  # noqa: E402,F401
import annotator.engines.registry  # noqa: E402,F401
import annotator.media  # noqa: E402,F401

log = logging.getLogger(__name__)


class _Via:
    """A window attribute that is a controller's (`win.go_frame` is `win.navigation.go_frame`):
    one name for the actions, the tests and the other controllers, one home for the code."""

    def __init__(self, controller: str, attr: str | None = None):
        self.controller, self.attr = controller, attr

    def __set_name__(self, owner, name: str) -> None:
        self.attr = self.attr or name

    def __get__(self, win, owner=None):
        return self if win is None else getattr(getattr(win, self.controller), self.attr)


class MainWindow(QMainWindow):
    def __init__(self, paths: list[str] | tuple = (), settings: Settings | None = None, engine: str | None = None,
                 weights=None):
        """weights: for the startup engine (None = its installed checkpoint; "random" in tests)."""
        # Worker threads run Python too: a busy one keeps the GIL for up to the switch interval
        # (5 ms by default) before the GUI thread gets it back; 1 ms costs the workers little,
        # since their heavy work runs in C without the GIL.
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
        self._shown_key = None  # (path, kind, frame) now on the canvas
        self._paint_tokens: dict = {}
        self.latencies_ms: list[float] = []  # click -> mask painted
        self.last_timing = ""
        self.engine_name = ""
        self.video_engine_name = ""
        self.device = ""
        self.closed = False

        # torch's first import holds the GIL ~0.4 s: pay it here, before the window exists,
        # rather than in the worker, where it would freeze the window (registry.preload_runtime)
        annotator.engines.registry.preload_runtime(engine if engine is not None else
                                                   self.settings.get("default_model") or "")
        self.cache = FrameCache()  # one per process: the loader and the worker share decoded frames
        self.loader = MediaLoader(self.cache, self)
        self.worker = EngineWorker(self.cache, self)
        self.propagation = PropagationController(self)
        self.navigation = NavigationController(self)
        self.prompting = PromptingController(self)
        self.projects = ProjectController(self)
        self.engines = EngineController(self)
        self.transfers = TransferController(self)
        self.editing = EditingController(self)
        self.display = DisplayController(self)
        self.labeling = LabelController(self)
        layout.build_widgets(self)
        self._build_actions()
        self.recent = RecentProjects(self)
        self.find = find_box.FindController(self)
        self.label_suggestions = label_suggestions.LabelSuggestionController(self, self.find.clip)
        self._connect()
        self.review = ReviewController(self)  # the review queue dock, timeline marks and keys
        self.auto_review = auto_review.AutoReviewController(self)
        self.everything = segment_everything.EverythingController(self)
        layout.let_status_shrink(self)
        self.loader.start()
        self.worker.start()
        self.engines.start(engine, weights)
        self.first_run = FirstRunPanel(self, opened_empty=not paths)
        self.layout_keeper = layout.LayoutKeeper(self)
        self.layout_keeper.restore()
        self._state_timer = QTimer(self, singleShot=True, interval=400, timeout=self.navigation.save_view_state)
        if paths:
            QTimer.singleShot(0, lambda: self.open_paths(list(paths)))
        else:
            self.recent.schedule_reopen()
        self.display.update_enabled()
        # Everything built so far lives as long as the window: move it out of the cyclic
        # collector's view, so full collections (which stop every thread) stay short.
        gc.freeze()

    def _icon(self, name: str):
        return icons.icon(name, self.palette().text().color())

    def _build_actions(self) -> None:
        self.actions, tb = build_actions(self, self.settings, (self.files_dock, self.objects_dock, self.labels_dock,
                                                                    self.review_dock))
        self.actions["tool_prompt"].setChecked(True)
        self.actions["toggle_outlines"].setChecked(self.canvas.outlines_only)
        layout.build_toolbar_widgets(self, tb)

    def _connect(self) -> None:
        c, p, e, ed = self.canvas, self.prompting, self.engines, self.editing
        c.pointClicked.connect(p.on_point)
        c.boxDrawn.connect(p.on_box)
        c.strokeFinished.connect(p.on_stroke)
        c.maskPainted.connect(p.on_mask_painted)
        c.objectPicked.connect(p.on_pick)
        c.zoomChanged.connect(lambda z: self.status_zoom.setText(f"{z * 100:.0f}%"))
        self.timeline.frameRequested.connect(self.navigation.go_frame)
        self.timeline.laneClicked.connect(ed.select_track)
        for b in self._video_buttons:
            b.clicked.connect(lambda _=False, a=b.property("action_id"): self.actions[a].trigger())
        for direction, b in self.prop_buttons.items():
            b.clicked.connect(lambda _=False, d=direction: self.propagation.start(d))
        self.prop_cancel.clicked.connect(self.propagation.cancel)
        self.all_objects.toggled.connect(lambda on: self.settings.__setitem__("propagate_all_objects", on))
        self.files.currentRowChanged.connect(self.navigation.on_file_row)
        self.objects.trackSelected.connect(lambda t: ed.select_track(t if t >= 0 else None))
        self.objects.hideToggled.connect(ed.toggle_hidden)
        self.objects.lockToggled.connect(ed.toggle_locked)
        self.objects.labelRequested.connect(ed.label_object_dialog)
        self.labels.labelChosen.connect(ed.choose_label)
        self.opacity_slider.valueChanged.connect(lambda v: self.display.set_opacity(v / 100, from_slider=True))
        self.model_combo.activated.connect(lambda _i: e.set_engine(self.model_combo.currentData()))
        self.loader.frameLoaded.connect(self.navigation.on_frame_loaded)
        self.loader.loadFailed.connect(self.navigation.on_load_failed)
        self.loader.probed.connect(self.projects.on_probed)
        w = self.worker
        w.engineReady.connect(e.on_ready)
        w.enginesListed.connect(e.on_listed)
        w.engineFailed.connect(e.on_failed)
        w.encoded.connect(p.on_encoded)
        w.predicted.connect(p.on_predicted)
        w.predictFailed.connect(p.on_predict_failed)
        w.busyChanged.connect(self.status_busy.setText)

    open_dialog = _Via("projects")
    open_folder_dialog = _Via("projects")
    open_video_dialog = _Via("projects")
    open_paths = _Via("projects")
    open_project = _Via("projects")
    close_project = _Via("projects")
    relink_dialog = _Via("projects")
    relink = _Via("projects")
    set_engine = _Via("engines")
    refresh_engines = _Via("engines", "refresh")
    model_manager_dialog = _Via("engines", "manager_dialog")
    export_dialog = _Via("transfers")
    import_dialog = _Via("transfers")
    transfer_dialog = _Via("transfers", "dialog")
    importing = _Via("transfers")
    _transfers = _Via("transfers", "dialogs")
    commit_object = _Via("editing")
    escape = _Via("editing")
    select_track = _Via("editing")
    choose_label = _Via("editing")
    pick_label_index = _Via("editing")
    pick_label_dialog = _Via("editing")
    toggle_hidden = _Via("editing")
    toggle_locked = _Via("editing")
    delete_object = _Via("editing")
    delete_range_dialog = _Via("editing")
    delete_masks_range = _Via("editing")
    undo = _Via("editing")
    redo = _Via("editing")
    set_tool = _Via("editing")
    change_brush = _Via("editing")
    _edit_blocked = _Via("editing", "edit_blocked")
    _edits_wait = _Via("editing", "edits_wait")
    _label_category = _Via("editing", "label_category")
    schedule_refresh = _Via("display")
    refresh_overlay = _Via("display")
    toggle_outlines = _Via("display")
    set_opacity = _Via("display")
    _refresh = _Via("display", "refresh")
    _update_enabled = _Via("display", "update_enabled")
    _layers = _Via("display", "layers")
    _refresh_labels = _Via("display", "refresh_labels")
    step_item = _Via("navigation")
    go_item = _Via("navigation")
    step_frame = _Via("navigation")
    go_frame = _Via("navigation")
    _key = _Via("navigation", "key")
    _hint_encode = _Via("navigation", "hint_encode")
    _save_view_state = _Via("navigation", "save_view_state")
    _refresh_files = _Via("navigation", "refresh_files")
    on_point = _Via("prompting")
    on_box = _Via("prompting")
    clicks_go_to_video_model = _Via("prompting")
    cycle_mask = _Via("prompting")
    start_propagation = _Via("propagation", "start")
    cancel_propagation = _Via("propagation", "cancel")
    propagating = _Via("propagation", "running")
    last_job_status = _Via("propagation", "last_status")

    def shortcuts_dialog(self) -> None:
        from annotator.gui.dialogs import ShortcutsDialog

        ShortcutsDialog(self.settings, self).exec()

    # --- window events ---
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            e.acceptProposedAction()
            self.projects.open_paths(paths)

    def closeEvent(self, e) -> None:
        self.shutdown()
        super().closeEvent(e)

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.layout_keeper.save()
        self.settings.save()
        self.transfers.shutdown()
        self.first_run.shutdown()
        if self.propagation.running:
            self.worker.cancel()
        self.worker.stop()
        self.loader.stop()
        self.canvas.shutdown()
        if self.propagation.running:
            self.propagation.finish()
        self.projects.close_project()
