"""Issue 11.6 / 12.4: names from files never become paths outside -o; paths written into
annotation files are portable (relative, never climbing)."""
import json
import os

import numpy as np
import pytest

from annotator.core.store import Project
from annotator.formats.export_paths import NameSet, inside, is_portable, portable_ref, safe_name
from annotator.formats.registry import get_format

HOSTILE = ["..", ".", "../../escaped", "/tmp/abs_escape", "a/b\\c", "x\x00y", "CON", "nul.txt", "LPT1",
           "é" * 200, "z" * 300, "trailing. ", "", "\ud800bad", "..\\..\\win"]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_name_is_one_harmless_component(name):
    s = safe_name(name)
    assert s and s not in (".", "..") and "/" not in s and "\\" not in s and "\x00" not in s
    assert len(s.encode("utf-8")) <= 255
    assert s.split(".")[0].upper() not in ("CON", "NUL", "LPT1")
    assert not s.endswith((".", " "))
    assert os.path.basename(s) == s


def test_fine_names_are_kept_and_nameset_is_unique():
    assert safe_name("sav_000001") == "sav_000001" and safe_name("01_dog.mp4") == "01_dog.mp4"
    ns = NameSet()
    assert [ns.take(n) for n in ("a", "A", "a/", "a")] == ["a", "A_2", "a_", "a_3"]
    assert safe_name("z" * 300) != safe_name("z" * 299 + "y")  # cut names keep a hash of the whole


def test_inside_and_portable_ref(tmp_path):
    with pytest.raises(Exception, match="outside the output folder"):
        inside(tmp_path / "out", "..", "x")
    assert inside(tmp_path / "out", "a", "b.png") == tmp_path / "out" / "a" / "b.png"
    assert portable_ref(tmp_path / "r" / "img" / "a.jpg", tmp_path / "r") == "img/a.jpg"
    assert portable_ref(tmp_path / "elsewhere" / "a.jpg", tmp_path / "r") is None
    assert is_portable("img/a.jpg") and not is_portable("../a.jpg") and not is_portable("/a.jpg")
    assert not is_portable("C:/a.jpg") and not is_portable("a\\b.jpg")


def _sav_doc(video_id, n=8, h=6, w=5):
    from annotator.core import rle

    m = np.zeros((h, w), bool)
    m[1:3, 1:4] = True
    r = rle.encode(m)
    return {"video_id": video_id, "video_duration": n / 4, "video_frame_count": n, "video_height": h,
            "video_width": w, "video_resolution": h * w, "masklet": [[r] for _ in range(0, n, 4)],
            "masklet_id": [0], "masklet_num": 1}


def _files_under(folder):
    return {os.path.abspath(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs}


@pytest.mark.parametrize("video_id", ["..", "../escaped", "/tmp/abs_escape_fmt12", "a/../../b", "CON", "x\x00y",
                                      "v" * 300])
@pytest.mark.parametrize("fmt,opts", [("sav", {"layout": "png"}), ("sav", {}), ("davis", {}), ("labelme", {}),
                                      ("coco", {}), ("ytvis", {})])
def test_hostile_video_id_writes_only_under_output(tmp_path, video_id, fmt, opts):
    src = tmp_path / "in" / "v_manual.json"
    src.parent.mkdir()
    src.write_text(json.dumps(_sav_doc(video_id)))
    p = Project.create(tmp_path / "in" / "p.annotator")
    get_format("sav").load(p, src)
    before = _files_under(tmp_path)
    out = tmp_path / "work" / "out"
    if fmt in ("coco", "ytvis"):
        out = out / "ann.json"
    get_format(fmt).export(p, out, **opts)
    new = _files_under(tmp_path) - before
    root = os.path.abspath(tmp_path / "work" / "out")
    assert new and all(f.startswith(root + os.sep) for f in new), sorted(new)[:3]
    assert not os.path.exists("/tmp/abs_escape_fmt12")
