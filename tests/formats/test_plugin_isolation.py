"""Bad plugins cannot take down built-in formats: loading is lazy, third-party plugins are
tried in a child with a time bound first, and a plugin may not shadow a built-in name."""
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from annotator.core.store import Project
from annotator.errors import FormatError
from annotator.formats import registry

FMT = '''
from annotator.formats.base import Format

class F(Format):
    name = {name!r}
    def export(self, project, out, item_ids=None, **opts):
        open(out, "w").write("plugin")

FORMAT = F()
'''


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    d = tmp_path / "plugins"
    d.mkdir()
    monkeypatch.setenv("ANNOTATOR_PLUGIN_PATH", str(d))
    monkeypatch.setenv("ANNOTATOR_PLUGIN_TIMEOUT", "3")
    registry.reload()
    yield d
    registry.reload()


def test_hanging_and_exiting_plugins_are_reported_and_skipped(plugin_dir):
    (plugin_dir / "loops.py").write_text("while True:\n    pass\n")
    (plugin_dir / "quits.py").write_text("import os\nos._exit(0)\n")
    (plugin_dir / "fine.py").write_text(textwrap.dedent(FMT.format(name="fine")))
    t0 = time.monotonic()
    names = {f.name for f in registry.list_formats()}
    assert time.monotonic() - t0 < 20
    assert {"coco", "sav", "fine"} <= names
    broken = {p.name: p.error for p in registry.broken_plugins()}
    assert set(broken) == {"loops", "quits"}
    assert "within 3 s" in broken["loops"] and "ended the process" in broken["quits"]


def test_builtin_formats_never_load_plugins(plugin_dir, tmp_path):
    (plugin_dir / "loops.py").write_text("while True:\n    pass\n")
    t0 = time.monotonic()
    assert registry.get_format("coco").name == "coco" and registry.get_format("sa-v").name == "sav"
    assert time.monotonic() - t0 < 2.5 and not registry._REG.loaded


@pytest.mark.parametrize("name", ["sa-v", "coco", "youtube-vis"])
def test_plugin_may_not_shadow_a_builtin_name_or_alias(plugin_dir, name):
    (plugin_dir / "shadow.py").write_text(textwrap.dedent(FMT.format(name=name)))
    assert registry.get_format(name).__module__.startswith("annotator.formats.")
    registry.list_formats()
    [bad] = registry.broken_plugins()
    assert bad.name == "shadow" and ("shadow" in bad.error or "built-in" in bad.error), bad.error


def test_export_with_a_killer_plugin_installed_still_writes(plugin_dir, tmp_path):
    (plugin_dir / "quits.py").write_text("import os\nos._exit(0)\n")
    (plugin_dir / "loops.py").write_text("while True:\n    pass\n")
    proj = tmp_path / "p.annotator"
    with Project.create(proj) as p:
        it = p.add_item(tmp_path / "a.png", "image", 8, 6)
        t = p.add_track(it.id)
        p.set_mask(t.id, 0, np.ones((6, 8), bool))
    out = tmp_path / "o.json"
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "annotator", "export", str(proj), "-f", "coco", "-o", str(out)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and json.loads(out.read_text())["annotations"], r.stderr
    r = subprocess.run([sys.executable, "-m", "annotator", "export", str(proj), "-f", "quits", "-o", str(out)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 2 and "quits is broken" in r.stderr and "ended the process" in r.stderr, r.stderr
    with pytest.raises(FormatError, match="unknown format"):
        registry.get_format("loops")
