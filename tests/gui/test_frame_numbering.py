"""One frame numbering everywhere: the window counts frames from 0, as the timeline, the CLI and
every export do (issue 14, item 7)."""
from annotator.gui.dialogs import FrameRangeDialog
from gui_helpers import wait_loaded


def test_the_frame_label_counts_from_zero(qtbot, make_window, frame_folder):
    win = make_window([str(frame_folder)])
    wait_loaded(win)
    assert win.item.num_frames == 12
    assert win.frame == 0 and win.frame_label.text() == "Frame 0 of 0-11"
    win.step_frame(1)
    qtbot.waitUntil(lambda: win.frame_label.text() == "Frame 1 of 0-11", timeout=5000)


def test_the_frame_range_dialog_takes_and_returns_frame_numbers(qtbot):
    dlg = FrameRangeDialog(12, current=3)
    qtbot.addWidget(dlg)
    assert (dlg.first.minimum(), dlg.first.maximum()) == (0, 11)
    assert dlg.range() == (3, 11)  # from the current frame to the last one, as shown
    dlg.first.setValue(0)
    dlg.last.setValue(0)
    assert dlg.range() == (0, 0)
