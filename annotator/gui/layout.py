"""The main window's widgets: canvas, video bar, timeline, docks, status bar and the widgets
in the toolbar. Built once, here, so the window itself only wires them together."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from annotator.gui.canvas import Canvas
from annotator.gui.labels import LabelPanel
from annotator.gui.objects import ObjectList
from annotator.gui.timeline import Timeline


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
    win.prop_progress.hide()
    win.prop_cancel = QToolButton(win)
    win.prop_cancel.setText("Cancel")
    win.prop_cancel.setToolTip("Stop propagating (frames already done are kept) — Esc")
    win.prop_cancel.hide()
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
    win.prop_buttons = {}
    for direction, icon, text in (
        ("backward", "fa5s.backward", "Propagate backward"),
        ("both", "fa5s.arrows-alt-h", "Propagate both ways"),
        ("forward", "fa5s.forward", "Propagate forward"),
    ):
        b = QToolButton(win.video_bar)
        b.setIcon(win._icon(icon))
        b.setText(text)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        b.setToolTip(f"{text} from this frame: the selected object, or all objects when none is "
                     "selected; frames made by hand are kept")
        vb.addWidget(b)
        win.prop_buttons[direction] = b
    win.all_objects = QToolButton(win.video_bar)
    win.all_objects.setText("All objects")
    win.all_objects.setCheckable(True)
    win.all_objects.setChecked(bool(win.settings.get("propagate_all_objects", False)))
    win.all_objects.setToolTip("Off: with an object selected, only that object is propagated (others stay "
                                "untouched); with none selected, all of them.\nOn: always all objects.")
    vb.addWidget(win.all_objects)
    vb.addWidget(win.prop_progress)
    vb.addWidget(win.prop_cancel)

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
    for title, w, name, area in (
        ("Files", win.files, "files_dock", Qt.DockWidgetArea.LeftDockWidgetArea),
        ("Objects", win.objects, "objects_dock", Qt.DockWidgetArea.RightDockWidgetArea),
        ("Labels", win.labels, "labels_dock", Qt.DockWidgetArea.RightDockWidgetArea),
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
