"""bench everything's NMS comparison and eval everything run and report what they measured."""
from __future__ import annotations

import json

import numpy as np


def test_nms_bench_on_synthetic_proposals():
    from annotator.bench.everything import bench_nms, synthetic_candidates

    masks, scores = synthetic_candidates(24, h=120, w=160)
    r = bench_nms(masks, scores, 0.5, "synthetic")
    assert r["candidates"] == 24
    assert r["greedy_variants_agree"] and r["fast_subset_of_greedy"] and r["fast_only_differs_as_allowed"]
    assert 0 < r["fast_mask"]["kept"] <= r["greedy_mask_rows"]["kept"] < 24  # duplicates removed


def test_eval_everything_classic_runs_and_says_what_it_measured(shared_data, tmp_path, capsys):
    from annotator.cli import main

    out = tmp_path / "ev.json"
    assert main(["eval", "everything", "--data", str(shared_data / "davis2016"), "--model", "classic",
                 "--sequences", "blackswan", "--mode", "grid", "--points-per-side", "2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["objects"] == 1 and d["images"] == 1 and "GrabCut" in d["measured"]
    assert 0.0 <= d["recall@0.75"] <= d["recall@0.5"] <= 1.0 and 0.0 <= d["mean_best_iou"] <= 1.0
    assert "recall@0.5" in capsys.readouterr().out
