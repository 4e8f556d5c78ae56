"""The label controller: which label new objects take, and labelling the selected object.

New objects take the label the person set for them, shown in the toolbar ("New objects: …");
it changes only when the person sets it there, or picks a label (T, a digit, the Labels panel)
while no object is selected. Picking a label with an object selected labels that object and
leaves the default alone, and selecting an object never changes it. After a pick the keyboard
is the canvas's again (Enter commits, Esc stops editing)."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QComboBox, QLabel

from annotator.app import labels
from annotator.gui import errors as gui_errors
from annotator.gui.labels import LabelPickerDialog

NO_LABEL = "(no label)"


class LabelController(QObject):
    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.combo: QComboBox | None = None

    def add_to_toolbar(self, tb) -> None:
        win = self.win
        tb.addSeparator()
        tb.addWidget(QLabel(" New objects: ", win))
        self.combo = QComboBox(win)
        self.combo.setObjectName("default_label")
        self.combo.setMinimumContentsLength(10)
        self.combo.setToolTip("The label new objects take. Picking a label with no object selected sets it too.")
        self.combo.activated.connect(lambda _i: self.set_default(self.combo.currentData() or ""))
        tb.addWidget(self.combo)
        self.refresh()

    # ---------------- the default ----------------
    def category(self, create: bool = True) -> int | None:
        """The default label's category id (created on first use when `create`), else None."""
        return labels.category_id(self.win.project, self.win.current_label, create)

    def set_default(self, name: str) -> None:
        win = self.win
        win.current_label = name
        if name and win.project is not None and win.project.category_by_name(name) is None:
            try:
                labels.label_object(win.project, None, name)  # the category, in one undo step
            except Exception as e:
                gui_errors.show_error(win, e)
        self.refresh()
        win._state_timer.start()
        win.statusBar().showMessage(f"New objects: {name or NO_LABEL}", 3000)
        self.back_to_canvas()

    # ---------------- picking ----------------
    def choose(self, name: str) -> None:
        """A label picked: for the selected object, or (none selected) the default."""
        win = self.win
        if win.project is None or not name or win.importing:
            self.back_to_canvas()
            return
        if win.active_track is None:
            self.set_default(name)
            return
        try:
            labels.label_object(win.project, win.active_track, name)
        except Exception as e:
            gui_errors.show_error(win, e)
        self.refresh()
        self.back_to_canvas()

    def pick_index(self, i: int) -> None:
        if self.win.project is None:
            return
        cats = self.win.project.categories()
        if i < len(cats):
            self.choose(cats[i].name)

    def pick_dialog(self) -> None:
        win = self.win
        if win.project is None:
            return
        dlg = LabelPickerDialog([(c.name, c.color) for c in win.project.categories()], self.highlighted(), win)
        win.label_suggestions.attach(dlg)  # CLIP's suggestions listed first when they come
        ok = dlg.exec()
        if ok and dlg.chosen:
            self.choose(dlg.chosen)
        else:
            self.back_to_canvas()

    def back_to_canvas(self) -> None:
        """The window active again with the canvas holding the keys: after a modal popup the
        window is not always re-activated, and Enter/Esc then went nowhere."""
        win = self.win
        win.activateWindow()
        win.canvas.setFocus()

    # ---------------- views ----------------
    def highlighted(self) -> str:
        """The selected object's label while editing one, else the default."""
        win = self.win
        if win.project is not None and win.active_track is not None:
            try:
                t = win.project.track(win.active_track)
            except Exception:
                return win.current_label
            if t.category_id is not None:
                return win.project.category(t.category_id).name
            return ""
        return win.current_label

    def refresh(self) -> None:
        win = self.win
        cats = win.project.categories() if win.project is not None else []
        win.labels.set_categories([(c.name, c.color) for c in cats], self.highlighted())
        if self.combo is None:
            return
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem(NO_LABEL, "")
        for c in cats:
            self.combo.addItem(c.name, c.name)
        if win.current_label and self.combo.findData(win.current_label) < 0:
            self.combo.addItem(win.current_label, win.current_label)
        self.combo.setCurrentIndex(max(0, self.combo.findData(win.current_label)))
        self.combo.blockSignals(False)
