"""Every window action, menu and toolbar entry, from one table.

An action is (id, text, what it does with the window, icon, checkable); its shortcut comes
from the user's settings under the same id (gui/settings.py), its menus and toolbar place
from MENUS and TOOLBAR. Adding a command to the window is one row here calling its controller.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence

from annotator.gui import batch_dialog, icons
from annotator.gui.settings import LABEL_DIGITS


@dataclass(frozen=True)
class Action:
    id: str
    text: str
    run: Callable  # run(window)
    icon: str | None = None
    checkable: bool = False
    group: str | None = None  # exclusive group (the canvas tools)


ACTIONS = (
    Action("open", "&Open…", lambda w: w.projects.open_dialog(), "fa5s.folder-open"),
    Action("open_folder", "Open &Folder of Images…", lambda w: w.projects.open_folder_dialog(), "fa5s.images"),
    Action("open_video", "Open &Video or Frame Folder…", lambda w: w.projects.open_video_dialog(), "fa5s.film"),
    Action("relink", "&Relink Missing Media…", lambda w: w.projects.relink_dialog(), "fa5s.link"),
    Action("export", "&Export…", lambda w: w.transfers.export_dialog(), "fa5s.file-export"),
    Action("import", "&Import…", lambda w: w.transfers.import_dialog(), "fa5s.file-import"),
    Action("quit", "&Quit", lambda w: w.close()),
    Action("undo", "&Undo", lambda w: w.editing.undo(), "fa5s.undo"),
    Action("redo", "&Redo", lambda w: w.editing.redo(), "fa5s.redo"),
    Action("tool_prompt", "Prompt (points / box)", lambda w: w.editing.set_tool("prompt"), "fa5s.mouse-pointer", True,
           "tools"),
    Action("tool_brush", "Brush", lambda w: w.editing.set_tool("brush"), "fa5s.paint-brush", True, "tools"),
    Action("tool_eraser", "Eraser", lambda w: w.editing.set_tool("eraser"), "fa5s.eraser", True, "tools"),
    Action("brush_bigger", "Bigger brush", lambda w: w.editing.change_brush(1.25)),
    Action("brush_smaller", "Smaller brush", lambda w: w.editing.change_brush(0.8)),
    Action("cycle_mask", "Cycle &candidate masks", lambda w: w.prompting.cycle_mask(), "fa5s.sync-alt"),
    Action("commit", "&Commit object (next object)", lambda w: w.editing.commit_object(), "fa5s.check"),
    Action("deselect", "Cancel / deselect", lambda w: w.editing.escape()),
    Action("delete_object", "&Delete object", lambda w: w.editing.delete_object(), "fa5s.trash"),
    Action("delete_range", "Delete masks in &range…", lambda w: w.editing.delete_range_dialog()),
    Action("pick_label", "Pick &label…", lambda w: w.editing.pick_label_dialog(), "fa5s.tag"),
    Action("find_text", "&Find objects by name…", lambda w: w.find.focus(), "fa5s.search"),
    Action("toggle_hide", "&Hide / show object", lambda w: w.editing.toggle_hidden(w.active_track)),
    Action("toggle_lock", "&Lock / unlock object", lambda w: w.editing.toggle_locked(w.active_track)),
    Action("toggle_outlines", "&Outlines only", lambda w: w.display.toggle_outlines(), "fa5s.draw-polygon", True),
    Action("opacity_up", "More opacity", lambda w: w.display.set_opacity(w.canvas.opacity + 0.1)),
    Action("opacity_down", "Less opacity", lambda w: w.display.set_opacity(w.canvas.opacity - 0.1)),
    Action("zoom_fit", "&Fit", lambda w: w.canvas.fit(), "fa5s.expand"),
    Action("zoom_1to1", "&Actual size", lambda w: w.canvas.actual_size()),
    Action("zoom_in", "Zoom &in", lambda w: w.canvas.zoom_by(1.25), "fa5s.search-plus"),
    Action("zoom_out", "Zoom &out", lambda w: w.canvas.zoom_by(0.8), "fa5s.search-minus"),
    Action("next_item", "&Next image/video", lambda w: w.navigation.step_item(1), "fa5s.arrow-right"),
    Action("prev_item", "&Previous image/video", lambda w: w.navigation.step_item(-1), "fa5s.arrow-left"),
    Action("next_frame", "Next frame", lambda w: w.navigation.step_frame(1)),
    Action("prev_frame", "Previous frame", lambda w: w.navigation.step_frame(-1)),
    Action("next_frame_10", "10 frames forward", lambda w: w.navigation.step_frame(10)),
    Action("prev_frame_10", "10 frames back", lambda w: w.navigation.step_frame(-10)),
    Action("first_frame", "First frame", lambda w: w.navigation.go_frame(0)),
    Action("last_frame", "Last frame", lambda w: w.navigation.go_frame(10**9)),
    Action("propagate_forward", "Propagate &forward", lambda w: w.propagation.start("forward"), "fa5s.forward"),
    Action("propagate_backward", "Propagate &backward", lambda w: w.propagation.start("backward"), "fa5s.backward"),
    Action("propagate_both", "Propagate b&oth ways", lambda w: w.propagation.start("both"), "fa5s.arrows-alt-h"),
    Action("next_flagged", "Next fla&gged frame", lambda w: w.review.next_flagged(), "fa5s.flag"),
    Action("prev_flagged", "Previous flagged frame", lambda w: w.review.previous_flagged()),
    Action("mark_reviewed", "Mark &reviewed / not reviewed", lambda w: w.review.toggle_reviewed(), "fa5s.check-double"),
    Action("segment_everything", "Segment &everything…", lambda w: w.everything.dialog(), "fa5s.th"),
    Action("next_auto", "Next auto object", lambda w: w.auto_review.next(1), "fa5s.step-forward"),
    Action("prev_auto", "Previous auto object", lambda w: w.auto_review.next(-1)),
    Action("accept_auto", "Accept auto object", lambda w: w.auto_review.accept(), "fa5s.check-circle"),
    Action("reject_auto", "Reject auto object", lambda w: w.auto_review.reject(), "fa5s.times-circle"),
    Action("accept_all_auto", "Accept all auto objects on this frame", lambda w: w.auto_review.accept_all()),
    Action("reject_all_auto", "Reject all auto objects on this frame", lambda w: w.auto_review.reject_all()),
    Action("batch_run", "Run on all &items…", lambda w: batch_dialog.open_dialog(w), "fa5s.tasks"),
    Action("model_manager", "&Model manager…", lambda w: w.engines.manager_dialog(), "fa5s.cubes"),
    Action("shortcuts", "&Keyboard shortcuts", lambda w: w.shortcuts_dialog(), "fa5s.keyboard"),
)

DOCKS = "docks"  # in a menu: the dock widgets' show/hide actions
# menu title -> entries (action ids; None = separator)
MENUS = (
    ("&File", ("open", "open_folder", "open_video", "relink", None, "import", "export", None, "quit")),
    ("&Edit", ("undo", "redo", None, "commit", "cycle_mask", "pick_label", "find_text", None,
               "delete_object", "delete_range")),
    ("&Tools", ("tool_prompt", "tool_brush", "tool_eraser", "brush_bigger", "brush_smaller", None,
                "segment_everything", "next_auto", "prev_auto", "accept_auto", "reject_auto", "accept_all_auto",
                "reject_all_auto", None, "batch_run")),
    ("&View", ("zoom_fit", "zoom_1to1", "zoom_in", "zoom_out", None, "toggle_outlines", "opacity_up",
               "opacity_down", None, "toggle_hide", "toggle_lock", None, "next_item", "prev_item", None, DOCKS)),
    ("V&ideo", ("next_frame", "prev_frame", "next_frame_10", "prev_frame_10", "first_frame", "last_frame", None,
                "propagate_forward", "propagate_backward", "propagate_both", None,
                "next_flagged", "prev_flagged", "mark_reviewed")),
    ("&Models", ("model_manager",)),
    ("&Help", ("shortcuts",)),
)
TOOLBAR = ("open", "open_folder", "open_video", None, "undo", "redo", None, "tool_prompt", "tool_brush",
           "tool_eraser", None, "commit", "cycle_mask", "pick_label", "delete_object", None, "zoom_fit",
           "toggle_outlines")


def build_actions(win, settings, docks=()) -> tuple[dict[str, QAction], object]:
    """Create every action on `win` (shortcuts from `settings`), the menu bar and the main
    toolbar; returns the actions by id and the toolbar (the window adds its widgets to it)."""
    color = win.palette().text().color()
    actions: dict[str, QAction] = {}
    groups: dict[str, QActionGroup] = {}
    for spec in ACTIONS:
        a = QAction(spec.text, win)
        if spec.icon:
            a.setIcon(icons.icon(spec.icon, color))
        keys = [QKeySequence(k) for k in settings.shortcut(spec.id)]
        a.setShortcuts(keys)
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if keys:
            a.setToolTip(f"{spec.text} ({keys[0].toString(QKeySequence.SequenceFormat.NativeText)})")
        a.setCheckable(spec.checkable)
        a.triggered.connect(lambda _=False, run=spec.run: run(win))
        if spec.group:
            groups.setdefault(spec.group, QActionGroup(win)).addAction(a)
        win.addAction(a)
        actions[spec.id] = a
    for i, key in enumerate(LABEL_DIGITS):  # digits pick labels
        a = QAction(f"Label {key}", win)
        a.setShortcut(QKeySequence(key))
        a.triggered.connect(lambda _=False, n=i: win.editing.pick_label_index(n))
        win.addAction(a)

    mb = win.menuBar()
    for title, entries in MENUS:
        m = mb.addMenu(title)
        for k in entries:
            if k is None:
                m.addSeparator()
            elif k == DOCKS:
                for d in docks:
                    m.addAction(d.toggleViewAction())
            else:
                m.addAction(actions[k])
    tb = win.addToolBar("Main")
    tb.setObjectName("main_toolbar")
    for k in TOOLBAR:
        tb.addSeparator() if k is None else tb.addAction(actions[k])
    return actions, tb
