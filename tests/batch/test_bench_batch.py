"""`annotator bench batch` runs end to end (tiny sizes) and writes its JSON."""
from __future__ import annotations

import json

from batch_helpers import DATA

from annotator.cli import main


def test_bench_batch_writes_speed_and_overhead(tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = main(["bench", "batch", "--data", str(DATA / "davis2016"), "--items", "2", "--frames", "2",
               "--tasks", "20", "--no-ray", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["local"]) == {"1", "2"} and all(v["items_per_s"] > 0 for v in res["local"].values())
    assert all(0 < v["cores_used"] <= 2.5 for v in res["local"].values())  # workers are single-threaded
    assert res["speedup_2_vs_1"] > 0 and res["overhead_ms_per_task"]["local"] > 0
    assert "speed-up 2 vs 1 workers" in capsys.readouterr().out
