"""One frame cache serves the display and the video engine of the real window."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from gui_helpers import drag, key, wait_for, wait_idle, wait_loaded


def test_display_and_propagation_decode_each_frame_once(qtbot, make_window, frame_folder, blackswan_gt):
    win = make_window([str(frame_folder)])
    wait_loaded(win, 30)
    win.activateWindow()
    ys, xs = np.nonzero(blackswan_gt)
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win, timeout=30)
    key(qtbot, win, Qt.Key.Key_P)
    wait_for(lambda: not win.propagating, 90, "propagation")
    (t,) = win.project.tracks(win.item.id)
    assert len(win.project.mask_frames(t.id)) == 12
    # the engine read its frames through the window's cache (engines/video.py open)...
    src = win.worker._video._src if hasattr(win.worker._video, "_src") else win.worker._video.source
    assert src.cache is win.cache
    # ...so every frame of the video is in it, decoded once although the display showed
    # (and read ahead) the frames the propagation also needed
    path = win.item.abspath
    assert all(win.cache.peek((path, "frames", f)) is not None for f in range(12))
    assert win.cache.decodes == 12
