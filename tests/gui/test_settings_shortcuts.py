"""Settings persist in the YAML file in the user config dir (opacity, default model, last
folder, window layout), shortcuts can be remapped there, and Help > Shortcuts lists them."""
from __future__ import annotations

import yaml
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from gui_helpers import key, wait_loaded


def test_settings_persist_and_shortcuts_are_configurable(qtbot, make_window, image_folder):
    from annotator.gui.settings import Settings, settings_path

    win = make_window([str(image_folder)])
    wait_loaded(win)
    win.set_opacity(0.8)
    win.actions["toggle_outlines"].trigger()
    win.close()
    data = yaml.safe_load(settings_path().read_text())
    assert data["opacity"] == 0.8 and data["outlines_only"] is True
    assert data["default_model"] == "classic"
    assert data["last_folder"] == str(image_folder)
    assert data["window"]["geometry"] and data["window"]["state"]
    assert data["shortcuts"]["commit"] == "Return;N"  # every shortcut is written out to be edited

    # remap "commit" to C and the brush to Ctrl+B by editing the file
    data["shortcuts"]["commit"] = "C"
    data["shortcuts"]["tool_brush"] = ["Ctrl+B"]
    settings_path().write_text(yaml.safe_dump(data))
    assert Settings().shortcut("commit") == ["C"]
    win2 = make_window()
    assert win2.canvas.opacity == 0.8 and win2.canvas.outlines_only
    assert [s.toString() for s in win2.actions["commit"].shortcuts()] == ["C"]
    assert [s.toString() for s in win2.actions["tool_brush"].shortcuts()] == ["Ctrl+B"]
    win2.activateWindow()
    qtbot.waitUntil(win2.isActiveWindow, timeout=3000)
    key(qtbot, win2, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    assert win2.canvas.tool == "brush"

    from annotator.gui.dialogs import ShortcutsDialog

    dlg = ShortcutsDialog(win2.settings, win2)
    qtbot.addWidget(dlg)
    rows = {dlg.table.item(i, 0).text(): dlg.table.item(i, 1).text() for i in range(dlg.table.rowCount())}
    assert rows["Commit the object and start the next one"] == QKeySequence("C").toString(
        QKeySequence.SequenceFormat.NativeText)
    assert "Negative point" in rows and "Pan" in rows


def test_broken_settings_file_falls_back_to_defaults(make_window):
    from annotator.gui.settings import Settings, settings_path

    settings_path().write_text("opacity: [unclosed\n")
    s = Settings()
    assert s["opacity"] == 0.5 and s.shortcut("undo") == ["Ctrl+Z"]
    win = make_window()
    assert win.canvas.opacity == 0.5


def test_gui_subcommand_is_registered():
    from annotator.cli import build_parser

    args = build_parser().parse_args(["gui", "a.jpg", "clip.mp4", "--engine", "classic"])
    assert args.paths == ["a.jpg", "clip.mp4"] and args.engine == "classic" and callable(args.func)
