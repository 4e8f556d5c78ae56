"""Workflow 5: File > Export / Import through the dialogs, for every registered format,
with options; the re-imported project holds the same masks, as one undo step. The work runs
in a thread: the window keeps its heartbeat during a large-ish export, Cancel leaves nothing
behind, and a broken file is a one-line message with the project unchanged."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gui_helpers import Heartbeat, check_heartbeat, drag, spin, wait_for, wait_idle, wait_loaded


def run_dialog(dlg, timeout: float = 120.0) -> None:
    """Press the dialog's OK and wait for its thread (and, for imports, the apply) to end."""
    dlg._run()
    wait_for(lambda: not dlg.busy, timeout, f"the {dlg.mode}")

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
        run_dialog(dlg)
        assert dlg.result() == dlg.DialogCode.Accepted, f"{name}: {getattr(dlg, 'result_text', '')}"
        assert out.exists(), name
        expected = len(p.masks(item_id=item.id))

        target = Project.create(tmp_path / f"re_{name}.annotator")
        try:
            idlg = ImportDialog(target)
            idlg.fmt_combo.setCurrentIndex(idlg.fmt_combo.findData(name))
            idlg.path_edit.setText(str(out))
            run_dialog(idlg)
            assert idlg.result() == idlg.DialogCode.Accepted, name
            got = target.masks()
            assert len(got) == expected, name
            # the masks are the same pixels
            src = {r.frame: r.mask() for r in p.masks(item_id=item.id)}
            for r in got:
                assert np.array_equal(r.mask(), src[r.frame]) or name == "labelme", name
            # the whole import is one undo step
            assert target.undo() is not None and target.masks() == [] and target.items() == [], name
            assert not target.can_undo, name
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
    run_dialog(dlg)
    assert dlg.result() != dlg.DialogCode.Accepted
    title, text = errors.shown[-1]
    assert "squiggles" in text and "Traceback" not in text


# ----------------------------------------------------------------------------- off the GUI thread
N_TRACKS = 60


@pytest.fixture
def many_masks(make_window, frame_folder):
    """The 12-frame video with 60 objects on every frame: 720 distinct masks."""
    from annotator.core import rle

    win = make_window([str(frame_folder)])
    wait_loaded(win)
    p, item = win.project, win.item
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:item.height, :item.width]
    with p.group("setup"):
        for k in range(N_TRACKS):
            t = p.add_track(item.id)
            cx, cy, r = rng.uniform(60, item.width - 60), rng.uniform(60, item.height - 60), rng.uniform(15, 50)
            entries = [dict(track_id=t.id, frame=f, rle=rle.encode((xx - cx - 3 * f) ** 2 + (yy - cy) ** 2 < r * r),
                            source="manual") for f in range(item.num_frames)]
            p.set_masks(entries)
    assert len(p.masks()) == N_TRACKS * item.num_frames
    return win


def _export_dialog(win, name, out):
    win.export_dialog()
    dlg = win._transfers["export"]
    assert dlg.isVisible() and not dlg.isModal()
    dlg.fmt_combo.setCurrentIndex(dlg.fmt_combo.findData(name))
    dlg.path_edit.setText(str(out))
    return dlg


def test_large_export_keeps_the_window_responsive(many_masks, tmp_path):
    win = many_masks
    p = win.project
    out = tmp_path / "big.json"
    dlg = _export_dialog(win, "coco", out)
    dlg.option_edits["segmentation"].setText("polygon")  # the heavier path: contours per mask
    hb = Heartbeat()
    hb.start()
    dlg._run()
    assert dlg.busy and dlg.progress.isVisible()
    frames_seen = set()
    while dlg.busy:  # the person keeps stepping through the video meanwhile
        win.step_frame(1 if win.frame < win.item.num_frames - 1 else -win.frame)
        spin(30)
        if win._shown_key == win._key():
            frames_seen.add(win.frame)
        assert len(hb.late) < 30000, "export did not finish"
    hb.stop()
    assert dlg.result() == dlg.DialogCode.Accepted, dlg.status.text()
    assert win.transfer_dialog("export") is None
    assert dlg.progress.maximum() == len(p.masks()) and dlg.progress.value() == dlg.progress.maximum()
    assert len(frames_seen) >= 2, "the window did not show other frames during the export"
    doc = json.loads(out.read_text())
    assert len(doc["annotations"]) == N_TRACKS * win.item.num_frames
    assert len(doc["images"]) == win.item.num_frames
    # the written polygons cover the stored masks (pixel-exact outlines, tolerance 0)
    from annotator.core import rle

    img = {im["id"]: im for im in doc["images"]}
    ann = doc["annotations"][0]
    im = img[ann["image_id"]]
    poly = rle.decode(rle.from_polygons(ann["segmentation"], im["height"], im["width"]))
    best = max(float((poly & m).sum()) / float((poly | m).sum()) for m in (r.mask() for r in p.masks()))
    assert best > 0.9
    check_heartbeat(hb, f"COCO polygon export of {len(doc['annotations'])} masks")


