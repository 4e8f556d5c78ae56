"""`annotator eval labels --data DIR` on a small COCO set made here: three identical scenes,
each with an apple (red), sky (blue) and truck (green) square, so that one example per class
makes the prototypes exact and top-1 must be 1.0 with prototypes alone (weight 1), whatever
the (synthetic) weights; k=5 has too few objects per class, so it falls back to zero-shot."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import clip_synth
from annotator.cli import main

SQUARES = {"apple": ((10, 10, 50, 50), (220, 30, 30)), "sky": ((70, 50, 120, 90), (40, 60, 220)),
           "truck": ((60, 5, 100, 40), (30, 200, 40))}


def make_set(folder):
    (folder / "images").mkdir(parents=True)
    rgb = np.full((96, 128, 3), 120, np.uint8)
    for (x0, y0, x1, y1), color in SQUARES.values():
        rgb[y0:y1, x0:x1] = color
    cats = [{"id": i + 1, "name": n} for i, n in enumerate(SQUARES)]
    images, anns = [], []
    for k in range(3):
        Image.fromarray(rgb).save(folder / "images" / f"scene{k}.png")
        images.append({"id": k + 1, "file_name": f"scene{k}.png", "width": 128, "height": 96})
        for c in cats:
            (x0, y0, x1, y1), _ = SQUARES[c["name"]]
            anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": c["id"], "iscrowd": 0,
                         "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]], "area": (x1 - x0) * (y1 - y0),
                         "bbox": [x0, y0, x1 - x0, y1 - y0]})
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def test_eval_labels(monkeypatch, tmp_path, small_clip, clip_vocab, capsys):
    clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    make_set(tmp_path / "set")
    out = tmp_path / "r.json"
    rc = main(["eval", "labels", "--data", str(tmp_path / "set"), "--clip", "clip_small", "--few-shot-weight", "1",
               "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    table = capsys.readouterr().out
    assert "| pooled |" in table and "| crop |" in table and "| both |" in table
    doc = json.loads(out.read_text())
    assert doc["objects"] == 9 and doc["categories"] == list(SQUARES)
    for method, row in doc["results"].items():
        assert row["zero_shot"]["n"] == 9 and row["zero_shot"]["top5"] == 1.0  # 3 categories: always in the top 5
        assert row["k1"]["n"] == 6 and row["k1"]["categories_with_examples"] == 3
        assert row["k1"]["top1"] == 1.0, method  # exact prototypes decide alone
        assert row["k5"]["categories_with_examples"] == 0 and row["k5"]["top1"] == row["zero_shot"]["top1"]


def test_eval_labels_bad_input(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["eval", "labels", "--data", str(tmp_path / "empty"), "--clip-weights", "random"]) == 2
    assert "annotations.json" in capsys.readouterr().err
    assert main(["eval", "labels", "--data", str(tmp_path), "--k", "0"]) == 2
    assert "--k" in capsys.readouterr().err
