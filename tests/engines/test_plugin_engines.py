"""An engine a plugin contributes (api.add("engine", spec)) is listed and created like the
built-in ones: engine_names, create_image_session, `annotator models list`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.errors import ModelNotAvailableError

PLUGIN = '''
import numpy as np
from annotator.engines.protocols import Prediction


class BoxFill:
    """Segments exactly the prompt box (or a 9x9 square around the first click)."""

    name = "boxfill"

    def set_image(self, rgb):
        self.shape = rgb.shape[:2]

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        if box is None:
            x, y = points[0]
            box = (x - 4, y - 4, x + 5, y + 5)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        m = np.zeros(self.shape, bool)
        m[y0:y1, x0:x1] = True
        return Prediction(m[None], np.ones(1, np.float32), None)


class Spec:
    name = "boxfill"
    image_session = BoxFill


class Clash:
    name = "classic"  # taken: skipped with a warning
    image_session = BoxFill


def register(api):
    api.add("engine", Spec())
    api.add("engine", Clash())
'''


@pytest.fixture
def plugin_engine(install_plugin):
    install_plugin("boxfill_plugin", PLUGIN)
    return "boxfill"


def test_plugin_engine_is_listed_and_created(plugin_engine, caplog):
    from annotator.engines import registry

    assert plugin_engine in registry.engine_names("image")
    assert plugin_engine not in registry.engine_names("video")  # no video_session
    assert registry.engine_names("image").count("classic") == 1
    assert "already taken" in caplog.text
    assert registry.default_engine_name("image") != plugin_engine  # never the default
    s = registry.create_image_session(plugin_engine)
    s.set_image(np.zeros((40, 50, 3), np.uint8))
    m = s.predict(box=np.array([10, 5, 30, 25], np.float32)).mask
    assert m.shape == (40, 50) and m.sum() == 20 * 20 and m[5:25, 10:30].all()
    with pytest.raises(ModelNotAvailableError, match="boxfill has no video mode"):
        registry.create_video_session(plugin_engine)
    assert "plugin image engine boxfill" in registry.describe_engine_choice("image", plugin_engine)


def test_models_list_shows_plugin_engines(plugin_engine, capsys):
    from annotator.cli import main

    assert main(["models", "list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(plugin_engine))
    assert "image" in line and "(plugin engine)" in line
    assert main(["models", "list", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"name": plugin_engine, "kinds": ["image"]} in out["plugin_engines"]


def test_without_the_plugin_there_is_no_such_engine():
    from annotator.engines import registry

    assert "boxfill" not in registry.engine_names("image")
    with pytest.raises(Exception):
        registry.create_image_session("boxfill")
