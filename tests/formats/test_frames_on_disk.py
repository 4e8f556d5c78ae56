"""Issue 12.1/12.2/12.4: a sparsely annotated video exports with every referenced frame on
disk at the annotated size, portable paths, and no unannotated frame claimed as absent."""
import json

import numpy as np
import pytest
from fmt_synth import blob
from PIL import Image

from annotator.core.store import Project
from annotator.formats.export_paths import is_portable
from annotator.formats.registry import get_format
from annotator.media import probe

ANNOTATED = (0, 4, 8)


def _dog_project(tmp_path, shared_data):
    """01_dog.mp4 (1280x720, 289 frames) with two objects on frames 0, 4 and 8 only."""
    p = Project.create(tmp_path / "p.annotator")
    cat = p.add_category("dog")
    mp4 = shared_data / "videos" / "01_dog.mp4"
    info = probe(mp4)
    it = p.add_item(mp4, info.kind, info.width, info.height, info.num_frames, info.fps)
    a, b = p.add_track(it.id, cat.id), p.add_track(it.id, None)
    for f in ANNOTATED:
        p.set_mask(a.id, f, blob(720, 1280, 100 + f, 200, 400, 600))
        if f != 4:
            p.set_mask(b.id, f, blob(720, 1280, 500, 900, 650, 1200))
    p.mark_reviewed(b.id, [4])  # a person looked: b is absent on frame 4
    return p, it


def _check_image(path, w, h):
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.size == (w, h)


def test_sparse_mp4_to_coco_ytvis_labelme(tmp_path, shared_data):
    p, it = _dog_project(tmp_path, shared_data)
    out = tmp_path / "coco" / "ann.json"
    s = get_format("coco").export(p, out)
    doc = json.loads(out.read_text())
    assert sorted(im["frame_index"] for im in doc["images"]) == list(ANNOTATED)
    for im in doc["images"]:
        assert is_portable(im["file_name"]) and im["file_name"].startswith("images/")
        _check_image(out.parent / im["file_name"], it.width, it.height)
    assert is_portable(doc["images"][0]["media"])
    assert s.count("objects without a category exported as class 'object'") == 1
    # pycocotools reads it and finds the listed files
    from pycocotools.coco import COCO

    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 3 and len(coco.getAnnIds()) == 5

    out = tmp_path / "yv" / "train.json"
    get_format("ytvis").export(p, out, image_format="png")
    doc = json.loads(out.read_text())
    [v] = doc["videos"]
    assert v["frame_indices"] == list(ANNOTATED) and len(v["file_names"]) == 3
    for name in v["file_names"]:
        assert is_portable(name) and name.endswith(".png")
        _check_image(out.parent / "JPEGImages" / name, it.width, it.height)
    # read as the YouTube-VIS API does (pycocotools decodes each frame's RLE): our masks, frame by frame
    from pycocotools import mask as mask_util

    for a in doc["annotations"]:
        t = [t for t in p.tracks(it.id) if t.obj_id == a["track_id"]][0]
        for f, seg in zip(v["frame_indices"], a["segmentations"]):
            if seg is not None:
                assert np.array_equal(mask_util.decode(seg).astype(bool), p.mask(t.id, f).mask())
    # b has a mask on 0 and 8, and is absent (null) on 4 because a person marked it reviewed
    b = [a for a in doc["annotations"] if a["track_id"] == 2][0]
    assert [s is None for s in b["segmentations"]] == [False, True, False]

    out = tmp_path / "lm"
    get_format("labelme").export(p, out, jpeg_quality=80)
    jsons = sorted(out.rglob("*.json"))
    assert len(jsons) == 3
    for j in jsons:
        d = json.loads(j.read_text())
        assert "/" not in d["imagePath"]
        _check_image(j.parent / d["imagePath"], d["imageWidth"], d["imageHeight"])

    # round trip: masks and frame indices come back onto the same video item
    for fmt, path in (("coco", tmp_path / "coco" / "ann.json"), ("ytvis", tmp_path / "yv" / "train.json")):
        q = Project.create(tmp_path / f"{fmt}.annotator")
        q.add_item(it.abspath, it.kind, it.width, it.height, it.num_frames, it.fps)
        get_format(fmt).load(q, path)
        [qi] = q.items()
        got = {(t.obj_id, m.frame): m.mask() for t in q.tracks(qi.id) for m in q.masks(track_id=t.id)}
        want = {(t.obj_id, m.frame): m.mask() for t in p.tracks(it.id) for m in p.masks(track_id=t.id)}
        assert sorted(got) == sorted(want)
        assert all(np.array_equal(got[k], want[k]) for k in want)


