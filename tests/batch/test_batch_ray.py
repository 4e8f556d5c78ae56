"""The batch runner on a local Ray cluster (2 CPUs), started once for this module."""
from __future__ import annotations

import pytest

from batch_helpers import davis_project, masks_by_item

ray = pytest.importorskip("ray")

from annotator.batch import driver, executors  # noqa: E402
from annotator.batch.jobs import PropagateJob  # noqa: E402
from annotator.core.store import Project  # noqa: E402

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

SEQS = ("blackswan", "bmx-trees", "car-shadow", "dog")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("rayhome")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"ANNOTATOR_HOME": str(home), "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


def _drilled(ex, victim, extra: dict):
    real_run = ex.run

    def run(tasks, stop=lambda: False):
        def stream():
            for t in tasks:
                if t.key == victim:
                    t.kind, t.payload = "drill", dict(extra, then=t.kind, payload=t.payload)
                yield t
        yield from real_run(stream(), stop)

    ex.run = run
    return ex


def test_ray_gives_the_local_results_and_survives_a_killed_worker(cluster, tmp_path):
    local = davis_project(tmp_path / "local", sequences=SEQS, frames=2)
    with Project.open(local) as p, executors.LocalExecutor(2) as ex:
        assert driver.run(p, PropagateJob("classic"), ex).done == 4
    on_ray = davis_project(tmp_path / "ray", sequences=SEQS, frames=2)
    marker = tmp_path / "died"
    with Project.open(on_ray) as p:
        victim = p.items()[2].id
        ex = _drilled(executors.RayExecutor(workers=2), victim, {"die_once": str(marker)})
        with ex:
            s = driver.run(p, PropagateJob("classic"), ex)
        assert marker.exists()  # a Ray worker really died once; Ray ran its task again
        assert (s.executor, s.done, s.failed) == ("ray", 4, 0)
        assert p.integrity_ok()
    assert masks_by_item(on_ray) == masks_by_item(local)


def test_ray_worker_that_keeps_dying_is_recorded_failed(cluster, tmp_path):
    path = davis_project(tmp_path, sequences=SEQS[:2], frames=2)
    with Project.open(path) as p:
        victim = p.items()[0].id
        ex = _drilled(executors.RayExecutor(workers=2, retries=1), victim, {"die_always": True})
        s = driver.run(p, PropagateJob("classic"), ex)
        assert (s.done, s.failed) == (1, 1)
        rec = p.get_state(driver.state_key("propagate", victim))
        assert rec["status"] == "failed" and rec["error"] == executors.WORKER_DIED
        assert p.integrity_ok()
        # the re-run does the failed item only (the worker no longer dies)
        s2 = driver.run(p, PropagateJob("classic"), executors.RayExecutor(workers=2))
        assert (s2.skipped_done, s2.done) == (1, 1)


def test_ray_export_and_eval_are_the_serial_ones(cluster, tmp_path):
    from batch_helpers import DATA, coco_doc, export_eval_project, tree

    from annotator.batch.evaluate import evaluate as batch_evaluate
    from annotator.batch.export import export as batch_export
    from annotator.eval.project import evaluate as serial_evaluate
    from annotator.formats.registry import get_format

    path = export_eval_project(tmp_path / "p")
    with Project.open(path, readonly=True) as p, executors.RayExecutor(workers=2) as ex:
        for fmt, out, opts in (("coco", "out.json", {"images": "write"}), ("davis", "out", {})):
            f = get_format(fmt)
            f.export(p, tmp_path / "serial" / out, **opts)
            s, _, why = batch_export(p, f, tmp_path / "ray" / out, ex, options=opts)
            assert (s.executor, s.done, s.failed, why) == ("ray", 3, 0, None)
            if fmt == "coco":
                assert coco_doc(tmp_path / "serial" / out) == coco_doc(tmp_path / "ray" / out)
                assert tree(tmp_path / "serial" / "images") == tree(tmp_path / "ray" / "images")
            else:
                assert tree(tmp_path / "serial" / out) == tree(tmp_path / "ray" / out)
        s, data = batch_evaluate(p, DATA / "davis2016", ex)
        assert (s.done, s.failed) == (2, 0)
        assert data == serial_evaluate(p, DATA / "davis2016")
