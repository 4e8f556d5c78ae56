"""Issue 12.3: labelme's pixel rule. labelme rasterises a shape with PIL, vertices at pixel
centres, outline included (its published shape_to_mask). `labelme_rule` below restates that
rule from its documentation; our export must be reproduced by it exactly, and our import must
draw every shape type the way it does."""
import json
import math

from pathlib import Path

import numpy as np
from fmt_synth import blob
from fmt_synth import fill_holes_centre as fill_holes
from PIL import Image, ImageDraw

from annotator.core.store import Project
from annotator.formats.registry import get_format

LABELME = get_format("labelme")


def labelme_rule(shape, h, w, line_width=10, point_size=5):
    """labelme's shape_to_mask, restated: PIL drawing on an HxW canvas, fill + outline."""
    img = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(img)
    pts = [tuple(p) for p in shape["points"]]
    kind = shape.get("shape_type") or "polygon"
    if kind == "rectangle":
        (a, b), (c, e) = pts
        d.rectangle(((min(a, c), min(b, e)), (max(a, c), max(b, e))), outline=1, fill=1)
    elif kind in ("circle", "point"):
        (cx, cy) = pts[0]
        r = math.dist(pts[0], pts[1]) if kind == "circle" else point_size
        d.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
    elif kind == "line":
        d.line(pts, fill=1, width=line_width)
    elif kind == "linestrip":
        d.line(pts, fill=1, width=line_width, joint="curve")
    else:
        assert len(pts) > 2
        d.polygon(pts, outline=1, fill=1)
    return np.asarray(img, bool)


def _instances(doc):
    """(label, group_id) -> union of the shapes' pixels under labelme's rule."""
    out = {}
    for s in doc["shapes"]:
        m = labelme_rule(s, doc["imageHeight"], doc["imageWidth"])
        key = (s["label"], s["group_id"])
        out[key] = out.get(key, np.zeros_like(m)) | m
    return out


def _masks(shared_data):
    """The real DAVIS dog masks (3 frames) and awkward synthetic ones (diagonals, 1-px parts,
    a hole with an island)."""
    out = []
    for f in ("00000", "00020", "00040"):
        a = np.array(Image.open(shared_data / "davis2016" / "Annotations" / "480p" / "dog" / f"{f}.png"))
        out.append(a > 0)
    rng = np.random.default_rng(3)
    for _ in range(6):
        out.append(rng.random((24, 31)) < 0.45)
    m = blob(40, 40, 2, 2, 38, 38, hole=True)
    m[15:20, 15:20] = True  # an island inside the hole
    m[0, 39] = True         # a single pixel
    out.append(m)
    return out


def test_labelme_rule_reproduces_exported_masks_exactly(tmp_path, shared_data):
    masks = _masks(shared_data)
    p = Project.create(tmp_path / "p.annotator")
    c = p.add_category("thing")
    for k, m in enumerate(masks):
        it = p.add_item(tmp_path / f"img{k}.png", "image", m.shape[1], m.shape[0])
        p.set_mask(p.add_track(it.id, c.id).id, 0, m)
    out = tmp_path / "lm"
    summary = LABELME.export(p, out)
    for k, m in enumerate(masks):
        doc = json.loads((out / f"img{k}.json").read_text())
        [(key, got)] = _instances(doc).items()
        assert np.array_equal(got, fill_holes(m)), f"mask {k}: {np.count_nonzero(got ^ fill_holes(m))} pixels differ"
    assert summary.count("masks whose holes polygons cannot hold (filled; shapes=mask keeps them)") >= 1
    # and our own import reads them back to the same pixels
    q = Project.create(tmp_path / "q.annotator")
    LABELME.load(q, out, require_media=False)
    got = {Path(it.path).name: q.masks(track_id=q.tracks(it.id)[0].id)[0].mask() for it in q.items()}
    for k, m in enumerate(masks):
        assert np.array_equal(got[f"img{k}.png"], fill_holes(m))


