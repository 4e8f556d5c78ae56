"""Label picking: a type-to-filter list of the project's categories.

The first nine labels carry their digit shortcut. Typing a name that does not exist
and pressing Enter offers it as a new label. The same panel sits in a dock and, for
the T shortcut, in a small popup dialog, where suggested labels (gui/label_suggestions)
are listed first with their scores and the best one is pre-selected, so Enter takes it.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QDialog, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from annotator.gui.objects import swatch

SUGGESTED = Qt.ItemDataRole.UserRole + 1  # True on the rows of suggested labels


class TextField(QLineEdit):
    """A line edit that keeps plain keys (letters, digits, Enter) for typing instead of
    letting the window's one-key shortcuts (B, 1, Return...) take them."""

    def event(self, e):
        if e.type() == QEvent.Type.ShortcutOverride:
            mods = e.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.KeypadModifier)
            if not mods and e.key() not in (Qt.Key.Key_Escape, Qt.Key.Key_F1):
                e.accept()
                return True
        return super().event(e)


class LabelPanel(QWidget):
    labelChosen = Signal(str)  # category name (may be new)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.filter = TextField(self)
        self.filter.setPlaceholderText("Type to filter or add a label, Enter to pick")
        self.filter.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.filter)
        lay.addWidget(self.list)
        self.filter.textChanged.connect(self._apply_filter)
        self.filter.returnPressed.connect(self._enter)
        self.list.itemActivated.connect(lambda it: self.labelChosen.emit(it.data(Qt.ItemDataRole.UserRole)))
        self.list.itemClicked.connect(lambda it: self.labelChosen.emit(it.data(Qt.ItemDataRole.UserRole)))
        self._current = ""
        self._colors: dict[str, tuple] = {}

    def set_categories(self, cats: list[tuple[str, tuple]], current: str = "") -> None:
        """cats: (name, colour) in project order; the first nine get digits 1-9."""
        self._current = current
        self.list.clear()
        self._colors = {name: color for name, color in cats}
        for i, (name, color) in enumerate(cats):
            digit = f"{i + 1}  " if i < 9 else "    "
            it = QListWidgetItem(swatch(color), f"{digit}{name}")
            it.setData(Qt.ItemDataRole.UserRole, name)
            if name == current:
                f = it.font()
                f.setBold(True)
                it.setFont(f)
            self.list.addItem(it)
        self._apply_filter(self.filter.text())

    def set_suggestions(self, ranked: list[tuple[str, float]]) -> None:
        """(name, score) best first: listed above the categories, the best pre-selected."""
        for i in reversed(range(self.list.count())):
            if self.list.item(i).data(SUGGESTED):
                self.list.takeItem(i)
        for k, (name, score) in enumerate(ranked):
            it = QListWidgetItem(swatch(self._colors.get(name, (128, 128, 128))), f"★  {name}   {score:.0%}")
            it.setData(Qt.ItemDataRole.UserRole, name)
            it.setData(SUGGESTED, True)
            it.setToolTip(f"Suggested label (score {score:.3f}): Enter takes the highlighted one")
            self.list.insertItem(k, it)
        self._apply_filter(self.filter.text())

    def suggestions(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                if self.list.item(i).data(SUGGESTED)]

    def _apply_filter(self, text: str) -> None:
        t = text.strip().lower()
        first = current = suggested = None
        for i in range(self.list.count()):
            it = self.list.item(i)
            name = it.data(Qt.ItemDataRole.UserRole)
            hit = not t or t in name.lower()
            it.setHidden(not hit)
            if hit and first is None:
                first = it
            if hit and suggested is None and it.data(SUGGESTED):
                suggested = it
            if hit and current is None and name == self._current:
                current = it
        # with no filter the highlighted row is the top suggestion, else the label in use; while
        # typing, the best match
        pick = (suggested or current or first) if not t else first
        if pick is not None:
            self.list.setCurrentItem(pick)
        else:
            self.list.clearSelection()

    def _enter(self) -> None:
        text = self.filter.text().strip()
        cur = self.list.currentItem()
        if cur is not None and not cur.isHidden() and (not text or text.lower() in cur.data(Qt.ItemDataRole.UserRole).lower()):
            name = cur.data(Qt.ItemDataRole.UserRole)
        else:
            name = text
        if name:
            self.filter.clear()
            self.labelChosen.emit(name)

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.list.keyPressEvent(e)
            return
        super().keyPressEvent(e)


class LabelPickerDialog(QDialog):
    """Popup for the T shortcut; `chosen` holds the picked name after exec()."""

    def __init__(self, cats: list[tuple[str, tuple]], current: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle("Pick a label")
        self.panel = LabelPanel(self)
        self.panel.set_categories(cats, current)
        lay = QVBoxLayout(self)
        lay.addWidget(self.panel)
        self.chosen: str | None = None
        self.panel.labelChosen.connect(self._chosen)
        self.panel.filter.setFocus()
        self.resize(320, 360)

    def _chosen(self, name: str) -> None:
        self.chosen = name
        self.accept()
