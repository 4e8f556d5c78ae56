"""The per-item heavy work of an export, as plain functions of plain payloads.

A format builds one payload per media item (paths, sizes, RLE - never project objects) and
hands the list to `run_all`. By default each payload runs here, in order (`annotator export`);
`annotator batch export` sets `runner` to send them to its workers instead and give the
results back in the same order. Either way the same function writes the same bytes, so the
two exports are identical. A worker writes into the export's staging folder (on a cluster it
must be a path every node sees).
"""
from __future__ import annotations

import contextvars
import importlib
from typing import Callable

# kind -> "module:function" (imported when first used: the workers import only what they run)
WORK = {
    "frame-files": "annotator.formats.frame_files:write_item_frames",
    "davis-pngs": "annotator.formats.davis:write_sequence_pngs",
}

# runner(kind, payloads) -> results in payload order; None: run here
runner: contextvars.ContextVar[Callable[[str, list[dict]], list[dict]] | None] = \
    contextvars.ContextVar("annotator_export_runner", default=None)


def function(kind: str) -> Callable[[dict], dict]:
    mod, name = WORK[kind].split(":")
    return getattr(importlib.import_module(mod), name)


def run_one(kind: str, payload: dict, report: Callable[[int], None] | None = None) -> dict:
    fn = function(kind)
    return fn(payload, report) if report is not None else fn(payload)


def run_all(kind: str, payloads: list[dict], report: Callable[[int, int], None] | None = None) -> list[dict]:
    """Results of `payloads` in order; `report(done, total)` counts the units (frames, PNGs) of
    the in-process run as they are written."""
    r = runner.get()
    if r is not None:
        return r(kind, payloads)
    total = sum(int(p.get("units", 1)) for p in payloads)
    done = [0]

    def one(n: int) -> None:
        done[0] += n
        if report is not None:
            report(done[0], total)

    return [run_one(kind, p, one) for p in payloads]
