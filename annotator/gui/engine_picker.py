"""The engine controller: which model the window uses. The model combo lists what the worker
reports installed, switching loads the engine in the worker, the status bar says what is
loaded and where, and a model that fails to load falls back to classic."""
from __future__ import annotations

from PySide6.QtCore import QObject

from annotator.gui import errors as gui_errors


class EngineController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win

    def start(self, engine: str | None, weights=None) -> None:
        # The list of installed engines comes from the worker (checking a card may touch
        # torch); until it arrives the picker shows the engine being loaded.
        win = self.win
        wanted = engine or win.settings.get("default_model") or ""
        win.model_combo.clear()
        win.model_combo.addItem("classic", "classic")
        win.worker.list_engines()
        self.set_engine(wanted, weights)

    def on_listed(self, names: list) -> None:
        combo = self.win.model_combo
        combo.blockSignals(True)
        combo.clear()
        for n in names:
            combo.addItem(n, n)
        combo.blockSignals(False)
        self.sync_combo()

    def set_engine(self, name: str, weights=None) -> None:
        """name "" = the best installed engine (decided by the worker)."""
        win = self.win
        if win.propagation.running:
            gui_errors.show_info(win, "Wait for the propagation to finish (or cancel it) before switching models.")
            self.sync_combo()
            return
        win.engine_name = name
        if name:
            win.settings["default_model"] = name
            self.sync_combo()
        win.status_engine.setText(f"Engine: {name or 'default'} (loading…)")
        if win.prompt is not None:
            win.prompt.logits = None  # logits belong to the previous model
        win.worker.set_engine(name, weights)
        win.navigation.hint_encode()

    def sync_combo(self) -> None:
        win, combo = self.win, self.win.model_combo
        if not win.engine_name:
            return
        i = combo.findData(win.engine_name)
        if i < 0:
            combo.addItem(win.engine_name, win.engine_name)
            i = combo.count() - 1
        combo.blockSignals(True)
        combo.setCurrentIndex(i)
        combo.blockSignals(False)

    def on_ready(self, name: str, device: str, video_name: str) -> None:
        win = self.win
        win.engine_name = name
        win.settings["default_model"] = name
        self.sync_combo()
        win.device, win.video_engine_name = device, video_name
        vid = f", video: {video_name}" if video_name and video_name != name else ""
        win.status_engine.setText(f"Engine: {name}{vid} · {device}")
        win.navigation.hint_encode()  # what to prepare depends on the engine (image encodings or the video model)

    def on_failed(self, name: str, exc) -> None:
        gui_errors.show_error(self.win, exc, f"Model {name}")
        if name != "classic":
            self.set_engine("classic")

    def refresh(self) -> None:
        """After the model manager installed something."""
        self.win.worker.list_engines()

    def manager_dialog(self) -> None:
        from annotator.gui.models_dialog import ModelManagerDialog

        dlg = ModelManagerDialog(self.win)
        dlg.modelChosen.connect(lambda name: (self.refresh(), self.set_engine(name)))
        dlg.exec()
        self.refresh()
