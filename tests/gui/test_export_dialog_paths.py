"""Export never keeps another format's path and never replaces a file without asking
(issue 14, item 2)."""
import json
from pathlib import Path

from annotator.gui import errors as gui_errors
from gui_helpers import wait_for, wait_loaded


def _dialog(win, name):
    win.export_dialog()
    dlg = win._transfers["export"]
    dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData(name))
    return dlg


def test_each_format_gets_its_own_path_and_replacing_asks(make_window, image_folder, monkeypatch):
    win = make_window([str(image_folder)])
    wait_loaded(win)
    proj = Path(win.project.path)
    dlg = _dialog(win, "coco")
    coco = dlg.path_edit.text()
    assert coco == str(proj.parent / f"{proj.stem}_coco.json")
    dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData("sav"))
    assert dlg.path_edit.text() != coco and dlg.path_edit.text().startswith(str(proj.parent / f"{proj.stem}_sav"))
    dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData("coco"))
    assert dlg.path_edit.text() == coco

    Path(coco).write_text("keep me")
    monkeypatch.setattr(gui_errors, "ASK_ANSWER", False)
    dlg._run()
    assert not dlg.busy and Path(coco).read_text() == "keep me"
    assert gui_errors.shown[-1][0] == "Replace?" and coco in gui_errors.shown[-1][1]

    monkeypatch.setattr(gui_errors, "ASK_ANSWER", True)
    dlg._run()
    wait_for(lambda: not dlg.busy, 30, "export")
    assert "images" in json.loads(Path(coco).read_text())
    # the next export dialog remembers this path for coco, and suggests a fresh one for labelme
    dlg2 = _dialog(win, "labelme")
    assert dlg2.path_edit.text() == str(proj.parent / f"{proj.stem}_labelme")
    dlg2.fmt_combo.setCurrentIndex(dlg2.fmt_combo.findData("coco"))
    assert dlg2.path_edit.text() == coco
