"""Workflow 5: File > Export / Import through the dialogs, for every registered format,
with options; the re-imported project holds the same masks."""
from __future__ import annotations

import numpy as np
import pytest

from gui_helpers import drag, wait_for, wait_idle, wait_loaded

IMAGE_FORMATS = {"coco": "out.json", "labelme": "labelme_out"}
VIDEO_FORMATS = {"sav": "clip_manual.json", "ytvis": "ytvis.json", "davis": "davis_out"}


@pytest.fixture
def annotated(qtbot, make_window, frame_folder, image_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    ys, xs = np.nonzero(blackswan_gt)
    win.choose_label("swan")
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win)
    assert win.start_propagation("forward")
    wait_for(lambda: not win.propagating, 60, "propagation")
    video = win.item
    win.open_paths([str(image_folder / "images_groceries.jpg")])
    wait_for(lambda: win.item is not None and win.item.kind == "image", 20, "image item")
    wait_loaded(win)
    win.commit_object()
    win.choose_label("bag")
    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win)
    return win, video, win.item


def _formats(mode):
    from annotator.formats.registry import list_formats

    return {f.name: f for f in list_formats() if getattr(f, "can_export" if mode == "export" else "can_import", True)}


def test_export_then_import_every_format(annotated, tmp_path):
    from annotator.core.store import Project
    from annotator.gui.dialogs import ExportDialog, ImportDialog

    win, video, image = annotated
    p = win.project
    names = set(_formats("export"))
    assert {"coco", "sav", "ytvis", "davis"} <= names
    checked = []
    for name in sorted(names):
        if name in IMAGE_FORMATS:
            item, out = image, tmp_path / "exp" / name / IMAGE_FORMATS[name]
        elif name in VIDEO_FORMATS:
            item, out = video, tmp_path / "exp" / name / VIDEO_FORMATS[name]
        else:
            continue  # a plugin format this test does not know how to check
        out.parent.mkdir(parents=True, exist_ok=True)
        dlg = ExportDialog(p, item.id)
        dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData(name))
        assert set(dlg.option_edits) == set(dlg.fmt.export_options)  # every option has a field
        dlg.path_edit.setText(str(out))
        dlg.only_current.setChecked(True)
        dlg._run()
        assert dlg.result() == dlg.DialogCode.Accepted, f"{name}: {getattr(dlg, 'result_text', '')}"
        assert out.exists(), name
        expected = len(p.masks(item_id=item.id))

        target = Project.create(tmp_path / f"re_{name}.annotator")
        try:
            idlg = ImportDialog(target)
            idlg.fmt_combo.setCurrentIndex(idlg.fmt_combo.findData(name))
            idlg.path_edit.setText(str(out))
            idlg._run()
            assert idlg.result() == idlg.DialogCode.Accepted, name
            got = target.masks()
            assert len(got) == expected, name
            # the masks are the same pixels
            src = {r.frame: r.mask() for r in p.masks(item_id=item.id)}
            for r in got:
                assert np.array_equal(r.mask(), src[r.frame]) or name == "labelme", name
        finally:
            target.close()
        checked.append(name)
    assert {"coco", "sav", "ytvis", "davis"} <= set(checked)
    assert "labelme" in checked or "labelme" not in names


def test_export_option_errors_are_messages(qtbot, make_window, image_folder, tmp_path):
    from annotator.gui import errors
    from annotator.gui.dialogs import ExportDialog

    win = make_window([str(image_folder / "images_groceries.jpg")])
    wait_loaded(win)
    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win)
    dlg = ExportDialog(win.project, win.item.id)
    dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData("coco"))
    dlg.option_edits["segmentation"].setText("squiggles")
    dlg.path_edit.setText(str(tmp_path / "x.json"))
    dlg._run()
    assert dlg.result() != dlg.DialogCode.Accepted
    title, text = errors.shown[-1]
    assert "squiggles" in text and "Traceback" not in text
