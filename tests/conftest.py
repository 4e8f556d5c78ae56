import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ANNOTATOR_SHARED", ROOT.parent / "shared")).resolve()
PARITY_DIR = Path(os.environ.get("PARITY_DIR", SHARED / "parity")).resolve()
DATA = SHARED / "data"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep tests out of the real user config/cache/log dirs."""
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("ANNOTATOR_HOME", str(base))
    yield


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture
def parity_dir() -> Path:
    if not PARITY_DIR.is_dir():
        pytest.skip(f"parity fixtures not found at {PARITY_DIR}")
    return PARITY_DIR


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """install_plugin(module_name, source): a plugin module in a folder on ANNOTATOR_PLUGIN_PATH,
    the plugin registry reloaded; after the test the path goes and the registry reloads again."""
    import textwrap

    from annotator.formats import registry

    folder = tmp_path / "plugins"

    def install(name: str, source: str) -> None:
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.setenv("ANNOTATOR_PLUGIN_PATH", str(folder))
        registry.reload()

    yield install
    monkeypatch.delenv("ANNOTATOR_PLUGIN_PATH", raising=False)
    registry.reload()