SHAPES = [
    {"label": "box", "points": [[230, 150], [10, 10]], "shape_type": "rectangle"},      # 221 x 141 pixels
    {"label": "tri", "points": [[5, 5], [7, 5], [6, 6]], "shape_type": "polygon"},        # 3 vertices, 4 px
    {"label": "frac", "points": [[40.3, 20.7], [60.9, 22.2], [52.5, 44.4], [41.1, 39.9]], "shape_type": "polygon"},
    {"label": "disc", "points": [[120, 60], [124, 63]], "shape_type": "circle"},
    {"label": "line", "points": [[100, 100], [150, 120]], "shape_type": "line"},
    {"label": "strip", "points": [[10, 170], [60, 180], [80, 160]], "shape_type": "linestrip"},
    {"label": "pt", "points": [[200, 20]], "shape_type": "point"},
    {"label": "rot", "points": [[160, 100], [180, 95], [185, 115], [165, 120]], "shape_type": "oriented_rectangle"},
]


def test_import_draws_every_shape_like_labelme(tmp_path):
    h, w = 200, 260
    doc = {"version": "5.5.0", "flags": {}, "imagePath": "x.png", "imageData": None, "imageHeight": h,
           "imageWidth": w, "shapes": [dict(s, group_id=None) for s in SHAPES]
           + [{"label": "odd", "points": [[1, 1]], "shape_type": "cuboid", "group_id": None}]}
    f = tmp_path / "x.json"
    f.write_text(json.dumps(doc))
    p = Project.create(tmp_path / "p.annotator")
    res = LABELME.load(p, f, require_media=False)
    [item] = p.items()
    got = {p.category(t.category_id).name: p.mask(t.id, 0).mask() for t in p.tracks(item.id)}
    for s in SHAPES:
        want = labelme_rule(s, h, w) if s["shape_type"] != "oriented_rectangle" else \
            labelme_rule(dict(s, shape_type="polygon"), h, w)
        assert np.array_equal(got[s["label"]], want), s["label"]
    ys, xs = np.nonzero(got["box"])
    assert (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (221, 141)
    assert got["tri"].sum() == 4
    lines = res.summary.lines()
    assert any(line.startswith("1 labelme shapes of unknown type 'cuboid' skipped") and "x.json shapes[8]" in line
               for line in lines), lines
    assert res.summary.count("labelme line shapes drawn as masks the way labelme does (10 px wide)") == 1
    assert res.summary.count("labelme point shapes drawn as masks the way labelme does (radius 5)") == 1
    q = Project.create(tmp_path / "q.annotator")
    res = LABELME.load(q, f, require_media=False, thin_shapes="skip")
    assert {q.category(t.category_id).name for t in q.tracks()} == {s["label"] for s in SHAPES} - {"line", "strip", "pt"}
    assert res.summary.count("labelme linestrip shapes skipped (thin_shapes=skip)") == 1


def test_mask_shape_is_placed_at_its_rounded_first_point(tmp_path):
    import base64
    import io

    patch = np.zeros((4, 5), np.uint8)
    patch[1:3, 1:4] = 1
    buf = io.BytesIO()
    Image.fromarray(patch).save(buf, format="PNG")
    doc = {"imagePath": "x.png", "imageHeight": 20, "imageWidth": 20,
           "shapes": [{"label": "m", "points": [[6.6, 3.4], [10.6, 6.4]], "shape_type": "mask",
                       "mask": base64.b64encode(buf.getvalue()).decode()}]}
    f = tmp_path / "x.json"
    f.write_text(json.dumps(doc))
    p = Project.create(tmp_path / "p.annotator")
    LABELME.load(p, f, require_media=False)
    want = np.zeros((20, 20), bool)
    want[3 + 1:3 + 3, 7 + 1:7 + 4] = True
    assert np.array_equal(p.masks()[0].mask(), want)
