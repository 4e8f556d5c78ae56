"""The object list: id and colour, label, number of frames with a mask, hide and lock; an
unaccepted automatic object (segment everything, find by text) is marked "auto" in italics."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from annotator.gui import icons

COL_ID, COL_LABEL, COL_FRAMES, COL_HIDE, COL_LOCK = range(5)


def swatch(color, size: int = 12) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(*color))
    return QIcon(pm)


class ObjectList(QTableWidget):
    trackSelected = Signal(int)  # track id, -1 for none
    hideToggled = Signal(int)
    lockToggled = Signal(int)
    labelRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(0, 5, parent)
        self.setHorizontalHeaderLabels(["ID", "Label", "Frames", "", ""])
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        for c in (COL_ID, COL_FRAMES, COL_HIDE, COL_LOCK):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self._ids: list[int] = []
        self.auto_ids: set[int] = set()  # rows shown as unaccepted auto objects
        self._quiet = False
        self.itemSelectionChanged.connect(self._on_selection)
        self.cellClicked.connect(self._on_click)
        self.cellDoubleClicked.connect(self._on_double)
        self._icons = {}

    def _icon(self, name: str) -> QIcon:
        if name not in self._icons:
            self._icons[name] = icons.icon(name, self.palette().text().color())
        return self._icons[name]

    def set_rows(self, rows: list[dict], selected: int | None) -> None:
        """rows: dicts with track_id, obj_id, color, label, frames, hidden, locked, and optional
        auto (its mask on this frame is an unaccepted auto one)."""
        self._quiet = True
        try:
            self.setRowCount(len(rows))
            self._ids = [r["track_id"] for r in rows]
            self.auto_ids = {r["track_id"] for r in rows if r.get("auto")}
            for i, r in enumerate(rows):
                editing = r["track_id"] == selected  # prompts go to it: marked, not only highlighted
                it = QTableWidgetItem(swatch(r["color"]), ("✎ " if editing else "") + str(r["obj_id"]))
                if editing:
                    f = it.font()
                    f.setBold(True)
                    it.setFont(f)
                    it.setToolTip("Editing this object: clicks, boxes and the brush go to it (Esc stops)")
                self.setItem(i, COL_ID, it)
                label = QTableWidgetItem(f"{r['label']} · auto" if r.get("auto") else r["label"])
                if r.get("auto"):
                    font = label.font()
                    font.setItalic(True)
                    label.setFont(font)
                    label.setToolTip("Made automatically and not accepted yet: Y accepts, X rejects, J goes to "
                                     "the next one (default keys)")
                self.setItem(i, COL_LABEL, label)
                fr = QTableWidgetItem(str(r["frames"]))
                fr.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.setItem(i, COL_FRAMES, fr)
                hide = QTableWidgetItem(self._icon("fa5s.eye-slash" if r["hidden"] else "fa5s.eye"), "")
                hide.setToolTip("Hidden (click to show)" if r["hidden"] else "Visible (click to hide)")
                self.setItem(i, COL_HIDE, hide)
                lock = QTableWidgetItem(self._icon("fa5s.lock" if r["locked"] else "fa5s.lock-open"), "")
                lock.setToolTip("Locked: clicks, brush and propagation leave it alone" if r["locked"] else "Unlocked")
                self.setItem(i, COL_LOCK, lock)
            if selected in self._ids:
                self.selectRow(self._ids.index(selected))
            else:
                self.clearSelection()
        finally:
            self._quiet = False

    def _on_selection(self) -> None:
        if self._quiet:
            return
        rows = {i.row() for i in self.selectedIndexes()}
        self.trackSelected.emit(self._ids[min(rows)] if rows else -1)

    def _on_click(self, row: int, col: int) -> None:
        if not (0 <= row < len(self._ids)):
            return
        if col == COL_HIDE:
            self.hideToggled.emit(self._ids[row])
        elif col == COL_LOCK:
            self.lockToggled.emit(self._ids[row])

    def _on_double(self, row: int, col: int) -> None:
        if col == COL_LABEL and 0 <= row < len(self._ids):
            self.labelRequested.emit(self._ids[row])
