"""The main window's widgets: canvas, video bar, timeline, docks, status bar and the widgets
in the toolbar. Built once, here, so the window itself only wires them together."""
from __future__ import annotations

import logging

from PySide6.QtCore import QByteArray, QObject, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.canvas import Canvas
from annotator.gui.labels import LabelPanel
from annotator.gui.objects import ObjectList
from annotator.gui.review_panel import ReviewPanel
from annotator.gui.timeline import Timeline

log = logging.getLogger(__name__)

DOCK_WIDTHS = (190, 300)  # default widths of the Files and the Objects/Labels docks


def build_widgets(win) -> None:
    """Create the window's widgets as attributes of `win` (canvas, timeline, prop_*, docks, status_*)."""
    win.canvas = Canvas(win)
    win.canvas.set_opacity(float(win.settings.get("opacity", 0.5)))
    win.canvas.set_outlines_only(bool(win.settings.get("outlines_only", False)))
    win.canvas.brush_radius = int(win.settings.get("brush_radius", 12))
    win.timeline = Timeline(win)
    win.frame_label = QLabel("", win)
    win.prop_progress = QProgressBar(win)
    win.prop_progress.setMinimumWidth(170)
    win.prop_progress.setMaximumWidth(240)
    win.prop_progress.setFormat("%v / %m")
    win.prop_cancel = QToolButton(win)
    win.prop_cancel.setText("Cancel")
    win.prop_cancel.setToolTip("Stop propagating (frames already done are kept) — Esc")
    win.video_bar = QWidget(win)
    vb = QHBoxLayout(win.video_bar)
    vb.setContentsMargins(4, 0, 4, 0)
    win._video_buttons = []
    for action_id, icon, tip in (
        ("first_frame", "fa5s.step-backward", "First frame"),
        ("prev_frame", "fa5s.chevron-left", "Previous frame"),
        ("next_frame", "fa5s.chevron-right", "Next frame"),
        ("last_frame", "fa5s.step-forward", "Last frame"),
    ):
        b = QToolButton(win.video_bar)
        b.setIcon(win._icon(icon))
        b.setToolTip(tip)
        b.setProperty("action_id", action_id)
        vb.addWidget(b)
        win._video_buttons.append(b)
    vb.addWidget(win.frame_label)
    vb.addStretch(1)
    # The propagate buttons and the progress of a run share one place (a stack as wide as the
    # wider of the two): the progress appearing must not widen the centre and squeeze the docks.
    win.prop_stack = QStackedWidget(win.video_bar)
    idle, busy = QWidget(win.prop_stack), QWidget(win.prop_stack)
    ib, bb = QHBoxLayout(idle), QHBoxLayout(busy)
    for box in (ib, bb):
        box.setContentsMargins(0, 0, 0, 0)
    win.prop_buttons = {}
    for direction, icon, text in (
        ("backward", "fa5s.backward", "Propagate backward"),
        ("both", "fa5s.arrows-alt-h", "Propagate both ways"),
        ("forward", "fa5s.forward", "Propagate forward"),
    ):
        b = QToolButton(idle)
        b.setIcon(win._icon(icon))
        b.setText(text)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        b.setToolTip(f"{text} from this frame: the selected object, or all objects when none is "
                     "selected; frames made by hand are kept")
        ib.addWidget(b)
        win.prop_buttons[direction] = b
    win.all_objects = QToolButton(idle)
    win.all_objects.setText("All objects")
    win.all_objects.setCheckable(True)
    win.all_objects.setChecked(bool(win.settings.get("propagate_all_objects", False)))
    win.all_objects.setToolTip("Off: with an object selected, only that object is propagated (others stay "
                                "untouched); with none selected, all of them.\nOn: always all objects.")
    ib.addWidget(win.all_objects)
    bb.addStretch(1)
    bb.addWidget(win.prop_progress)
    bb.addWidget(win.prop_cancel)
    win.prop_stack.addWidget(idle)
    win.prop_stack.addWidget(busy)
    vb.addWidget(win.prop_stack)

    center = QWidget(win)
    lay = QVBoxLayout(center)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    lay.addWidget(win.canvas, 1)
    lay.addWidget(win.video_bar)
    lay.addWidget(win.timeline)
    win.setCentralWidget(center)

    win.files = QListWidget(win)
    win.files.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
    win.objects = ObjectList(win)
    win.labels = LabelPanel(win)
    win.review_panel = ReviewPanel(win)
    for title, w, name, area in (
        ("Files", win.files, "files_dock", Qt.DockWidgetArea.LeftDockWidgetArea),
        ("Objects", win.objects, "objects_dock", Qt.DockWidgetArea.RightDockWidgetArea),
        ("Labels", win.labels, "labels_dock", Qt.DockWidgetArea.RightDockWidgetArea),
        ("Review", win.review_panel, "review_dock", Qt.DockWidgetArea.RightDockWidgetArea),
    ):
        d = QDockWidget(title, win)
        d.setObjectName(name)
        d.setWidget(w)
        win.addDockWidget(area, d)
        setattr(win, name, d)

    sb = win.statusBar()
    win.status_engine = QLabel("Engine: …", win)
    win.status_busy = QLabel("", win)
    win.status_timing = QLabel("", win)
    win.status_zoom = QLabel("", win)
    win.status_target = QLabel("", win)  # which object prompts go to (gui/prompting.py)
    win.status_target.setStyleSheet("font-weight: bold")
    sb.addPermanentWidget(win.status_target)
    sb.addPermanentWidget(win.status_busy)
    sb.addPermanentWidget(win.status_timing)
    sb.addPermanentWidget(win.status_zoom)
    sb.addPermanentWidget(win.status_engine)


