"""Tools > Run on all items…: the batch runner from the window, in the background, with
progress and cancel; the window's project connection writes the results (issue 19)."""
from __future__ import annotations

import pytest

from annotator.batch import driver
from annotator.bench.batch import davis_project
from annotator.gui import batch_dialog
from gui_helpers import wait_for, wait_loaded

pytestmark = pytest.mark.timeout(600)


FOUR = ("blackswan", "bmx-trees", "car-shadow", "dog")


def _project(shared_data, tmp_path, seqs, frames=3):
    root = shared_data / "davis2016"
    if not root.is_dir():
        pytest.skip(f"shared DAVIS data not found at {root}")
    return davis_project(root, tmp_path, seqs, frames)


def _dialog(win, workers):
    win.actions["batch_run"].trigger()
    dlg = batch_dialog.dialog_of(win)
    dlg.job_combo.setCurrentIndex(dlg.job_combo.findData("propagate"))
    dlg.model_edit.setCurrentText("classic")
    dlg.workers.setValue(workers)
    return dlg


def test_run_on_all_items_propagates_every_video(make_window, shared_data, tmp_path):
    path = _project(shared_data, tmp_path, ("blackswan", "car-shadow"))
    win = make_window([str(path)])
    wait_loaded(win)
    dlg = _dialog(win, 2)
    assert dlg.start() and dlg.running and not dlg.start_button.isEnabled()
    wait_for(lambda: not dlg.running, 300, "the batch")
    assert dlg.progress.value() == dlg.progress.maximum() == 2
    assert dlg.status.text().startswith("Finished: 2/2 items, 0 failed")
    p = win.project
    recs = driver.records(p, "propagate")
    assert len(recs) == 2 and {r["status"] for r in recs.values()} == {"done"}
    for it in p.items():
        (t,) = p.tracks(it.id)
        assert p.mask_frames(t.id) == {0: "manual", 1: "propagated", 2: "propagated"}
    assert p.undo_label.startswith("Batch propagate")  # one undo step per item, in the window's history
    # the window shows what landed: the objects panel counts 3 masked frames
    wait_for(lambda: win.objects.item(0, 2) is not None and win.objects.item(0, 2).text() == "3", 30, "the refresh")
    # a second run skips what is done
    assert dlg.start()
    wait_for(lambda: not dlg.running, 60, "the second run")
    assert "2 already done" in dlg.status.text() and dlg.summary.done == 0


def test_cancel_keeps_finished_items(make_window, shared_data, tmp_path):
    # 1 worker keeps 2 items in flight: cancelled after the first, the 4th never starts
    # (items of 6 frames take long enough for the cancel to arrive first)
    path = _project(shared_data, tmp_path, FOUR, frames=6)
    win = make_window([str(path)])
    wait_loaded(win)
    dlg = _dialog(win, 1)
    assert dlg.start()
    wait_for(lambda: dlg.summary.done >= 1, 300, "the first item")
    dlg.cancel()
    wait_for(lambda: not dlg.running, 300, "the cancelled batch")
    s = dlg.summary
    assert s.interrupted and 1 <= s.done < 4 and s.failed == 0
    assert dlg.status.text().startswith("Cancelled:")
    p = win.project
    recs = driver.records(p, "propagate")
    assert len(recs) == s.done
    for it in p.items():  # finished items have their masks, the others none
        (t,) = p.tracks(it.id)
        assert len(p.mask_frames(t.id)) == (6 if it.id in recs else 1)
    assert p.integrity_ok()


def test_closing_the_project_mid_run_writes_the_items_in_flight(make_window, shared_data, tmp_path):
    from annotator.core.store import Project

    path = _project(shared_data, tmp_path, FOUR, frames=6)
    win = make_window([str(path)])
    wait_loaded(win)
    dlg = _dialog(win, 1)
    assert dlg.start()
    wait_for(lambda: dlg.summary.done >= 1, 300, "the first item")
    win.close_project()  # waits for the items in flight, writes them, then closes
    assert not dlg.running and win.project is None
    with Project.open(path, readonly=True) as p:
        recs = driver.records(p, "propagate")
        assert 1 <= len(recs) < 4 and len(recs) == dlg.summary.done
        for it in p.items():
            (t,) = p.tracks(it.id)
            assert len(p.mask_frames(t.id)) == (6 if it.id in recs else 1)
        assert p.integrity_ok()


def test_outcomes_wait_while_the_window_holds_an_undo_group(make_window, shared_data, tmp_path):
    """While a propagation or an import of the window is writing (one open undo step), a
    finished item is not written into that step: it waits, then lands as its own step."""
    path = _project(shared_data, tmp_path, ("blackswan", "car-shadow"))
    win = make_window([str(path)])
    wait_loaded(win)
    busy = [True]
    win._edits_wait = lambda: busy[0]
    dlg = _dialog(win, 2)
    assert dlg.start()
    wait_for(lambda: len(dlg._queue) == 2, 300, "both items to finish in the workers")
    assert driver.records(win.project, "propagate") == {} and dlg.running
    busy[0] = False
    wait_for(lambda: not dlg.running, 60, "the waiting items to be written")
    assert len(driver.records(win.project, "propagate")) == 2 and dlg.summary.done == 2
