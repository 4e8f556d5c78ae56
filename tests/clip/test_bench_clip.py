"""`annotator bench clip` runs every step on an installed (small) CLIP and reports each figure."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

import clip_synth
from annotator.cli import main


def test_bench_clip_table_and_json(monkeypatch, tmp_path, small_clip, clip_vocab, clip_photos, capsys):
    clip_synth.install_small_clip(monkeypatch, tmp_path, small_clip, *clip_vocab)
    img = tmp_path / "p.png"
    Image.fromarray(clip_photos[0][::8, ::8].copy()).save(img)
    out = tmp_path / "b.json"
    rc = main(["bench", "clip", "--clip", "clip_small", "--image", str(img), "--repeats", "1", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    table = capsys.readouterr().out
    for row in ("image tower", "text tower", "dense map", "text prompt end to end", "peak RSS"):  # noqa
        assert f"| {row}" in table
    r = json.loads(out.read_text())
    assert r["clip"] == "clip_small" and r["weights"].endswith("clip_small.safetensors")
    for k in ("image_tower_ms", "text_tower_ms_16_texts", "dense_map_ms", "text_prompt_end_to_end_ms",
              "text_prompt_labels_cached_ms", "peak_rss_mb"):
        assert r[k] > 0, k
    assert all(v > 0 for v in r["cpu_ms"].values())
    assert r["dense_grid"][0] * 16 == r["dense_input"][0] and max(r["dense_input"]) == 96
    assert "synthetic weights" not in table  # a checkpoint file was timed
    assert np.isfinite(r["load_s"])
