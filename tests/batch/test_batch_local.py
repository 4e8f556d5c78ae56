"""The batch runner with the local process pool: results, done-records, faults, the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batch_helpers import davis_project, masks_by_item

from annotator.batch import driver, executors
from annotator.batch.jobs import PropagateJob
from annotator.core.store import Project

pytestmark = pytest.mark.timeout(600)


def drilled(ex, victim: int, marker: Path):
    """`ex`, the real executor, fed a task stream where `victim`'s task first kills its worker."""
    real_run = ex.run

    def run(tasks, stop=lambda: False):
        def stream():
            for t in tasks:
                if t.key == victim:
                    t.kind, t.payload = "drill", {"die_once": str(marker), "then": t.kind, "payload": t.payload}
                yield t
        yield from real_run(stream(), stop)

    ex.run = run
    return ex


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 2-sequence batch run once in-process-free with 1 worker: the results others must equal."""
    tmp = tmp_path_factory.mktemp("ref")
    path = davis_project(tmp, sequences=("blackswan", "car-shadow"))
    with Project.open(path) as p, executors.LocalExecutor(1) as ex:
        s = driver.run(p, PropagateJob("classic"), ex)
    assert (s.done, s.failed) == (2, 0)
    return masks_by_item(path)


def test_propagate_writes_each_item_once_and_records_it(tmp_path, reference):
    path = davis_project(tmp_path, sequences=("blackswan", "car-shadow"))
    with Project.open(path) as p, executors.LocalExecutor(2) as ex:
        s = driver.run(p, PropagateJob("classic"), ex)
        assert (s.total, s.done, s.failed, s.frames) == (2, 2, 0, 4)
        recs = driver.records(p, "propagate")
        assert {r["status"] for r in recs.values()} == {"done"}
        r = next(iter(recs.values()))
        assert r["engine"] == "classic" and r["frames"] == 2 and "at" in r and "options" in r
        # each item is one undo step: undoing the last one removes exactly its propagated frames
        assert p.undo_label.startswith("Batch propagate")
        p.undo()
        left = masks_by_item(path)
        assert sum(v[0] == "propagated" for m in left.values() for v in m.values()) == 2
        p.redo()
        # a re-run skips both; --redo runs them again with the same result
        s2 = driver.run(p, PropagateJob("classic"), ex)
        assert (s2.total, s2.skipped_done) == (0, 2)
        s3 = driver.run(p, PropagateJob("classic"), ex, redo=True)
        assert s3.done == 2
        assert p.integrity_ok()
    got = masks_by_item(path)
    assert got == reference  # 2 workers, redone: identical to the 1-worker run
    for m in got.values():  # frame 0 stays the person's, frames 1-2 propagated
        assert m[(1, 0)][0] == "manual" and m[(1, 1)][0] == m[(1, 2)][0] == "propagated"


def test_failing_item_is_recorded_and_the_rest_go_on(tmp_path):
    path = davis_project(tmp_path, sequences=("blackswan", "car-shadow"))
    with Project.open(path) as p:
        bad = p.items()[0]
        for f in Path(bad.abspath).iterdir():
            f.write_bytes(b"not a jpeg")
        with executors.LocalExecutor(2) as ex:
            s = driver.run(p, PropagateJob("classic"), ex)
        assert (s.done, s.failed) == (1, 1)
        rec = p.get_state(driver.state_key("propagate", bad.id))
        assert rec["status"] == "failed" and rec["error"]
        assert p.integrity_ok()


def test_killed_worker_is_retried_and_nothing_is_lost(tmp_path, reference):
    path = davis_project(tmp_path, sequences=("blackswan", "car-shadow"))
    marker = tmp_path / "died"
    with Project.open(path) as p:
        victim = p.items()[1].id
        job = PropagateJob("classic")
        ex = drilled(executors.LocalExecutor(2, retries=1), victim, marker)
        with ex:
            s = driver.run(p, job, ex)
            assert ex.pool_restarts >= 1
        assert marker.exists()  # the worker really died once
        assert (s.done, s.failed) == (2, 0)
        assert p.integrity_ok()
    assert masks_by_item(path) == reference


def test_worker_that_keeps_dying_is_recorded_failed(tmp_path):
    with executors.LocalExecutor(1, retries=0) as ex:
        tasks = [executors.Task(1, "drill", {"die_always": True}), executors.Task(2, "noop", {"n": 2})]
        out = {t.key: (r, e) for t, r, e in ex.run(iter(tasks))}
    assert out[1] == (None, executors.WORKER_DIED)
    assert out[2][0]["echo"] == 2  # the other task, broken with the pool, ran again


def _cli(*args, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "annotator", "batch", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_killed_driver_loses_only_items_in_flight_and_rerun_finishes(tmp_path, reference):
    path = davis_project(tmp_path, sequences=("blackswan", "car-shadow"))
    proc = _cli("propagate", str(path), "--workers", "1", "--json-progress")
    for line in proc.stdout:  # kill the driver as soon as the first item is written
        if json.loads(line)["event"] == "item":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(60)
    with Project.open(path) as p:
        assert p.integrity_ok()
        done = [r for r in driver.records(p, "propagate").values() if r["status"] == "done"]
        assert len(done) == 1
    proc = _cli("propagate", str(path), "--workers", "1", "--json-progress")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    end = json.loads(out.strip().splitlines()[-1])
    assert end["event"] == "end" and end["skipped_done"] == 1 and end["done"] == 1
    assert masks_by_item(path) == reference


def test_cli_summary_and_encode_refusal(tmp_path):
    path = davis_project(tmp_path, sequences=("blackswan",), frames=2)
    r = subprocess.run([sys.executable, "-m", "annotator", "batch", "encode", str(path)], capture_output=True,
                       text=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 2 and "no embedding cache" in r.stderr and "Traceback" not in r.stderr
    p = _cli("propagate", str(path), "--workers", "1")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "propagate on local (1 workers): 1 done, 0 failed" in out
    assert "frames/s" in err


def test_segment_everything_batch_adds_auto_objects_and_redo_replaces_them(tmp_path):
    import shutil

    from batch_helpers import DATA

    from annotator.batch.jobs import EverythingJob

    path = davis_project(tmp_path, sequences=("dog",), frames=2)
    with Project.open(path) as p:
        for name in ("blackswan", "car-shadow"):
            img = tmp_path / f"{name}.jpg"
            shutil.copy(DATA / "davis2016/JPEGImages/480p" / name / "00000.jpg", img)
            p.add_item(img, "image", 854, 480, 1, 0.0)
        job = EverythingJob("classic", options={"mode": "grid", "points_per_side": 2})
        with executors.LocalExecutor(2) as ex:
            s = driver.run(p, job, ex)
            assert (s.done, s.failed) == (2, 0) and len(s.skipped) == 1  # the video has nothing to do
            first = {it.id: len(p.tracks(it.id)) for it in p.items() if it.kind == "image"}
            assert all(n >= 1 for n in first.values())
            assert {m.source for it in p.items() if it.kind == "image" for m in p.masks(item_id=it.id)} == {"auto"}
            s2 = driver.run(p, job, ex, redo=True)
            assert s2.done == 2
        again = {it.id: len(p.tracks(it.id)) for it in p.items() if it.kind == "image"}
        assert again == first  # replaced, not doubled
        assert p.integrity_ok()


def test_ctrl_c_stops_scheduling_keeps_what_finished(tmp_path):
    path = davis_project(tmp_path, sequences=("blackswan", "bmx-trees", "car-shadow", "dog"), frames=2)
    proc = _cli("propagate", str(path), "--workers", "1", "--json-progress")
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if lines[-1]["event"] == "item":
            proc.send_signal(signal.SIGINT)
            break
    out, err = proc.communicate(timeout=300)
    lines += [json.loads(x) for x in out.strip().splitlines()]
    assert proc.returncode == 130, err
    end = lines[-1]["summary"]
    assert end["interrupted"] and 1 <= end["done"] < 4 and end["failed"] == 0
    with Project.open(path) as p:
        assert p.integrity_ok()
        assert sum(r["status"] == "done" for r in driver.records(p, "propagate").values()) == end["done"]
    proc = _cli("propagate", str(path), "--workers", "1", "--json-progress")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["skipped_done"] == end["done"] and last["done"] == 4 - end["done"]


def test_encode_fills_the_embedding_cache(tmp_path):
    import shutil

    from batch_helpers import DATA

    from annotator.batch.jobs import EncodeJob
    from annotator.errors import AnnotatorError

    with pytest.raises(AnnotatorError, match="no embedding cache"):
        EncodeJob("sam2.1_hiera_tiny").check()
    path = tmp_path / "e.annotator"
    with Project.create(path) as p:
        img = tmp_path / "dog.jpg"
        shutil.copy(DATA / "davis2016/JPEGImages/480p/dog/00000.jpg", img)
        p.add_item(img, "image", 854, 480, 1, 0.0)
        job = EncodeJob("tinysam", "random")
        with executors.LocalExecutor(1) as ex:
            s = driver.run(p, job, ex)
        assert (s.done, s.failed) == (1, 0), s.errors
        first = driver.records(p, "encode")
        with executors.LocalExecutor(1) as ex:  # new worker processes: the hit is the disk cache's
            s2 = driver.run(p, job, ex, redo=True)
        assert s2.done == 1
        again = driver.records(p, "encode")
    assert [r["encoder_runs"] for r in first.values()] == [1]
    assert [r["encoder_runs"] for r in again.values()] == [0]
    assert list((Path(os.environ["ANNOTATOR_HOME"])).rglob("embeddings/tinysam/*.npz"))
