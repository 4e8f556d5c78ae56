"""`annotator bench classic` runs on real frames and writes its JSON."""
import json

from annotator.cli import main


def test_bench_classic_smoke(shared_data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "classic", "--data", str(shared_data / "davis2016"), "--clicks", "2", "--frames", "2", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["frame_size"] == [854, 480]
    assert data["click_ms"]["n"] == 8  # 4 frames x 2 clicks
    assert data["click_cpu_ms"]["median"] > 0
    assert data["propagate_ms_per_frame"]["n"] == 2
    assert 0 < data["iou_after_clicks"] <= 1
    assert 0.5 < data["box_iou"] <= 1 and 0 <= data["box_iou_grabcut_plain"] <= 1
    assert data["multimask_candidates"]["min"] >= 3
    assert "click -> mask" in capsys.readouterr().out


def test_bench_classic_missing_data(tmp_path, capsys):
    assert main(["bench", "classic", "--data", str(tmp_path / "nope")]) == 2
    assert "DAVIS folder not found" in capsys.readouterr().err