def show_progress(win, on: bool) -> None:
    """The run's progress and Cancel in place of the propagate buttons, or back."""
    win.prop_stack.setCurrentIndex(1 if on else 0)


def build_toolbar_widgets(win, tb) -> None:
    """The opacity slider and the model picker, after the toolbar's actions."""
    win.opacity_slider = QSlider(Qt.Orientation.Horizontal, win)
    win.opacity_slider.setRange(0, 100)
    win.opacity_slider.setValue(int(round(win.canvas.opacity * 100)))
    win.opacity_slider.setMaximumWidth(110)
    win.opacity_slider.setToolTip("Mask opacity")
    tb.addWidget(QLabel(" Opacity ", win))
    tb.addWidget(win.opacity_slider)
    tb.addSeparator()
    tb.addWidget(QLabel(" Model ", win))
    win.model_combo = QComboBox(win)
    win.model_combo.setToolTip("Engine used for clicks and propagation (Models > Model manager adds more)")
    win.model_combo.setMinimumContentsLength(12)
    tb.addWidget(win.model_combo)
    tb.addAction(win.actions["model_manager"])
    win.labeling.add_to_toolbar(tb)


class LayoutKeeper(QObject):
    """Saves and restores the window layout, and resets what no longer fits: a saved geometry
    larger than the screen is replaced by the default one, and a layout whose side panels are
    squeezed far below the width the default layout would give them in this window is not
    saved (the next start gets the default panels instead of the squeeze)."""

    SQUEEZED = 0.6  # below this share of its default width a dock counts as squeezed

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.dropped_state = False  # the last save left out a squeezed layout

    def docks(self):
        return [self.win.files_dock, self.win.objects_dock]

    def restore(self) -> None:
        win = self.win
        win.resizeDocks(self.docks(), list(DOCK_WIDTHS), Qt.Orientation.Horizontal)
        saved = win.settings.get("window") or {}
        try:
            if saved.get("geometry"):
                win.restoreGeometry(QByteArray.fromBase64(saved["geometry"].encode()))
                if not self._fits_screen():
                    log.info("saved window geometry is larger than the screen: using the default")
                    self._default_geometry()
            if saved.get("state"):
                win.restoreState(QByteArray.fromBase64(saved["state"].encode()))
        except Exception as e:  # a stale layout must not stop the app
            log.info("ignoring saved window layout: %s", e)

    def save(self) -> None:
        win = self.win
        self.dropped_state = win.isVisible() and self.squeezed()
        if self.dropped_state:
            log.info("side panels squeezed: the default layout is saved instead")
        win.settings["window"] = {"geometry": bytes(win.saveGeometry().toBase64()).decode(),
                                  "state": "" if self.dropped_state else bytes(win.saveState().toBase64()).decode()}

    def _fits_screen(self) -> bool:
        """Within the screen, or no bigger than the window's own minimum where that is larger."""
        screen = self.win.screen()
        if screen is None:
            return True
        avail, least = screen.availableGeometry(), self.win.layout().totalMinimumSize()
        g = self.win.frameGeometry()
        return (g.width() <= max(avail.width(), least.width()) + 16
                and g.height() <= max(avail.height(), least.height()) + 40 and avail.intersects(g))

    def _default_geometry(self) -> None:
        avail = self.win.screen().availableGeometry()
        self.win.resize(int(avail.width() * 0.9), int(avail.height() * 0.9))  # never below its minimum
        self.win.move(avail.topLeft())

    def default_widths(self) -> list[int]:
        """DOCK_WIDTHS, scaled down to what this window leaves beside the centre's minimum."""
        win = self.win
        room = win.width() - win.centralWidget().minimumSizeHint().width() - 24
        scale = min(1.0, max(room, 0) / sum(DOCK_WIDTHS))
        return [max(60, int(w * scale)) for w in DOCK_WIDTHS]

    def squeezed(self) -> bool:
        return any(d.isVisible() and not d.isFloating() and d.width() < self.SQUEEZED * w
                   for d, w in zip(self.docks(), self.default_widths()))
