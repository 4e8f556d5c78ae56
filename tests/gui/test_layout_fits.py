"""Issue 14 item 8: at 1280x800, starting a propagation does not squeeze the side panels
(the progress widgets appearing leave the docks as they were), and a saved layout that no
longer fits the window is reset to the default one."""
from __future__ import annotations

import numpy as np

from gui_helpers import drag, spin, wait_for, wait_idle, wait_loaded


def _dock_widths(win):
    return (win.files_dock.width(), win.objects_dock.width())


def test_propagation_progress_leaves_the_docks_alone(qtbot, make_window, frame_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    win.resize(1280, 800)
    wait_loaded(win, timeout=30)
    spin(300)
    before = _dock_widths(win)
    ys, xs = np.nonzero(blackswan_gt)
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win, timeout=30)
    assert win.start_propagation("forward")
    wait_for(lambda: win.prop_progress.isVisible(), 30, "the progress bar")
    spin(300)
    during = _dock_widths(win)
    wait_for(lambda: not win.propagating, 120, "propagation")
    spin(300)
    after = _dock_widths(win)
    assert during == before and after == before


def test_a_saved_layout_with_squeezed_panels_is_reset(qtbot, make_window, image_folder):
    from PySide6.QtCore import Qt

    win = make_window([str(image_folder / "images_truck.jpg")])
    win.resize(1280, 800)
    wait_loaded(win, timeout=30)
    spin(300)
    # what a squeezed session leaves behind: both panels at their narrowest
    win.resizeDocks([win.files_dock, win.objects_dock], [10, 10], Qt.Orientation.Horizontal)
    spin(300)
    squeezed = _dock_widths(win)
    win.shutdown()
    assert win.layout_keeper.dropped_state

    # the next start, in a bigger window: the panels get their default room back
    win2 = make_window([str(image_folder / "images_truck.jpg")])
    win2.resize(1600, 1000)
    wait_loaded(win2, timeout=30)
    spin(500)
    files_w, objects_w = _dock_widths(win2)
    assert files_w >= 120 and objects_w >= 220
    assert files_w > squeezed[0] and objects_w > squeezed[1]


def _window_at_saved_size(qtbot, image_folder):
    from annotator.gui.main_window import MainWindow

    win = MainWindow([str(image_folder / "images_truck.jpg")], engine="classic")  # no resize: as saved
    qtbot.addWidget(win)
    win.show()
    wait_loaded(win, timeout=30)
    spin(500)
    return win


def test_a_layout_that_fits_is_saved(qtbot, make_window, image_folder):
    from PySide6.QtCore import Qt

    win = make_window([str(image_folder / "images_truck.jpg")])
    wait_loaded(win, timeout=30)
    win.resizeDocks([win.files_dock, win.objects_dock], [200, 260], Qt.Orientation.Horizontal)
    spin(300)
    win.shutdown()
    assert not win.layout_keeper.dropped_state and win.settings["window"]["state"]


def test_a_saved_window_larger_than_the_screen_is_reset(qtbot, make_window, image_folder):
    win = make_window([str(image_folder / "images_truck.jpg")])
    avail = win.screen().availableGeometry()
    win.resize(avail.width() + 600, avail.height() + 400)  # saved on a bigger monitor
    wait_loaded(win, timeout=30)
    win.shutdown()
    win2 = _window_at_saved_size(qtbot, image_folder)
    try:
        g = win2.frameGeometry()  # the default size (90% of the screen, or the window's minimum)
        assert g.width() <= max(avail.width(), 900) and g.height() <= avail.height()
    finally:
        win2.shutdown()
