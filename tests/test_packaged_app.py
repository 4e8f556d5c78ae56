"""Smoke test of the one-folder app (packaging/build_app.sh): the built `annotator` lists the
cards it carries, segments an image with the classic engine, and the GUI starts offscreen.
Building takes 1.5-5.5 min on a loaded 2-core machine, so the build runs only when
ANNOTATOR_BUILD_APP=1; an existing dist/annotator/ is tested as it is."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dist" / "annotator" / "annotator"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app():
    if os.environ.get("ANNOTATOR_BUILD_APP") == "1":
        subprocess.run(["bash", str(ROOT / "packaging" / "build_app.sh")], check=True, timeout=1800)
    if not APP.is_file():
        pytest.skip("no dist/annotator/ (build it: ANNOTATOR_BUILD_APP=1 or packaging/build_app.sh)")
    return APP


def test_bundle_segments_and_starts(app, tmp_path, shared_data):
    env = dict(os.environ, ANNOTATOR_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    env.pop("ANNOTATOR_CARDS_DIR", None)
    out = subprocess.run([str(app), "models", "list"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    mobilesam = next(line for line in out.stdout.splitlines() if line.startswith("mobilesam "))
    assert " yes " in mobilesam  # the bundled nn/ code builds it
    mask = tmp_path / "mask.png"
    out = subprocess.run([str(app), "segment", "--model", "classic", "--box", "505,172,582,340", "-o", str(mask),
                          str(shared_data / "images_groceries.jpg")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "model classic" in out.stdout + out.stderr and mask.stat().st_size > 0
    # the GUI: still running after a few seconds (killed by the timeout), no traceback
    gui = subprocess.run(["timeout", "12", str(app)], capture_output=True, text=True, env=env, timeout=120)
    assert gui.returncode == 124, (gui.returncode, gui.stderr[-2000:])
    assert "Traceback" not in gui.stderr and (ROOT / "dist" / "annotator" / "annotator.desktop").is_file()
