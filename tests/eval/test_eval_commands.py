"""Smoke tests of `annotator eval noc|vos` on short DAVIS-layout folders (real frames)."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.eval.davis import list_sequences, read_label_png


def _mini_davis(shared_data, tmp_path, name="blackswan", n=6, multi=False):
    """First n frames of a shared DAVIS sequence; with multi=True the annotation becomes an
    indexed palette PNG with two objects (the swan split at its centre column) and a void band."""
    src = shared_data / "davis2016"
    root = tmp_path / "davis"
    img_dir = root / "JPEGImages" / "480p" / name
    ann_dir = root / "Annotations" / "480p" / name
    img_dir.mkdir(parents=True)
    ann_dir.mkdir(parents=True)
    for i in range(n):
        shutil.copy(src / "JPEGImages" / "480p" / name / f"{i:05d}.jpg", img_dir)
        a = np.array(Image.open(src / "Annotations" / "480p" / name / f"{i:05d}.png")) > 0
        if multi:
            lab = np.zeros(a.shape, np.uint8)
            cx = int(np.nonzero(a)[1].mean())
            lab[a] = 1
            lab[a & (np.arange(a.shape[1])[None, :] >= cx)] = 2
            lab[:4, :] = 255
            im = Image.fromarray(lab, mode="P")
            pal = [0, 0, 0, 128, 0, 0, 0, 128, 0] + [0, 0, 0] * 252 + [224, 224, 192]
            im.putpalette(pal)
            im.save(ann_dir / f"{i:05d}.png")
        else:
            shutil.copy(src / "Annotations" / "480p" / name / f"{i:05d}.png", ann_dir)
    return root


def test_reader_handles_binary_and_palette(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, multi=True, n=2)
    seq = list_sequences(root)[0]
    assert seq.object_ids() == [1, 2]
    lab = read_label_png(seq.label_paths[0])
    assert set(np.unique(lab)) == {0, 1, 2, 255}
    binary = read_label_png(shared_data / "davis2016" / "Annotations" / "480p" / "dog" / "00000.png")
    assert set(np.unique(binary)) == {0, 1}


def test_eval_noc_command(shared_data, tmp_path, capsys):
    root = _mini_davis(shared_data, tmp_path, n=6)
    out = tmp_path / "noc.json"
    rc = main(["eval", "noc", "--engine", "classic", "--data", str(root), "--every", "5", "--max-clicks", "5", "--json", str(out), "-q"])
    assert rc == 0
    data = json.loads(out.read_text())
    for key in ("noc85", "noc90", "miou", "sec_per_click", "per_sequence"):
        assert key in data
    assert set(data["miou"]) == {"1", "3", "5"}
    assert data["samples"] == 2  # frames 0 and 5
    assert 1 <= data["noc90"] <= 5
    assert data["miou"]["5"] >= data["miou"]["1"] - 0.05 and data["miou"]["5"] > 0.5
    assert "blackswan" in data["per_sequence"]
    assert "NoC@90" in capsys.readouterr().out


def test_eval_vos_command_multi_object(shared_data, tmp_path, capsys):
    root = _mini_davis(shared_data, tmp_path, n=6, multi=True)
    out = tmp_path / "vos.json"
    rc = main(["eval", "vos", "--engine", "classic", "--data", str(root), "--json", str(out), "-q"])
    assert rc == 0
    data = json.loads(out.read_text())
    for key in ("J", "F", "JF", "fps", "per_sequence"):
        assert key in data
    seq = data["per_sequence"]["blackswan"]
    assert set(seq["objects"]) == {"1", "2"}
    assert data["JF"] == pytest.approx((data["J"] + data["F"]) / 2)
    assert data["J"] > 70 and data["F"] > 70  # 6 easy frames from the true first mask
    assert "J&F" in capsys.readouterr().out


def test_eval_vos_clicks_init_and_flow_warp(shared_data, tmp_path):
    root = _mini_davis(shared_data, tmp_path, n=4)
    out = tmp_path / "vos.json"
    assert main(["eval", "vos", "--engine", "flow-warp", "--data", str(root), "--init", "clicks", "--json", str(out), "-q"]) == 0
    data = json.loads(out.read_text())
    assert 0 < data["per_sequence"]["blackswan"]["init_iou"]["1"] <= 1
    assert 0 <= data["JF"] <= 100


def test_eval_errors_are_one_line(shared_data, tmp_path, capsys):
    assert main(["eval", "noc", "--data", str(tmp_path)]) == 2
    assert "not a DAVIS folder" in capsys.readouterr().err
    root = _mini_davis(shared_data, tmp_path, n=2)
    assert main(["eval", "vos", "--data", str(root), "--sequences", "nope"]) == 2
    assert "no sequence named nope" in capsys.readouterr().err
    assert main(["eval", "vos", "--engine", "grabcut-plain", "--data", str(root)]) == 2
    assert main(["eval", "noc", "--engine", "no-such-model", "--data", str(root)]) == 2


def test_eval_vos_save_writes_davis_pngs(shared_data, tmp_path):
    """--save DIR: one DAVIS palette PNG per frame, named as the frame, that our DAVIS reader
    (and the official evaluator's layout) reads back; ids as in the ground truth."""
    root = _mini_davis(shared_data, tmp_path, n=4, multi=True)
    save = tmp_path / "pred"
    assert main(["eval", "vos", "--engine", "classic", "--data", str(root), "--save", str(save), "-q"]) == 0
    pngs = sorted(p.name for p in (save / "blackswan").glob("*.png"))
    assert pngs == [f"{i:05d}.png" for i in range(4)]
    first = np.array(Image.open(save / "blackswan" / "00000.png"))
    assert Image.open(save / "blackswan" / "00000.png").mode == "P"
    gt = read_label_png(root / "Annotations" / "480p" / "blackswan" / "00000.png")
    gt = np.where(gt == 255, 0, gt)
    assert set(np.unique(first)) <= {0, 1, 2} and (first == 1).sum() > 0
    inter = ((first > 0) & (gt > 0)).sum() / max(1, ((first > 0) | (gt > 0)).sum())
    assert inter > 0.9  # frame 0 is the prompt mask
