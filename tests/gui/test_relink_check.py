"""Issue 14 item 3: relinking a missing video to media with another frame count or frame size
is refused before the store changes, and a missing item shows a placeholder, not the frame of
the item shown before it."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from gui_helpers import drag, wait_for, wait_idle, wait_loaded


def _clip(src: Path, dst: Path, n: int, scale: float = 1.0) -> Path:
    dst.mkdir()
    for f in sorted(src.glob("*.jpg"))[:n]:
        if scale == 1.0:
            shutil.copy(f, dst / f.name)
        else:
            img = cv2.imread(str(f))
            cv2.imwrite(str(dst / f.name), cv2.resize(img, None, fx=scale, fy=scale))
    return dst


def test_relink_refuses_other_frame_count_or_size_and_shows_a_placeholder(
        qtbot, make_window, frame_folder, image_folder, blackswan_gt, tmp_path):
    from annotator.gui import errors

    win = make_window([str(frame_folder)])
    wait_loaded(win, timeout=30)
    ys, xs = np.nonzero(blackswan_gt)
    drag(qtbot, win, (xs.min() - 8, ys.min() - 8), (xs.max() + 8, ys.max() + 8))
    wait_idle(win, timeout=30)
    win.open_paths([str(image_folder / "images_groceries.jpg")])
    wait_for(lambda: win.item is not None and win.item.kind == "image", 30, "the image item")
    path = Path(win.project.path)
    win.shutdown()

    moved = tmp_path / "moved"
    moved.mkdir()
    frame_folder.rename(moved / "blackswan")
    shorter = _clip(moved / "blackswan", tmp_path / "short", 8)
    smaller = _clip(moved / "blackswan", tmp_path / "small", 12, scale=0.5)

    win2 = make_window([str(path)])
    wait_loaded(win2, timeout=30)  # the image, where the view was left
    assert win2.item.kind == "image" and win2.canvas.has_image()
    video = next(i for i in win2.project.items() if i.kind == "frames")
    win2.go_item(video.id)
    # the missing video: a placeholder that says so, not the groceries photo
    assert not win2.canvas.has_image()
    assert "missing" in win2.canvas.placeholder and "blackswan" in win2.canvas.placeholder

    for other, why in ((shorter, "8 frame(s)"), (smaller, "427x240")):
        errors.shown.clear()
        win2.relink(video.id, str(other))
        assert any(why in text for _title, text in errors.shown), errors.shown
        item = win2.project.item(video.id)
        assert not item.exists and Path(item.abspath).name == "blackswan"  # the store is unchanged
    assert not win2.project.can_undo or "Relink" not in win2.project.undo_label

    errors.shown.clear()
    win2.relink(video.id, str(moved / "blackswan"))
    wait_loaded(win2, timeout=30)
    assert win2.item.exists and win2.canvas.has_image() and win2.canvas.placeholder == ""
    assert len(win2.project.masks()) == 1 and not errors.shown
