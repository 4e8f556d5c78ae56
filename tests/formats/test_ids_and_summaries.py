"""Issue 12.5/12.6: category source ids survive a round trip (stored on the category, schema
v4); objects without a category follow an explicit option; skipped things are counted."""
import json
import sqlite3

from fmt_synth import blob

from annotator.core.store import SCHEMA_VERSION, Project
from annotator.formats.registry import get_format

COCO, YTVIS = get_format("coco"), get_format("ytvis")


def _coco_doc():
    return {"images": [{"id": 7, "file_name": "a.jpg", "width": 20, "height": 10}],
            "annotations": [
                {"id": 1, "image_id": 7, "category_id": 40, "segmentation": [[1, 1, 8, 1, 8, 6, 1, 6], [2, 2, 3, 3]],
                 "area": 35, "bbox": [1, 1, 7, 5], "iscrowd": 0},
                {"id": 2, "image_id": 7, "category_id": 5, "segmentation": [[10, 1, 18, 1, 18, 8]], "area": 30,
                 "bbox": [10, 1, 8, 7], "iscrowd": 0},
                {"id": 3, "image_id": 7, "category_id": 5, "segmentation": [[1, 1, 2, 1]], "area": 0,
                 "bbox": [0, 0, 0, 0], "iscrowd": 0}],
            "categories": [{"id": 5, "name": "dog"}, {"id": 40, "name": "cup"}, {"id": 90, "name": "unused"}]}


def test_coco_category_ids_round_trip_and_skips_are_counted(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(json.dumps(_coco_doc()))
    p = Project.create(tmp_path / "p.annotator")
    res = COCO.load(p, f, require_media=False)
    assert {c.name: c.meta.get("source_id") for c in p.categories()} == {"dog": 5, "cup": 40, "unused": 90}
    assert res.summary.count("polygon parts with fewer than 3 points skipped (no area)") == 2
    assert res.summary.count("annotations with an empty mask skipped") == 1
    assert any("annotations[0].segmentation[1]" in line for line in res.summary.lines())
    out = tmp_path / "out.json"
    COCO.export(p, out)
    doc = json.loads(out.read_text())
    assert sorted((c["name"], c["id"]) for c in doc["categories"]) == [("cup", 40), ("dog", 5), ("unused", 90)]
    assert sorted(a["category_id"] for a in doc["annotations"]) == [5, 40]
    # a new category made here takes a free id, never one a kept category holds
    p.add_category("new")
    p.add_category("new2")
    COCO.export(p, out)
    ids = [c["id"] for c in json.loads(out.read_text())["categories"]]
    assert len(set(ids)) == len(ids) and {5, 40, 90} <= set(ids)
    p.close()
    # and the ids survive closing and reopening (they live in the store)
    with Project.open(tmp_path / "p.annotator") as q:
        assert q.category_by_name("cup").meta == {"source_id": 40}


def test_ytvis_ids_and_uncategorised_option(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    it = p.add_item(tmp_path / "v.mp4", "video", 20, 10, num_frames=4, fps=2)
    c = p.add_category("car", meta={"source_id": 12})
    a, b = p.add_track(it.id, c.id), p.add_track(it.id, None)
    for f in range(4):
        p.set_mask(a.id, f, blob(10, 20, 1, 1, 5, 5))
        p.set_mask(b.id, f, blob(10, 20, 6, 6, 9, 9))
    out = tmp_path / "y.json"
    s = YTVIS.export(p, out)
    doc = json.loads(out.read_text())
    assert {c["name"]: c["id"] for c in doc["categories"]} == {"car": 12, "object": 13}
    assert s.count("objects without a category exported as class 'object'") == 1
    s = YTVIS.export(p, out, uncategorised="skip")
    doc = json.loads(out.read_text())
    assert [a["category_id"] for a in doc["annotations"]] == [12] and len(doc["categories"]) == 1
    assert s.count("objects without a category left out (uncategorised=skip)") == 1
    s = YTVIS.export(p, out, uncategorised="car")  # join an existing class, by choice
    assert [a["category_id"] for a in json.loads(out.read_text())["annotations"]] == [12, 12]
    q = Project.create(tmp_path / "q.annotator")
    YTVIS.load(q, tmp_path / "y.json", require_media=False)
    assert q.category_by_name("car").meta == {"source_id": 12}


def test_v3_project_upgrades_to_v4(tmp_path):
    assert SCHEMA_VERSION >= 4
    p = Project.create(tmp_path / "old.annotator")
    p.add_category("dog")
    p.close()
    con = sqlite3.connect(tmp_path / "old.annotator")
    con.executescript("ALTER TABLE categories DROP COLUMN meta; PRAGMA user_version=3;")
    con.close()
    with Project.open(tmp_path / "old.annotator") as q:
        assert q.category_by_name("dog").meta == {}
        q.update_category(q.category_by_name("dog").id, meta={"source_id": 3})
        assert q.category_by_name("dog").meta == {"source_id": 3}
        q.undo()
        assert q.category_by_name("dog").meta == {}
