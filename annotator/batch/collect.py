"""Batches that only read the project (export, eval): tasks out, results back to the driver.

Nothing is written to the project, so nothing is recorded done there and a re-run does all
again; each item's failure is counted and named in the Summary (and the progress lines).
"""
from __future__ import annotations

import time
from typing import Callable

from annotator.batch.driver import StopFlag, Summary
from annotator.batch.executors import Executor, Task


class Collector:
    """Runs task lists on one executor into one Summary (export may hand out several lists)."""

    def __init__(self, command: str, executor: Executor, progress: Callable | None = None,
                 stop: StopFlag | None = None):
        self.executor = executor
        self.summary = Summary(command, executor.name, executor.workers)
        self.note = progress or (lambda event, s, info: None)
        self.stop = stop or StopFlag()
        self._t0: float | None = None

    def start(self) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()
            self.note("start", self.summary, {})

    def run(self, tasks: list[Task]) -> dict:
        """task key -> result of each task that succeeded; failures go to the summary."""
        self.start()
        s = self.summary
        s.total += len(tasks)
        out = {}
        with self.stop.on_sigint():
            for task, result, error in self.executor.run(iter(tasks), self.stop):
                if error is None:
                    s.done += 1
                    s.frames += int(result.get("frames", 0))
                    out[task.key] = result
                else:
                    s.failed += 1
                    s.errors[task.key] = error
                s.seconds = time.perf_counter() - self._t0
                self.note("item", s, {"item": task.key, "name": task.meta.get("name"), "error": error})
        return out

    def end(self) -> Summary:
        self.start()
        s = self.summary
        s.interrupted = self.stop() and s.left > 0
        s.seconds = time.perf_counter() - self._t0
        self.note("end", s, {})
        return s
