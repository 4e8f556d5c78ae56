"""`annotator eval review` on two short real sequences (one with planted drift), and its ranking measures."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.eval.review import average_precision, review_fraction, threshold_for_recall


def test_ranking_measures():
    s = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    y = np.array([True, False, True, False, True])
    # thresholds 0.9 (P 1, R 1/3), 0.8 tie group (P 2/3, R 2/3), 0.3, 0.1 (P 3/5, R 1)
    assert average_precision(s, y) == pytest.approx(1 / 3 * 1 + 1 / 3 * 2 / 3 + 1 / 3 * 3 / 5)
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(5):
        sc = rng.integers(0, 6, 40).astype(float)  # many ties
        lab = rng.random(40) < 0.3
        assert average_precision(sc, lab) == pytest.approx(metrics.average_precision_score(lab, sc))
    assert average_precision(s, np.zeros(5, bool)) is None
    assert review_fraction(s, y) == 1.0  # 80% of 3 = 3 positives: down to the last frame
    assert review_fraction(s, y, target=0.6) == pytest.approx(3 / 5)  # the 0.8 tie group is taken whole
    t = threshold_for_recall(s, y, target=0.6)
    assert ((s > t) & y).sum() == 2 and (s > t).sum() == 3


def _mini(shared_data, tmp_path, n=8):
    src = shared_data / "davis2016"
    root = tmp_path / "davis"
    for name in ("blackswan", "car-shadow"):
        img = root / "JPEGImages" / "480p" / name
        ann = root / "Annotations" / "480p" / name
        img.mkdir(parents=True)
        ann.mkdir(parents=True)
        for i in range(n):
            shutil.copy(src / "JPEGImages" / "480p" / name / f"{i:05d}.jpg", img)
            a = np.array(Image.open(src / "Annotations" / "480p" / name / f"{i:05d}.png")) > 0
            if name == "blackswan" and i >= 5:  # the "truth" moves away: the propagated mask has drifted
                a = np.roll(a, 300, axis=1)
            Image.fromarray((a * 255).astype(np.uint8)).save(ann / f"{i:05d}.png")
    return root


def test_eval_review_command_and_cache(shared_data, tmp_path, capsys):
    root = _mini(shared_data, tmp_path)
    out = tmp_path / "r.json"
    args = ["eval", "review", "--engine", "classic", "--data", str(root), "--detectors", "rglasso,threshold",
            "--cache", str(tmp_path / "cache"), "--json", str(out)]
    assert main(args) == 0
    first = json.loads(out.read_text())
    assert first["frames"] == 14 and first["drifted"] >= 3
    assert first["sequences"]["blackswan"]["drifted"] == 3
    for name in ("rglasso", "threshold"):
        h = first["detectors"][name]["held_out"]
        assert 0.0 <= h["mean_ap"] <= 1.0 and 0.0 <= h["flagged"] <= 1.0
        assert set(first["detectors"][name]["folds"]) == {"blackswan", "car-shadow"}
    a = first["auto_stop"]  # the masks themselves stay on the swan: nothing says lost
    assert a["rule"]["frames"] == 5 and a["stops"] == {} and a["dropped"] == 0 and a["drifted"] == first["drifted"]
    printed = capsys.readouterr()
    assert "| rglasso |" in printed.out and "propagated in" in printed.err
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert main(args) == 0  # from the cache: same figures, nothing propagated
    again = json.loads(out.read_text())
    assert again["detectors"] == first["detectors"]
    assert "propagated in" not in capsys.readouterr().err


def test_eval_review_needs_two_sequences(shared_data, tmp_path, capsys):
    root = _mini(shared_data, tmp_path, n=3)
    assert main(["eval", "review", "--data", str(root), "--sequences", "blackswan", "--no-cache"]) == 2
    assert "at least 2 sequences" in capsys.readouterr().err
