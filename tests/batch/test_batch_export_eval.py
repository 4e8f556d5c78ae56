"""batch export and batch eval with the local process pool: the serial results, exactly."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from batch_helpers import DATA, coco_doc, export_eval_project, tree

from annotator.batch import executors
from annotator.batch.evaluate import evaluate as batch_evaluate
from annotator.batch.export import export as batch_export
from annotator.core.store import Project
from annotator.eval.project import evaluate as serial_evaluate
from annotator.formats.registry import get_format

pytestmark = pytest.mark.timeout(600)
GT = DATA / "davis2016"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return export_eval_project(tmp_path_factory.mktemp("exp"))


@pytest.mark.parametrize("fmt,opts", [("coco", {"images": "write"}), ("davis", {}), ("ytvis", {"images": "write"})])
def test_batch_export_is_the_serial_export(project, tmp_path, fmt, opts):
    f = get_format(fmt)
    single = fmt in ("coco", "ytvis")
    serial = tmp_path / "serial" / ("out.json" if single else "out")
    batch = tmp_path / "batch" / ("out.json" if single else "out")
    with Project.open(project, readonly=True) as p:
        f.export(p, serial, **opts)
        with executors.LocalExecutor(2) as ex:
            s, fmt_summary, why = batch_export(p, f, batch, ex, options=opts)
    assert why is None and s.failed == 0
    assert s.done == 3 and s.frames > 0  # one task per item (2 frame folders, 1 video file)
    if single:
        assert coco_doc(serial) == coco_doc(batch)
        sub = "images" if fmt == "coco" else "JPEGImages"
        files_a, files_b = tree(serial.parent / sub), tree(batch.parent / sub)
    else:
        files_a, files_b = tree(serial), tree(batch)
    assert files_a and files_a == files_b  # every frame and PNG, byte for byte
    if fmt == "coco":  # the video's frames were decoded and encoded by the workers
        assert any(k.startswith("01_dog/") for k in files_b)
    assert fmt_summary.lines()


def test_batch_export_failure_writes_nothing(project, tmp_path):
    """An item whose media vanished fails in its worker: nothing is written, the item is named."""
    import shutil

    work = tmp_path / "p"
    shutil.copytree(Path(project).parent, work)
    (work / "media" / "car-shadow" / "00002.jpg").unlink()
    out = tmp_path / "out.json"
    with Project.open(work / Path(project).name, readonly=True) as p:
        victim = next(i.id for i in p.items() if i.name == "car-shadow")
        with executors.LocalExecutor(2) as ex:
            s, _, why = batch_export(p, get_format("coco"), out, ex, options={"images": "write"})
    assert s.failed == 1 and victim in s.errors and "car-shadow" in s.errors[victim]
    assert why and "nothing written" in why
    assert not out.exists() and not (tmp_path / "images").exists()


def test_batch_eval_is_the_serial_eval(project, tmp_path):
    with Project.open(project, readonly=True) as p:
        serial = serial_evaluate(p, GT)
        with executors.LocalExecutor(2) as ex:
            s, data = batch_evaluate(p, GT, ex)
    assert data == serial
    assert (s.done, s.failed) == (2, 0) and len(s.skipped) == 1  # the video file has no GT sequence
    assert set(data["per_item"]) == {"blackswan", "car-shadow"}
    for r in data["per_item"].values():
        assert r["frames"] == 2 and 50 < r["J"] <= 100 and 0 < r["F"] <= 100
    # the CLI prints the table and writes the same numbers
    js = tmp_path / "eval.json"
    r = subprocess.run([sys.executable, "-m", "annotator", "batch", "eval", str(project), "--gt", str(GT),
                        "--workers", "2", "--json", str(js), "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "| blackswan |" in r.stdout and "| **mean** |" in r.stdout
    assert json.loads(js.read_text()) == json.loads(json.dumps(serial))


def test_batch_eval_records_a_failing_item_and_goes_on(project, tmp_path):
    """Ground truth of the wrong size for one sequence: that item fails, named; the other is scored."""
    import shutil

    import numpy as np
    from PIL import Image

    gt = tmp_path / "gt"
    for kind in ("JPEGImages", "Annotations"):
        for seq in ("blackswan", "car-shadow"):
            shutil.copytree(GT / kind / "480p" / seq, gt / kind / "480p" / seq)
    bad = gt / "Annotations" / "480p" / "car-shadow" / "00001.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad)
    with Project.open(project, readonly=True) as p:
        victim = next(i.id for i in p.items() if i.name == "car-shadow")
        with executors.LocalExecutor(2) as ex:
            s, data = batch_evaluate(p, gt, ex)
        assert data == serial_evaluate(p, gt)
    assert (s.done, s.failed) == (1, 1) and "10x10" in s.errors[victim]
    assert set(data["per_item"]) == {"blackswan"} and str(victim) in data["failed"]


def test_batch_export_cli_json_progress(project, tmp_path):
    out = tmp_path / "davis"
    r = subprocess.run([sys.executable, "-m", "annotator", "batch", "export", str(project), "-f", "davis",
                        "-o", str(out), "--workers", "2", "--json-progress"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "end"
    assert [x["event"] for x in lines].count("item") == 3
    assert lines[-1]["summary"]["done"] == 3 and lines[-1]["summary"]["failed"] == 0
    assert (out / "blackswan" / "00003.png").is_file()