def test_frame_folder_is_referenced_not_copied(tmp_path, shared_data):
    seq = shared_data / "davis2016" / "JPEGImages" / "480p" / "dog"
    info = probe(seq)
    p = Project.create(tmp_path / "p.annotator")
    it = p.add_item(seq, info.kind, info.width, info.height, info.num_frames, info.fps)
    t = p.add_track(it.id, p.add_category("dog").id)
    p.set_mask(t.id, 10, blob(info.height, info.width, 10, 10, 50, 80))
    root = shared_data / "davis2016" / "JPEGImages" / "480p"
    out = tmp_path / "c.json"
    s = get_format("coco").export(p, out, image_root=str(root), images="reference")
    [im] = json.loads(out.read_text())["images"]
    assert im["file_name"] == "dog/00010.jpg" and not (tmp_path / "images").exists()
    assert any("referenced where they are" in line for line in s.lines())
    # without image_root the folder is outside the export: images=reference refuses, auto copies
    with pytest.raises(Exception, match="images=reference cannot reference"):
        get_format("coco").export(p, tmp_path / "d.json", images="reference")
    get_format("coco").export(p, tmp_path / "e.json")
    [im] = json.loads((tmp_path / "e.json").read_text())["images"]
    assert im["file_name"] == "images/dog/00010.jpg"
    assert (tmp_path / im["file_name"]).read_bytes() == (seq / "00010.jpg").read_bytes()


def test_frames_option_is_explicit(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    it = p.add_item(tmp_path / "v.mp4", "video", 20, 10, num_frames=9, fps=3)
    a, b = p.add_track(it.id), p.add_track(it.id)
    p.set_mask(a.id, 0, blob(10, 20, 1, 1, 5, 5))
    p.set_mask(a.id, 3, blob(10, 20, 1, 1, 5, 5))
    p.set_mask(b.id, 3, blob(10, 20, 6, 6, 9, 9))
    ytvis = get_format("ytvis")
    for rule, want in (("annotated", [0, 3]), ("known", [3]), ("all", list(range(9)))):
        out = tmp_path / f"{rule}.json"
        ytvis.export(p, out, frames=rule)
        [v] = json.loads(out.read_text())["videos"]
        assert v.get("frame_indices", list(range(9))) == want


def _ytvis_doc(names, h, w, n_listed):
    from annotator.core import rle

    m = np.zeros((h, w), bool)
    m[5:20, 10:40] = True
    r = rle.encode(m)
    return {"videos": [{"id": 1, "width": w, "height": h, "length": n_listed, "file_names": names}],
            "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                             "segmentations": [r] * n_listed}],
            "categories": [{"id": 1, "name": "dog"}]}


def test_ytvis_sparse_listing_of_a_longer_folder(tmp_path, shared_data):
    """YouTube-VIS train lists every 5th frame of JPEGImages/<video>: the file's names say
    which frames; without media the numbers in the names do."""
    seq = shared_data / "davis2016" / "JPEGImages" / "480p" / "dog"
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "dog").symlink_to(seq, target_is_directory=True)
    names = [f"dog/{i:05d}.jpg" for i in range(0, 60, 3)]
    f = tmp_path / "train.json"
    f.write_text(json.dumps(_ytvis_doc(names, 480, 854, len(names))))
    p = Project.create(tmp_path / "p.annotator")
    get_format("ytvis").load(p, f)
    [it] = p.items()
    assert (it.kind, it.num_frames) == ("frames", 60)
    assert sorted(p.mask_frames(p.tracks(it.id)[0].id)) == list(range(0, 60, 3))
    # no media: names 00000, 00005 ... keep their numbers
    g = tmp_path / "nomedia.json"
    g.write_text(json.dumps(_ytvis_doc([f"cat/{i:05d}.jpg" for i in (0, 5, 10)], 30, 50, 3)))
    q = Project.create(tmp_path / "q.annotator")
    get_format("ytvis").load(q, g, require_media=False)
    [it] = q.items()
    assert sorted(q.mask_frames(q.tracks(it.id)[0].id)) == [0, 5, 10] and it.num_frames == 11
    # a frame_indices beyond a declared num_frames names the real cause
    d = _ytvis_doc(["a/1.jpg", "a/2.jpg"], 30, 50, 2)
    d["videos"][0]["frame_indices"] = [0, 7]
    d["videos"][0]["num_frames"] = 5
    g.write_text(json.dumps(d))
    with pytest.raises(Exception, match="frame 7 is beyond the video's 5 frames"):
        get_format("ytvis").load(Project.create(tmp_path / "r.annotator"), g, require_media=False)
