import sys
import textwrap

import pytest

from annotator.errors import FormatError
from annotator.formats import registry


def test_builtin_and_bundled_formats():
    names = [f.name for f in registry.list_formats()]
    assert names[:6] == ["coco", "davis", "maskpng", "sav", "yolo", "ytvis"]
    assert "labelme" in names
    for f in registry.list_formats():
        assert isinstance(f.options, dict) and all(isinstance(v, str) for v in f.options.values())
        assert callable(f.export) and callable(f.load) and isinstance(tuple(f.extensions), tuple)
    # labelme really comes from the top-level plugins/ folder, through the plugin path
    [info] = [p for p in registry.plugins() if "format:labelme" in p.provides]
    assert info.ok and info.origin.replace("\\", "/").endswith("plugins/labelme_format")
    assert registry.broken_plugins() == []
    assert registry.get_format("COCO").name == "coco"
    assert registry.get_format("SA-V").name == "sav" and registry.get_format("youtube-vis").name == "ytvis"
    assert "[export] rle (default, exact) or polygon" == registry.get_format("coco").options["segmentation"]


def test_unknown_format():
    with pytest.raises(FormatError, match="unknown format 'xml'.*available: coco"):
        registry.get_format("xml")


GOOD = '''
from annotator.formats.base import Format

class Count(Format):
    name = "count"
    extensions = (".txt",)
    export_options = {}

    def export(self, project, out, item_ids=None, **opts):
        from pathlib import Path
        Path(out).write_text(str(project.counts()["masks"]))

def register(api):
    api.add_format(Count())
    api.add("engine", object())
'''


def test_folder_plugins_good_and_broken(tmp_path, monkeypatch, caplog):
    (tmp_path / "good_plugin.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "broken_import.py").write_text("import does_not_exist_anywhere\n")
    (tmp_path / "exits.py").write_text("raise SystemExit(3)\n")
    half = tmp_path / "half_broken"
    half.mkdir()
    (half / "__init__.py").write_text(textwrap.dedent('''
        from annotator.formats.coco import CocoFormat
        class Dup(CocoFormat):
            name = "dup_first"
        class Clash(CocoFormat):
            name = "coco"
        def register(api):
            api.add_format(Dup())
            api.add_format(Clash())   # name clash: the whole plugin is rolled back
    '''))
    (tmp_path / "nothing.py").write_text("x = 1\n")
    monkeypatch.setenv("ANNOTATOR_PLUGIN_PATH", str(tmp_path))
    registry.reload()
    names = {f.name for f in registry.list_formats()}
    assert {"coco", "sav", "ytvis", "davis", "labelme", "count"} <= names
    assert "dup_first" not in names
    broken = {p.name: p.error for p in registry.broken_plugins()}
    assert set(broken) == {"broken_import", "exits", "half_broken", "nothing"}
    assert "does_not_exist_anywhere" in broken["broken_import"]
    assert "already provided" in broken["half_broken"]
    assert "neither register" in broken["nothing"]
    assert all("\n" not in e for e in broken.values())
    assert "broken and was skipped" in caplog.text
    assert len(registry.extras("engine")) == 1
    with pytest.raises(FormatError, match="plugin nothing is broken"):
        registry.get_format("nothing")


def test_entry_point_plugins(tmp_path, monkeypatch):
    (tmp_path / "ep_fmt_mod.py").write_text(textwrap.dedent(GOOD).replace('"count"', '"epcount"'))
    dist = tmp_path / "ep_fmt-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-fmt\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[annotator.plugins]\nepcount = ep_fmt_mod\nbroken_ep = no_such_module_xyz:thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.reload()
    assert registry.get_format("epcount").name == "epcount"
    [bad] = [p for p in registry.broken_plugins() if p.name == "broken_ep"]
    assert "no_such_module_xyz" in bad.error and bad.origin.startswith("entry point")
    sys.modules.pop("ep_fmt_mod", None)


def test_cli_lists_formats_with_plugin(tmp_path, monkeypatch, capsys):
    from annotator.cli import main

    assert main(["formats"]) == 0
    out = capsys.readouterr().out
    assert "labelme" in out and "segmentation" in out
