"""Leave-one-sequence-out tuning: the selection never sees the held-out sequence, and the
CLI path runs the real classic engine on real frames."""
import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.errors import AnnotatorError
from annotator.eval import loo


def test_parse_grid():
    assert loo.parse_grid(None) == [{}]
    g = loo.parse_grid("a=1,2; b=0.5,true")
    assert g == [{"a": 1, "b": 0.5}, {"a": 1, "b": True}, {"a": 2, "b": 0.5}, {"a": 2, "b": True}]
    for bad in ("a", "a=x", "1a=2"):
        with pytest.raises(AnnotatorError):
            loo.parse_grid(bad)


def _seqs(*names):
    return [SimpleNamespace(name=n) for n in names]


def test_vos_selection_excludes_the_held_out_sequence(tmp_path):
    # Grid point 1 is great on "a" only, point 0 is better on the others: "a" must be scored
    # with point 0 (chosen without it), while the others get point 0 as well.
    table = {
        0: {"a": 10.0, "b": 60.0, "c": 60.0},
        1: {"a": 99.0, "b": 50.0, "c": 52.0},
    }
    grid = [{"k": 0}, {"k": 1}]
    calls = []

    def evaluate(params, seq):
        calls.append((params["k"], seq.name))
        v = table[params["k"]][seq.name]
        return {"1": [v, v]}

    rep = loo.run_loo("vos", _seqs("a", "b", "c"), grid, evaluate, {}, loo.Cache(tmp_path))
    assert rep["per_sequence"]["a"]["chosen"] == {"k": 0}
    assert rep["per_sequence"]["a"]["held_out"]["JF"] == 10.0
    # b held out: on a and c, point 1 averages 75.5 > 35: point 1 is chosen, b scores 50.
    assert rep["per_sequence"]["b"]["chosen"] == {"k": 1}
    assert rep["loo"]["JF"] == pytest.approx(np.mean([10.0, 50.0, 52.0]))
    assert rep["in_sample"]["chosen"] == {"k": 1} and rep["in_sample"]["JF"] == pytest.approx(67.0)
    assert len(calls) == 6
    # Cached: a second run evaluates nothing.
    loo.run_loo("vos", _seqs("a", "b", "c"), grid, evaluate, {}, loo.Cache(tmp_path))
    assert len(calls) == 6


def test_noc_selection_prefers_fewer_clicks(tmp_path):
    noc = {0: {"a": 3, "b": 9}, 1: {"a": 5, "b": 4}}

    def evaluate(params, seq):
        v = noc[params["k"]][seq.name]
        return [{"noc85": v, "noc90": v, "ious": [0.5]}]

    rep = loo.run_loo("noc", _seqs("a", "b"), [{"k": 0}, {"k": 1}], evaluate, {}, loo.Cache(None))
    assert rep["per_sequence"]["a"]["chosen"] == {"k": 1}  # best on b
    assert rep["per_sequence"]["b"]["chosen"] == {"k": 0}  # best on a
    assert rep["loo"]["noc90"] == pytest.approx((5 + 9) / 2)


def test_unknown_knob_is_one_clear_error():
    with pytest.raises(AnnotatorError, match="no knob 'nope'"):
        loo.make_image_session({"nope": 1})
    with pytest.raises(AnnotatorError, match="no knob 'nope'"):
        loo.make_video_session({"nope": 1})


def _two_seq_davis(shared_data, tmp_path, n=3):
    root = tmp_path / "davis"
    for name in ("blackswan", "car-shadow"):
        for sub, ext in (("JPEGImages", "jpg"), ("Annotations", "png")):
            d = root / sub / "480p" / name
            d.mkdir(parents=True)
            for i in range(n):
                shutil.copy(shared_data / "davis2016" / sub / "480p" / name / f"{i:05d}.{ext}", d)
    return root


def test_cli_loo_on_real_frames(shared_data, tmp_path, capsys):
    root = _two_seq_davis(shared_data, tmp_path)
    out = tmp_path / "noc.json"
    rc = main(["eval", "noc", "--data", str(root), "--every", "10", "--max-clicks", "2", "--loo", "extent_factor=4,3",
               "--cache", str(tmp_path / "cache"), "--json", str(out), "-q"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "LOO, all" in text and "in-sample best" in text
    rep = json.loads(out.read_text())
    assert set(rep["per_sequence"]) == {"blackswan", "car-shadow"}
    assert rep["loo"]["samples"] == 2 and 1 <= rep["loo"]["noc90"] <= 2
    assert len(list((tmp_path / "cache").glob("noc-*.json"))) == 4
    rc = main(["eval", "noc", "--data", str(root), "--engine", "grabcut-plain", "--loo", "extent_factor=4"])
    assert rc != 0 and "classic engine's knobs" in capsys.readouterr().err
