"""Executors: where tasks run. Both have one interface, `run(tasks, stop) -> outcomes`.

    for task, result, error in executor.run(iter(tasks), stop=lambda: interrupted):
        ...   # exactly one outcome per task that was scheduled, in completion order

The executor keeps a bounded number of tasks in flight (2 per worker, so a worker never
waits on the driver), takes no new task once `stop()` is true and still yields the ones in
flight. A worker that dies (SIGKILL, out of memory, a node lost) makes its task run again
up to `retries` more times, then the task is reported failed (locally, the tasks in flight
when a worker died run again one at a time first, to tell which one it was); a task's own error
(tasks.execute returns {"error": ...}) is reported as it is, never retried.

- LocalExecutor: concurrent.futures.ProcessPoolExecutor with the spawn start method (no
  forked copy of the driver's SQLite connection or threads in the workers).
- RayExecutor: one `ray.remote` task per item on a Ray cluster (`address` "auto", "ray://..."
  or host:port) or on a local one it starts ("local"). Ray is imported only here, lazily.
"""
from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from annotator.batch import tasks as _tasks
from annotator.errors import AnnotatorError

WORKER_DIED = "the worker process died while running this task"


@dataclass
class Task:
    key: int  # the media item id (or any id the caller chooses)
    kind: str
    payload: dict
    attempts: int = 0
    meta: dict = field(default_factory=dict)  # driver-side only; never sent


Outcome = tuple[Task, "dict | None", "str | None"]


def _never() -> bool:
    return False


class Executor:
    name = "executor"
    workers = 1
    retries = 1

    def run(self, tasks: Iterator[Task], stop: Callable[[], bool] = _never) -> Iterator[Outcome]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int | None = None, retries: int = 1, threads: int | None = None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.retries = int(retries)
        # each worker's share of the cores (OpenCV and torch threads)
        self.threads = int(threads or max(1, (os.cpu_count() or 1) // self.workers))
        self._pool = None
        self.pool_restarts = 0

    def _new_pool(self):
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_tasks.init_worker, initargs=(os.getpid(),))

    def worker_pids(self) -> list[int]:
        procs = getattr(self._pool, "_processes", None) or {}
        return list(procs)

    def run(self, tasks, stop=_never):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if self._pool is None:
            self._pool = self._new_pool()
        pending: dict = {}
        # A dead worker breaks the whole pool and does not say which task it ran. The tasks in
        # flight then run again one at a time ("suspects"): a death there names its task,
        # which alone is charged an attempt.
        suspects: list[Task] = []
        source = iter(tasks)
        exhausted = False
        while True:
            while not stop():
                if suspects:
                    if pending:
                        break
                    t = suspects.pop(0)
                elif len(pending) < 2 * self.workers and not exhausted:
                    t = next(source, None)
                    if t is None:
                        exhausted = True
                        break
                else:
                    break
                t.attempts += 1
                pending[self._pool.submit(_tasks.execute, t.kind, t.payload, self.threads)] = t
            if not pending:
                return
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            if not any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                for fut in done:
                    t = pending.pop(fut)
                    res = fut.result()
                    yield (t, None, res["error"]) if "error" in res else (t, res, None)
                continue
            alone = len(pending) == 1
            for fut, t in list(pending.items()):
                del pending[fut]
                if fut.done() and fut.exception() is None:  # finished before the break: keep it
                    res = fut.result()
                    yield (t, None, res["error"]) if "error" in res else (t, res, None)
                elif not alone:
                    t.attempts -= 1  # not known to be the one that died
                    suspects.append(t)
                elif t.attempts <= self.retries:
                    suspects.append(t)
                else:
                    yield t, None, WORKER_DIED
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._new_pool()
            self.pool_restarts += 1

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise AnnotatorError("--ray needs Ray: pip install 'annotator[ray]'") from None
    return ray


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str = "auto", workers: int | None = None, retries: int = 1):
        ray = _import_ray()
        self.retries = int(retries)
        self._started = False
        if not ray.is_initialized():
            env = {"env_vars": {k: os.environ[k] for k in ("ANNOTATOR_HOME", "OMP_NUM_THREADS") if k in os.environ}}
            try:
                if address == "local":
                    ray.init(num_cpus=workers or None, include_dashboard=False, runtime_env=env,
                             log_to_driver=False)
                else:
                    ray.init(address=address, runtime_env=env, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise AnnotatorError(f"--ray {address}: cannot reach a Ray cluster: {e}") from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, int(workers or cpus))
        # max_retries counts re-runs after the worker process died (system failures only);
        # a task's own error comes back as a value and is never retried.
        self._remote = ray.remote(num_cpus=1, max_retries=self.retries)(_tasks.execute)
        self.threads = 1  # one CPU per task, as the task asks Ray for
        self._ray = ray

    def run(self, tasks, stop=_never):
        ray = self._ray
        limit = 2 * self.workers
        pending: dict = {}
        source = iter(tasks)
        while True:
            while len(pending) < limit and not stop():
                t = next(source, None)
                if t is None:
                    break
                t.attempts += 1
                pending[self._remote.remote(t.kind, t.payload, self.threads)] = t
            if not pending:
                return
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                t = pending.pop(ref)
                try:
                    res = ray.get(ref)
                except ray.exceptions.WorkerCrashedError:
                    t.attempts = 1 + self.retries
                    yield t, None, WORKER_DIED
                    continue
                except ray.exceptions.RayError as e:  # node lost, object lost, ...
                    yield t, None, f"Ray: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    continue
                yield (t, None, res["error"]) if "error" in res else (t, res, None)

    def close(self):
        if self._started:
            self._ray.shutdown()
            self._started = False


def make(ray: str | None = None, workers: int | None = None, retries: int = 1) -> Executor:
    """The local pool, or Ray when `ray` names a cluster ("auto", an address, or "local")."""
    return LocalExecutor(workers, retries) if not ray else RayExecutor(ray, workers, retries)
