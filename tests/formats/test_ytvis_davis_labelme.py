import json

import numpy as np
import pytest
from fmt_synth import assert_same_masks, blob, category_of, fill_holes, sample_project, snapshot
from PIL import Image

from annotator.core.store import Project
from annotator.errors import FormatError
from annotator.formats.davis import PALETTE, read_png
from annotator.formats.registry import get_format

YTVIS, DAVIS, LABELME = get_format("ytvis"), get_format("davis"), get_format("labelme")


# ------------------------------------------------------------------------------ YouTube-VIS
def test_ytvis_layout_and_roundtrip(tmp_path):
    src = sample_project(tmp_path)
    out = tmp_path / "ytvis.json"
    YTVIS.export(src, out, frames="all")  # explicit: unannotated frames are written as absent
    doc = json.loads(out.read_text())
    [v] = doc["videos"]
    assert v["length"] == 12 == len(v["file_names"]) and v["file_names"][3] == "clip/00003.jpg"
    assert len(doc["annotations"]) == 2
    a = doc["annotations"][0]
    assert len(a["segmentations"]) == 12 and a["segmentations"][1] is None and a["areas"][1] is None
    assert a["areas"][0] == 10 * 18 and a["bboxes"][0] == [2.0, 0.0, 18.0, 10.0]
    dst = Project.create(tmp_path / "dst.annotator")
    YTVIS.load(dst, out, require_media=False)
    assert_same_masks(src, dst, names={"clip.mp4"})
    assert category_of(dst) == {k: v for k, v in category_of(src).items() if k[0] == "clip.mp4"}

    YTVIS.export(src, tmp_path / "annotated.json", frames="annotated", segmentation="polygon")
    d2 = json.loads((tmp_path / "annotated.json").read_text())
    assert d2["videos"][0]["frame_indices"] == [0, 2, 4, 6, 8, 10]
    dst2 = Project.create(tmp_path / "dst2.annotator")
    YTVIS.load(dst2, tmp_path / "annotated.json", require_media=False)
    assert_same_masks(src, dst2, names={"clip.mp4"}, transform=fill_holes)


@pytest.mark.parametrize("mutate,pattern", [
    (lambda d: d["annotations"][0]["segmentations"].pop(), "11 segmentations for a video of 12"),
    (lambda d: d["annotations"][0].update(category_id=99), "unknown category_id 99"),
    (lambda d: d["annotations"][0].update(video_id=5), "video_id 5 is not in"),
    (lambda d: d["videos"][0].update(length=3), "'length' 3 disagrees with 12"),
    (lambda d: d["annotations"][0]["segmentations"][0].update(size=[1, 1]), "disagrees with the media size"),
    (lambda d: d.update(videos=None), "'videos' should be list"),
])
def test_ytvis_malformed(tmp_path, mutate, pattern):
    src = sample_project(tmp_path)
    out = tmp_path / "y.json"
    YTVIS.export(src, out, frames="all")
    d = json.loads(out.read_text())
    mutate(d)
    out.write_text(json.dumps(d))
    before = snapshot(src)
    with pytest.raises(FormatError, match=pattern) as e:
        YTVIS.load(src, out, require_media=False)
    assert "y.json" in str(e.value)
    assert snapshot(src) == before


# ------------------------------------------------------------------------------ DAVIS
def test_davis_import_real_sequence_and_export_back(tmp_path, shared_data):
    ann = shared_data / "davis2016" / "Annotations" / "480p" / "blackswan"
    p = Project.create(tmp_path / "p.annotator")
    DAVIS.load(p, ann)
    [item] = p.items()
    # the JPEG frames are found through the DAVIS layout (Annotations -> JPEGImages)
    assert item.kind == "frames" and item.exists and item.num_frames == 50
    [t] = p.tracks(item.id)
    for f in (0, 25, 49):
        gt = np.array(Image.open(ann / f"{f:05d}.png")) > 0
        assert np.array_equal(p.mask(t.id, f).mask(), gt)
    out = tmp_path / "davis_out"
    DAVIS.export(p, out)
    pngs = sorted((out / "blackswan").glob("*.png"))
    assert [x.name for x in pngs] == sorted(x.name for x in ann.glob("*.png"))
    im = Image.open(pngs[7])
    assert im.mode == "P" and im.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
    assert np.array_equal(np.array(im), (np.array(Image.open(ann / "00007.png")) > 0).astype(np.uint8))


