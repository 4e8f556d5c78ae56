"""Mask PNGs: 16-bit instance PNGs + palette semantic PNGs + masks.json, export and import."""
import json

import numpy as np
import pytest
from fmt_synth import blob
from PIL import Image

from annotator.core.store import Project
from annotator.formats.registry import get_format

MP = get_format("maskpng")


def _project(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    cat, dog = p.add_category("cat", color=(200, 10, 10)), p.add_category("dog", color=(10, 200, 10))
    v = p.add_item(tmp_path / "clip.mp4", "video", 40, 30, num_frames=10, fps=5)
    a, b = p.add_track(v.id, cat.id), p.add_track(v.id, dog.id)
    for f in (0, 5):
        p.set_mask(a.id, f, blob(30, 40, 2, 2, 12, 20))
        p.set_mask(b.id, f, blob(30, 40, 15, 10, 28, 35))
    return p, v


def test_instance_and_semantic_pngs_roundtrip(tmp_path):
    p, v = _project(tmp_path)
    out = tmp_path / "masks"
    s = MP.export(p, out)
    doc = json.loads((out / "masks.json").read_text())
    assert [c["name"] for c in doc["categories"]] == ["cat", "dog"]
    assert [e["frame_index"] for e in doc["images"]] == [0, 5]
    e = doc["images"][1]
    inst = Image.open(out / e["instances"])
    assert inst.mode.startswith("I") and e["instances"] == "instances/clip/00005.png"
    ids = np.asarray(inst)
    assert set(np.unique(ids).tolist()) == {0, 1, 2} and e["objects"]["2"] == {"track": 2, "category": "dog"}
    sem = Image.open(out / e["semantic"])
    assert sem.mode == "P" and sem.getpalette()[3:9] == [200, 10, 10, 10, 200, 10]
    assert np.array_equal(np.asarray(sem) == 2, ids == 2)
    assert any("referenced images not written" in line for line in s.lines())  # the mp4 is not on disk
    q = Project.create(tmp_path / "q.annotator")
    MP.load(q, out)
    want = {(t.obj_id, m.frame): m.mask() for t in p.tracks() for m in p.masks(track_id=t.id)}
    got = {(t.obj_id, m.frame): m.mask() for t in q.tracks() for m in q.masks(track_id=t.id)}
    assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert {q.category(t.category_id).name for t in q.tracks()} == {"cat", "dog"}
    [it] = q.items()
    assert (it.kind, it.num_frames) == ("video", 10)
    r = Project.create(tmp_path / "r.annotator")
    res = MP.load(r, out, kind="semantic")
    assert len(r.tracks()) == 2 and res.summary.count("semantic PNGs imported as one object per category "
                                                      "(no instances)") == 2


def test_overlap_counted_and_bad_index_refused(tmp_path):
    p, v = _project(tmp_path)
    a = p.tracks(v.id)[0]
    p.set_mask(a.id, 5, blob(30, 40, 0, 0, 30, 40))
    out = tmp_path / "m"
    s = MP.export(p, out, kind="instance")
    assert s.count("images where overlapping objects were flattened (lowest id wins)") == 1
    assert not (out / "semantic").exists()
    doc = json.loads((out / "masks.json").read_text())
    doc["images"][0]["instances"] = "../../etc/passwd"
    (out / "masks.json").write_text(json.dumps(doc))
    with pytest.raises(Exception, match="relative path inside the dataset"):
        MP.load(Project.create(tmp_path / "q.annotator"), out)