def test_cancelled_export_writes_nothing(many_masks, tmp_path):
    win = many_masks
    out = tmp_path / "cancelled.json"
    dlg = _export_dialog(win, "coco", out)
    dlg.option_edits["segmentation"].setText("polygon")
    dlg._run()
    dlg.reject()  # Cancel while it runs: stops it; the dialog closes once the thread let go
    wait_for(lambda: not dlg.busy, 60, "the cancel")
    assert dlg.last_status == "cancelled"
    assert not out.exists() and not list(tmp_path.glob(".cancelled.json.*"))


def test_import_in_the_window_is_one_undo_step_and_errors_are_one_line(many_masks, tmp_path):
    from annotator.gui import errors

    win = many_masks
    p = win.project
    n = len(p.masks())
    out = tmp_path / "round.json"
    dlg = _export_dialog(win, "coco", out)
    run_dialog(dlg)
    assert out.exists()

    # a broken file: one line naming it, nothing changed
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [], "annotations": [}')
    win.import_dialog()
    idlg = win._transfers["import"]
    idlg.fmt_combo.setCurrentIndex(idlg.fmt_combo.findData("coco"))
    idlg.path_edit.setText(str(bad))
    run_dialog(idlg)
    title, text = errors.shown[-1]
    assert "broken.json" in text and "\n" not in text and "Traceback" not in text
    assert idlg.isVisible() and len(p.masks()) == n

    # the good file: the same video gets 60 more objects, in one undo step
    idlg.path_edit.setText(str(out))
    hb = Heartbeat()
    hb.start()
    idlg._run()
    assert win.importing
    click_blocked = win._edit_blocked()
    wait_for(lambda: not idlg.busy, 120, "the import")
    hb.stop()
    assert click_blocked, "edits must wait while an import is checked and applied"
    check_heartbeat(hb, f"COCO import of {n} masks (checked in a child process, applied in slices)")
    assert idlg.result() == idlg.DialogCode.Accepted, idlg.status.text()
    assert len(p.masks()) == 2 * n
    assert len(p.tracks(win.item.id)) == 2 * N_TRACKS
    assert {r.source for r in p.masks()} == {"manual", "imported"}
    win.undo()
    assert len(p.masks()) == n and len(p.tracks(win.item.id)) == N_TRACKS
    win.redo()
    assert len(p.masks()) == 2 * n


def test_in_thread_fallback_gives_the_same_export_and_plan(many_masks, tmp_path):
    """Where no child process can be started (a frozen build) the same work runs in the thread."""
    from annotator.gui.transfer import TransferThread

    win = many_masks
    out = tmp_path / "thread.json"
    got = []
    for spec in (dict(mode="export", project=str(win.project.path), format="coco", path=str(out), opts={}),
                 dict(mode="import", project=str(win.project.path), format="coco", path=str(out), opts={})):
        job = TransferThread(spec, in_process=True)
        job.succeeded.connect(got.append)
        job.failed.connect(got.append)
        job.start()
        wait_for(lambda: job.isFinished() and len(got) == (1 if spec["mode"] == "export" else 2), 120, spec["mode"])
        job.wait()
    summary, record = got
    assert isinstance(summary, str) and summary.startswith("Exported coco"), summary
    assert len(json.loads(out.read_text())["annotations"]) == N_TRACKS * win.item.num_frames
    assert record.masks == N_TRACKS * win.item.num_frames and record.tracks == N_TRACKS and record.items == 0
    assert len(win.project.masks()) == N_TRACKS * win.item.num_frames  # planning changed nothing