def test_davis_roundtrip_overlap_rule_and_palette(tmp_path):
    src = sample_project(tmp_path)
    # make the two video objects overlap on frame 4: the lower id must win in the PNG
    [a, b] = src.tracks(2)
    src.set_mask(b.id, 4, blob(32, 40, 0, 0, 32, 40))
    safe = DAVIS.export(src, tmp_path / "safe")
    # default: only annotated frames; an empty PNG would tell a trainer "no object here"
    assert sorted(int(p.stem) for p in (tmp_path / "safe" / "clip").glob("*.png")) == [0, 2, 4, 6, 8, 10]
    assert safe.count("frames where overlapping objects were flattened (lowest id wins)") == 1
    out = tmp_path / "out"
    summary = DAVIS.export(src, out, frames="all")
    assert summary.count("unannotated frames written as 'absent' (frames=all)") == 6
    assert sorted(x.name for x in out.iterdir()) == ["clip", "photo.png"]
    assert len(list((out / "clip").glob("*.png"))) == 12  # every frame, empty ones included
    ids = read_png(out / "clip" / "00004.png")
    assert set(np.unique(ids)) == {1, 2}
    assert np.array_equal(ids == 1, src.mask(a.id, 4).mask())
    rgb = PALETTE[np.array(Image.open(out / "clip" / "00004.png"))]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")  # RGB PNGs in the palette read back too
    assert np.array_equal(read_png(tmp_path / "rgb.png"), ids)

    dst = Project.create(tmp_path / "dst.annotator")
    DAVIS.load(dst, out / "clip")
    [it] = dst.items()
    assert (it.kind, it.num_frames, it.exists) == ("frames", 12, False)
    got = {(t.obj_id, m.frame): m.mask() for t in dst.tracks(it.id) for m in dst.masks(track_id=t.id)}
    assert np.array_equal(got[(2, 4)], ~src.mask(a.id, 4).mask())  # flattened: 2 lost what 1 covers
    assert np.array_equal(got[(1, 6)], src.mask(a.id, 6).mask())


def test_davis_errors(tmp_path):
    src = sample_project(tmp_path)
    t = src.add_track(2, obj_id=300)
    src.set_mask(t.id, 0, blob(32, 40, 0, 0, 2, 2))
    with pytest.raises(FormatError, match="object id 300"):
        DAVIS.export(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    seq = tmp_path / "seq"
    seq.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(seq / "00000.png")
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(seq / "00001.png")
    before = snapshot(src)
    with pytest.raises(FormatError, match="00001.png: size 4x5 differs"):
        DAVIS.load(src, seq)
    (seq / "00001.png").write_bytes(b"not a png")
    with pytest.raises(FormatError, match="00001.png: not a readable PNG"):
        DAVIS.load(src, seq)
    with pytest.raises(FormatError, match="nowhere: not found"):
        DAVIS.load(src, tmp_path / "nowhere")
    assert snapshot(src) == before


# ------------------------------------------------------------------------------ labelme (plugin)
@pytest.mark.parametrize("shapes", ["polygon", "mask"])
def test_labelme_roundtrip(tmp_path, shapes):
    src = sample_project(tmp_path, video_kind="frames")
    out = tmp_path / "lm"
    LABELME.export(src, out, shapes=shapes)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert files == ["clip/00000.json", "clip/00002.json", "clip/00004.json", "clip/00006.json",
                     "clip/00008.json", "clip/00010.json", "photo.json"]
    doc = json.loads((out / "photo.json").read_text())
    assert doc["imagePath"] == "photo.jpg" and doc["imageData"] is None  # beside its JSON
    assert (doc["imageHeight"], doc["imageWidth"]) == (48, 64)
    assert {s["shape_type"] for s in doc["shapes"]} == {shapes}
    if shapes == "polygon":  # the two-part object is two polygons sharing a group id
        assert [s["group_id"] for s in doc["shapes"]] == [1, 1, 2]
    dst = Project.create(tmp_path / "dst.annotator")
    LABELME.load(dst, out, require_media=False)
    assert_same_masks(src, dst, transform=fill_holes if shapes == "polygon" else None)
    assert {c.name for c in dst.categories()} == {"cat", "dog", "object"}
    assert {i.kind for i in dst.items()} == {"image", "frames"}


@pytest.mark.parametrize("mutate,pattern", [
    (lambda d: d.update(shapes={}), "'shapes' should be list"),
    (lambda d: d["shapes"][0].update(points=[[1, 2], [3, 4]]), "at least 3 points"),
    (lambda d: d["shapes"][0].update(points=[[1, "a"], [3, 4], [5, 6]]), r"\[x, y\] numbers"),
    (lambda d: d["shapes"][0].update(label=3), "'label' should be"),
    (lambda d: (d.pop("imageHeight"), d.pop("imageWidth")), "not on disk"),
    (lambda d: d["shapes"][0].update(shape_type="mask", points=[[0, 0], [2, 2]], mask="@@"), "base64 PNG"),
])
def test_labelme_malformed(tmp_path, mutate, pattern):
    doc = {"imagePath": "x.png", "imageHeight": 10, "imageWidth": 10,
           "shapes": [{"label": "a", "points": [[1, 1], [5, 1], [5, 5]], "shape_type": "polygon"}]}
    mutate(doc)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(doc))
    p = sample_project(tmp_path)
    before = snapshot(p)
    with pytest.raises(FormatError, match=pattern) as e:
        LABELME.load(p, f, require_media=False)
    assert "bad.json" in str(e.value)
    assert snapshot(p) == before
