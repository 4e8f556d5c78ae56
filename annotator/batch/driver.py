"""The batch driver: the one process that writes to the project.

Workers compute; the driver alone holds the project open for writing. Each item's result is
written in ONE transaction together with its done-record (Project.atomic: one undo step),
so a crash or kill of the driver loses only the items in flight, and a record never says
"done" for masks that are not there. The record lives in the project's state table under
`batch/<command>/<item id>`: status (done | failed), engine, model, options, time, and what
the job kept (counts, ids). A re-run skips done items unless `redo`; failed ones run again.

Ctrl+C (SIGINT) once: no new task is scheduled, the ones in flight finish and are written.
A second Ctrl+C interrupts at once (what was written stays).
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from annotator.batch.executors import Executor, Task

STATE_PREFIX = "batch"


def state_key(command: str, item_id: int) -> str:
    return f"{STATE_PREFIX}/{command}/{item_id}"


@dataclass
class Summary:
    command: str
    executor: str
    workers: int
    total: int = 0  # items the batch had to do
    done: int = 0
    failed: int = 0
    skipped_done: int = 0  # done by an earlier run
    skipped: dict = field(default_factory=dict)  # item id -> why it has nothing to do
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    errors: dict = field(default_factory=dict)  # item id -> error

    @property
    def left(self) -> int:
        return self.total - self.done - self.failed

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("command", "executor", "workers", "total", "done", "failed",
                                          "skipped_done", "frames", "seconds", "interrupted")}
        d.update(left=self.left, skipped={str(k): v for k, v in self.skipped.items()},
                 errors={str(k): v for k, v in self.errors.items()})
        return d


class StopFlag:
    """Set by the first SIGINT (while installed), or by a caller (a GUI's cancel)."""

    def __init__(self):
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        return self._event.is_set()

    @contextlib.contextmanager
    def on_sigint(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self():
                raise KeyboardInterrupt
            self.set()

        old = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)


def records(project, command: str) -> dict[int, dict]:
    """item id -> done-record of `command` for every item that has one."""
    out = {}
    for it in project.items():
        r = project.get_state(state_key(command, it.id))
        if isinstance(r, dict):
            out[it.id] = r
    return out


def plan(project, job, item_ids=None, redo: bool = False, executor: Executor | None = None) -> tuple[Summary, list[Task]]:
    """The summary so far and the tasks to run: every item (or `item_ids`) not done yet that
    has something for `job`. Reads the project only."""
    job.check()
    summary = Summary(job.command, executor.name if executor else "local", executor.workers if executor else 1)
    items = project.items()
    if item_ids is not None:
        wanted = set(item_ids)
        missing = wanted - {i.id for i in items}
        if missing:
            from annotator.errors import AnnotatorError

            raise AnnotatorError(f"{project.path}: no media item {min(missing)}")
        items = [i for i in items if i.id in wanted]
    todo: list[Task] = []
    for it in items:
        prev = project.get_state(state_key(job.command, it.id))
        if isinstance(prev, dict) and prev.get("status") == "done" and not redo:
            summary.skipped_done += 1
            continue
        payload, why = job.payload(project, it)
        if payload is None:
            summary.skipped[it.id] = why
            continue
        todo.append(Task(it.id, job.kind, payload, meta={"item": it, "previous": prev, "payload": payload}))
    summary.total = len(todo)
    return summary, todo


def apply(project, job, summary: Summary, task: Task, result: dict | None, error: str | None) -> str | None:
    """Write one outcome (a result in one transaction with its done-record, or the failure
    record) and count it; returns the item's error, if any. The one writer calls this."""
    it = task.meta["item"]
    base = dict(job.record(), at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), attempts=task.attempts)
    if error is None:
        try:
            with project.atomic(f"Batch {job.command} {it.name}"):
                kept = job.write(project, it, task.meta["payload"], result, task.meta["previous"])
                project.set_state(state_key(job.command, it.id),
                                  dict(base, status="done", seconds=round(result.get("seconds", 0.0), 3),
                                       cpu_seconds=round(result.get("cpu_seconds", 0.0), 3), **kept))
        except Exception as e:  # a result the project refuses fails this item only
            from annotator.errors import AnnotatorError

            if not isinstance(e, AnnotatorError):
                raise
            error = str(e)
    if error is None:
        summary.done += 1
        summary.frames += int(result.get("frames", 0))
    else:
        summary.failed += 1
        summary.errors[it.id] = error
        project.set_state(state_key(job.command, it.id), dict(base, status="failed", error=error))
    return error


def run(project, job, executor: Executor, item_ids=None, redo: bool = False,
        progress: Callable[[str, Summary, dict], None] | None = None, stop: StopFlag | None = None) -> Summary:
    """Run `job` over the project's items (all, or `item_ids`) on `executor`."""
    stop = stop or StopFlag()
    summary, todo = plan(project, job, item_ids, redo, executor)
    note = progress or (lambda event, s, info: None)
    note("start", summary, {})
    t0 = time.perf_counter()
    with stop.on_sigint():
        for task, result, error in executor.run(iter(todo), stop):
            error = apply(project, job, summary, task, result, error)
            summary.seconds = time.perf_counter() - t0
            it = task.meta["item"]
            note("item", summary, {"item": it.id, "name": it.name, "error": error})
    summary.interrupted = stop() and summary.left > 0
    summary.seconds = time.perf_counter() - t0
    note("end", summary, {})
    return summary
