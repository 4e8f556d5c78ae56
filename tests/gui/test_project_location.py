"""Issue 14 item 6: the window says where the project file lives, new projects go beside
the media unless the person asked to choose, File > Recent Projects lists them, and a plain
start reopens the last project (a setting, on by default)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from gui_helpers import wait_for, wait_loaded


def test_project_place_is_shown_and_the_last_project_reopens(qtbot, make_window, image_folder):
    win = make_window([str(image_folder)])
    wait_loaded(win, timeout=30)
    path = Path(win.project.path).resolve()
    assert path.parent == image_folder.resolve()  # beside the media, by default
    assert path.name in win.recent.status.text() and win.recent.status.isVisible()
    assert str(path) in win.recent.status.toolTip()
    assert path.name in win.windowTitle() and str(path.parent) in win.windowTitle()
    win.shutdown()

    # a plain start: the same project again, at the same item
    win2 = make_window()
    wait_for(lambda: win2.project is not None, 30, "the last project to reopen")
    assert Path(win2.project.path).resolve() == path
    # File > Recent Projects lists it, and picking it is what opens it
    win2.recent.fill_menu()
    entries = [a for a in win2.recent.menu.actions() if a.text() == str(path)]
    assert entries and entries[0].isEnabled()
    file_menu = win2.menuBar().actions()[0].menu()
    assert win2.recent.menu.menuAction() in file_menu.actions()
    win2.shutdown()

    # with the setting off, a plain start opens nothing
    win3 = make_window()
    win3.recent.reopen_action.setChecked(False)
    win3.shutdown()
    win4 = make_window()
    qtbot.wait(300)
    assert win4.project is None


def test_asking_where_a_new_project_goes(qtbot, make_window, image_folder, tmp_path, monkeypatch):
    chosen = tmp_path / "elsewhere" / "mine"
    chosen.parent.mkdir()
    asked = []

    def fake_save(parent, caption, start, filt):
        asked.append(start)
        return str(chosen), filt

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(fake_save))
    win = make_window()
    win.recent.ask_action.setChecked(True)
    win.open_paths([str(image_folder / "images_truck.jpg")])
    wait_loaded(win, timeout=30)
    assert asked and Path(asked[0]).parent == image_folder  # the default it suggests: beside the media
    assert Path(win.project.path) == chosen.with_suffix(".annotator")
    assert str(chosen.with_suffix(".annotator")) in win.recent.status.toolTip()
    assert str(chosen.parent) in win.windowTitle()
