"""An engine a plugin adds is picked in the window's model combo like a built-in one, and a
box then gives that engine's mask (issue 13: plugin engines were collected but unused)."""
from __future__ import annotations


import numpy as np
import pytest

from gui_helpers import drag, wait_for, wait_idle, wait_loaded

PLUGIN = '''
import numpy as np
from annotator.engines.protocols import Prediction


class ExactBox:
    """The mask is the prompt box itself, so the test knows every pixel to expect."""

    def set_image(self, rgb):
        self.shape = rgb.shape[:2]

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        m = np.zeros(self.shape, bool)
        if box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            m[y0:y1, x0:x1] = True
        return Prediction(m[None], np.ones(1, np.float32), None)


class Spec:
    name = "exactbox"
    image_session = ExactBox


def register(api):
    api.add("engine", Spec())
'''


@pytest.fixture
def exactbox(install_plugin):
    install_plugin("exactbox_plugin", PLUGIN)
    return "exactbox"


def test_plugin_engine_chosen_in_the_combo_segments_a_box(qtbot, make_window, image_folder, exactbox):
    win = make_window([str(image_folder / "images_truck.jpg")])
    wait_loaded(win, timeout=30)
    combo = win.model_combo
    wait_for(lambda: combo.findData(exactbox) >= 0, timeout=30, what="the plugin engine in the model combo")
    assert combo.findData("classic") >= 0  # listed beside the built-in ones
    i = combo.findData(exactbox)
    combo.setCurrentIndex(i)
    combo.activated.emit(i)  # what picking it with the mouse sends
    wait_for(lambda: win.status_engine.text().startswith(f"Engine: {exactbox} "), timeout=30,
             what="the plugin engine to load")

    win.activateWindow()
    win.canvas.setFocus()
    drag(qtbot, win, (100, 80), (300, 240))
    p, item = win.project, win.item
    wait_for(lambda: len(p.tracks(item.id)) == 1 and p.mask(p.tracks(item.id)[0].id, 0) is not None,
             timeout=30, what="the plugin engine's mask")
    wait_idle(win, timeout=30)
    rec = p.mask(p.tracks(item.id)[0].id, 0)
    m = rec.mask()
    ys, xs = np.nonzero(m)
    # the stored box is what the canvas sent; the mask is exactly that box (the engine's rule)
    x0, y0, x1, y1 = (int(round(v)) for v in rec.prompts.box)
    assert abs(x0 - 100) <= 2 and abs(y0 - 80) <= 2 and abs(x1 - 300) <= 2 and abs(y1 - 240) <= 2
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
    assert m.sum() == (x1 - x0) * (y1 - y0)
    assert rec.model == exactbox
