"""YOLO segmentation (ultralytics layout): export -> import gives the same masks, frames and
objects; the polygons fill back exactly with cv2.fillPoly, which ultralytics uses."""
import json

import numpy as np
import pytest
import yaml
from fmt_synth import blob
from fmt_synth import fill_holes_centre
from PIL import Image

from annotator.core.store import Project
from annotator.formats.registry import get_format
from annotator.formats.yolo import fill_polygon, label_path_for
from annotator.media import probe

YOLO = get_format("yolo")


def _project(tmp_path, shared_data):
    p = Project.create(tmp_path / "p.annotator")
    dog, truck = p.add_category("dog"), p.add_category("truck")
    photo = shared_data / "images_truck.jpg"
    info = probe(photo)
    im = p.add_item(photo, "image", info.width, info.height)
    t = p.add_track(im.id, truck.id)
    m = blob(info.height, info.width, 100, 150, 400, 900, hole=True)
    m[600:650, 100:140] = True  # a second part
    p.set_mask(t.id, 0, m)
    mp4 = shared_data / "videos" / "01_dog.mp4"
    info = probe(mp4)
    v = p.add_item(mp4, "video", info.width, info.height, info.num_frames, info.fps)
    a, b = p.add_track(v.id, dog.id), p.add_track(v.id, None)
    rng = np.random.default_rng(1)
    for f in (0, 6):
        p.set_mask(a.id, f, blob(720, 1280, 50 + f, 60, 300, 500))
        noisy = np.zeros((720, 1280), bool)
        noisy[400:440, 700:760] = rng.random((40, 60)) < 0.6
        p.set_mask(b.id, f, noisy)
    return p


def test_yolo_export_layout_rule_and_roundtrip(tmp_path, shared_data):
    p = _project(tmp_path, shared_data)
    out = tmp_path / "yolo"
    s = YOLO.export(p, out)
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "dog", 1: "truck", 2: "object"} and data["train"] == "images"
    assert s.count("objects without a category exported as class 'object'") == 1
    assert s.count("objects in several parts written as one line per part (YOLO sees separate instances)") >= 1
    imgs = sorted(f.relative_to(out).as_posix() for f in (out / "images").rglob("*.*"))
    assert imgs == ["images/01_dog/00000.jpg", "images/01_dog/00006.jpg", "images/images_truck.jpg"]
    for rel in imgs:
        assert label_path_for(out / rel).is_file()
        with Image.open(out / rel) as im:
            info = probe(shared_data / "images_truck.jpg")
            assert im.size == ((1280, 720) if "dog" in rel else (info.width, info.height))
    # ultralytics' rule: scale by the image size, cv2.fillPoly; union per object
    side = json.loads((out / "annotator.json").read_text())["labels"]
    for a in p.tracks():
        it = p.item(a.item_id)
        for m in p.masks(track_id=a.id):
            stem = "images_truck" if it.kind == "image" else f"01_dog/{m.frame:05d}"
            lab = f"labels/{stem}.txt"
            lines = (out / lab).read_text().splitlines()
            got = np.zeros((it.height, it.width), bool)
            for line, obj in zip(lines, side[lab]["objects"]):
                if obj == a.obj_id:
                    v = np.array(line.split()[1:], float).reshape(-1, 2) * [it.width, it.height]
                    got |= fill_polygon(np.rint(v), it.height, it.width)
            assert np.array_equal(got, fill_holes_centre(m.mask())), (it.name, m.frame)
    # back: same items (matched), objects, frames, categories
    q = Project.create(tmp_path / "q.annotator")
    for it in p.items():
        q.add_item(it.abspath, it.kind, it.width, it.height, it.num_frames, it.fps)
    res = YOLO.load(q, out)
    assert len(q.items()) == 2
    want = {(p.item(t.item_id).name, t.obj_id, m.frame): fill_holes_centre(m.mask())
            for t in p.tracks() for m in p.masks(track_id=t.id)}
    got = {(q.item(t.item_id).name, t.obj_id, m.frame): m.mask() for t in q.tracks() for m in q.masks(track_id=t.id)}
    assert sorted(got) == sorted(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert sorted(c.name for c in q.categories()) == ["dog", "object", "truck"]
    assert res.tracks == 3


def test_yolo_plain_dataset_and_errors(tmp_path):
    root = tmp_path / "ds"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(root / "images" / "train" / "a.png")
    Image.new("RGB", (40, 20)).save(root / "images" / "train" / "b.png")
    (root / "labels" / "train" / "a.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.9\n1 0.5 0.5 0.2 0.4\n0 0.1 0.2\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nnames: [cat, box]\n")
    p = Project.create(tmp_path / "p.annotator")
    res = YOLO.load(p, root)
    assert len(p.items()) == 1 and len(p.tracks()) == 2
    lines = res.summary.lines()
    assert res.summary.count("images without a label file skipped") == 1
    assert res.summary.count("lines with fewer than 3 points or an odd count skipped") == 1
    assert any(line.startswith("1 box lines") for line in lines)
    (root / "labels" / "train" / "a.txt").write_text("7 0.1 0.1 0.5 0.1 0.5 0.9\n")
    with pytest.raises(Exception, match="class 7 is not in data.yaml names"):
        YOLO.load(Project.create(tmp_path / "q.annotator"), root)
    (root / "data.yaml").write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="not readable YAML"):
        YOLO.load(Project.create(tmp_path / "r.annotator"), root)
