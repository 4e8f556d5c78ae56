"""Fixtures for the GUI workflow tests: the real main window (offscreen), real media copied
into a temp folder, the classic engine, and helpers that drive the canvas with real mouse
events in image coordinates."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from annotator.gui import errors as gui_errors  # noqa: E402



def pytest_collection_modifyitems(config, items):
    here = str(__import__("pathlib").Path(__file__).parent)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def _no_modal_dialogs(monkeypatch):
    monkeypatch.setattr(gui_errors, "DIALOGS_ENABLED", False)
    gui_errors.shown.clear()
    yield


@pytest.fixture
def image_folder(shared_data, tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for name in ("images_truck.jpg", "images_groceries.jpg"):
        shutil.copy(shared_data / name, d / name)
    return d


@pytest.fixture
def frame_folder(shared_data, tmp_path) -> Path:
    """First 12 frames of DAVIS blackswan (854x480) as a frame folder."""
    src = shared_data / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    d = tmp_path / "blackswan"
    d.mkdir()
    for f in sorted(src.glob("*.jpg"))[:12]:
        shutil.copy(f, d / f.name)
    return d


@pytest.fixture
def blackswan_gt(shared_data) -> np.ndarray:
    from annotator.media import load_image

    m = load_image(shared_data / "davis2016" / "Annotations" / "480p" / "blackswan" / "00000.png")
    return m[..., 0] > 127


@pytest.fixture
def make_window(qtbot):
    from annotator.gui.main_window import MainWindow

    made = []

    def make(paths=(), engine="classic", weights=None):
        w = MainWindow(list(paths), engine=engine, weights=weights)
        qtbot.addWidget(w)
        w.resize(1100, 760)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.shutdown()


