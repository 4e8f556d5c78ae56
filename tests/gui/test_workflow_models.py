"""Workflow 6: the model picker and the model manager. Import a checkpoint file through the
manager (a randomly initialised MobileSAM saved in the official layout), verify it, switch
to it from the picker and keep every annotation; switching back works too."""
from __future__ import annotations

import pytest

from PySide6.QtCore import Qt

from gui_helpers import click, drag, key, wait_for, wait_idle, wait_loaded


@pytest.fixture
def random_mobilesam(tmp_path):
    torch = pytest.importorskip("torch")
    from annotator.engines import registry
    from annotator.nn import factory

    card = registry.get_card("mobilesam")
    torch.manual_seed(0)
    model = factory.build(dict(card.arch))
    f = tmp_path / "my_mobile_sam.pt"
    torch.save(model.state_dict(), f)
    return f


def test_picker_and_manager_switch_keeps_annotations(qtbot, make_window, image_folder, random_mobilesam):
    from annotator.engines import registry
    from annotator.gui.models_dialog import ModelManagerDialog

    win = make_window([str(image_folder)])
    wait_loaded(win)
    combo = [win.model_combo.itemData(i) for i in range(win.model_combo.count())]
    assert combo[0] == "classic" and "mobilesam" not in combo
    wait_for(lambda: win.status_engine.text().startswith("Engine: classic ·"), 20, "classic engine")

    drag(qtbot, win, (505, 175), (580, 340))
    wait_idle(win)
    p = win.project
    before = [(r.track_id, r.frame, r.rle["counts"], r.model) for r in p.masks()]
    assert len(before) == 1 and before[0][3] == "classic"

    dlg = ModelManagerDialog(win)
    qtbot.addWidget(dlg)
    wait_for(lambda: dlg.idle, 120, "the model list")
    assert dlg.table.rowCount() == len(registry.load_cards()) + 1
    dlg.select("mobilesam")
    assert dlg.btn_download.isEnabled() and not dlg.btn_verify.isEnabled()
    # the random file is not the published one: refused unless the person says so
    dlg.import_file("mobilesam", str(random_mobilesam))
    wait_for(lambda: dlg.idle, 120, "import check")
    assert dlg.last_result[0] is False and "sha256" in dlg.last_result[1]
    assert registry.installed_path(registry.get_card("mobilesam")) is None
    dlg.import_file("mobilesam", str(random_mobilesam), allow_checksum_mismatch=True)
    wait_for(lambda: dlg.idle, 120, "import")
    assert dlg.last_result[0] is True, dlg.last_result
    assert registry.installed_path(registry.get_card("mobilesam")) is not None
    dlg.select("mobilesam")
    dlg.verify()
    wait_for(lambda: dlg.idle, 60, "verify")
    assert dlg.last_result[0] is False and "does not match" in dlg.last_result[1]  # honest: it is not official
    chosen = []
    dlg.modelChosen.connect(lambda n: (chosen.append(n), win.refresh_engines(), win.set_engine(n)))
    dlg.select("mobilesam")
    assert dlg.btn_use.isEnabled()
    dlg.use()
    assert chosen == ["mobilesam"]
    combo = [win.model_combo.itemData(i) for i in range(win.model_combo.count())]
    assert "mobilesam" in combo and win.model_combo.currentData() == "mobilesam"
    wait_for(lambda: win.status_engine.text().startswith("Engine: mobilesam") and "·" in win.status_engine.text(), 120, "mobilesam engine")

    # all annotations are still there, untouched
    assert [(r.track_id, r.frame, r.rle["counts"], r.model) for r in p.masks()] == before
    # the next object is segmented by the new model
    win.commit_object()
    drag(qtbot, win, (370, 170), (445, 340))
    wait_idle(win, timeout=120)
    new = [r for r in p.masks() if r.track_id != before[0][0]]
    assert len(new) == 1 and new[0].model == "mobilesam"

    # one ambiguous click gives several candidates; M cycles them (one undo step each)
    win.commit_object()
    click(qtbot, win, 640, 420)
    wait_idle(win, timeout=120)
    ps = win.prompt
    k = len(ps.candidates.rles)
    assert k == 3
    first = p.mask(ps.track_id, 0).rle["counts"]
    win.activateWindow()
    key(qtbot, win, Qt.Key.Key_M)
    assert ps.choice == (ps.candidates.best + 1) % k
    assert p.mask(ps.track_id, 0).rle["counts"] == ps.candidates.rles[ps.choice]["counts"]
    win.undo()
    assert p.mask(ps.track_id, 0).rle["counts"] == first
    p.delete_track(ps.track_id)

    # the next image was encoded ahead while the person worked: switching to it and
    # clicking runs no encoder
    sess = win.worker._image
    wait_for(lambda: sess.encoder_runs >= 2, 120, "encode ahead of the next image")
    runs = sess.encoder_runs
    win.commit_object()
    win.step_item(1)
    wait_loaded(win)
    assert win.item.name == "images_truck.jpg"
    click(qtbot, win, 900, 600)
    wait_idle(win, timeout=120)
    assert sess.encoder_runs == runs
    p.delete_track(win.prompt.track_id)

    # back to classic from the picker
    win.model_combo.setCurrentIndex(win.model_combo.findData("classic"))
    win.model_combo.activated.emit(win.model_combo.currentIndex())
    wait_for(lambda: win.status_engine.text().startswith("Engine: classic ·"), 20, "classic again")
    assert len(p.masks()) == 2
    assert win.settings["default_model"] == "classic"


def test_broken_checkpoint_import_is_a_message(qtbot, make_window, tmp_path):
    from annotator.gui import errors
    from annotator.gui.models_dialog import ModelManagerDialog

    bad = tmp_path / "edge_sam.pth"
    bad.write_bytes(b"\x00" * 1000)
    win = make_window()
    dlg = ModelManagerDialog(win)
    qtbot.addWidget(dlg)
    wait_for(lambda: dlg.idle, 120, "the model list")
    dlg.import_file("edgesam", str(bad), allow_checksum_mismatch=True)
    wait_for(lambda: dlg.idle, 60, "import")
    assert dlg.last_result[0] is False
    title, text = errors.shown[-1]
    assert "edge_sam.pth" in text and "Traceback" not in text
