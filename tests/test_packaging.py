"""The wheel carries the model cards, resources and bundled plugins; an install outside the
checkout finds them with no environment variable."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from annotator import paths

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("annotator", "models", "resources", "plugins", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def test_resource_helper_finds_shipped_files_and_refuses_escapes():
    assert paths.resource("icons/annotator.svg").read_text().lstrip().startswith("<svg")
    assert paths.resource("styles/app.qss").is_file()
    assert paths.resource("samples/shapes.png").stat().st_size > 1000
    for bad in ("../pyproject.toml", "icons/none.svg", "/etc/passwd"):
        with pytest.raises(FileNotFoundError, match="no such resource"):
            paths.resource(bad)


def test_cards_come_from_the_checkout_without_env(monkeypatch):
    monkeypatch.delenv("ANNOTATOR_CARDS_DIR", raising=False)
    assert (paths.cards_dir() / "edgesam.yaml").is_file()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:  # a copy, so the build leaves nothing in the checkout
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "_data"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, cwd=src)
    (whl,) = out.glob("annotator-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_lists_every_card_and_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    cards = {p.name for p in (ROOT / "models").glob("*.yaml")}
    assert cards and {f"annotator/_data/models/{c}" for c in cards} <= names
    for r in ("icons/annotator.svg", "styles/app.qss", "samples/shapes.png"):
        assert f"annotator/_data/resources/{r}" in names
    assert "annotator/_data/plugins/labelme_format/__init__.py" in names  # README: labelme is a format
    assert not any("__pycache__" in n for n in names)


@pytest.mark.slow
def test_installed_wheel_lists_models_and_segments_without_env(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNOTATOR_CARDS")}
    env["PYTHONPATH"] = str(target)
    env["ANNOTATOR_HOME"] = str(tmp_path / "home")
    run = dict(cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    where = subprocess.run([sys.executable, "-c", "import annotator, annotator.paths as p; "
                            "print(annotator.__file__); print(p.cards_dir())"], **run)
    assert where.returncode == 0, where.stderr
    mod_file, cards = where.stdout.split()
    assert Path(mod_file).is_relative_to(target) and Path(cards).is_relative_to(target)
    listed = subprocess.run([sys.executable, "-m", "annotator", "models", "list"], **run)
    assert listed.returncode == 0, listed.stderr
    for name in ("edgesam", "edgetam", "sam2.1_hiera_tiny"):
        assert name in listed.stdout
    out = tmp_path / "mask.png"
    seg = subprocess.run([sys.executable, "-m", "annotator", "segment", str(paths.resource("samples/shapes.png")),
                          "--model", "classic", "--point", "130,150", "-o", str(out)], **run)
    assert seg.returncode == 0, seg.stderr
    fmts = subprocess.run([sys.executable, "-c", "from annotator.formats import registry as r; "
                           "print([f.name for f in r.list_formats()], r.broken_plugins())"], **run)
    assert fmts.returncode == 0 and "'labelme'" in fmts.stdout and fmts.stdout.rstrip().endswith("[]"), fmts
    assert out.stat().st_size > 0
