"""`annotator batch export`: the format's own export, its per-item files written by workers.

The format runs here, on the driver, exactly as `annotator export` runs it (same options,
same checks, same documents); what it hands to formats/export_work (the frames a video
export references, DAVIS PNGs) goes to the executor, one task per item, and the driver waits
for all before the format moves its staging folder into place. So the export is the serial
one, byte for byte, and a failed or interrupted item leaves nothing written (the formats'
atomic folders). With Ray on several machines the output folder must be on a path every
node sees (the workers write into its staging folder).
"""
from __future__ import annotations

from pathlib import Path

from annotator.batch.collect import Collector
from annotator.batch.executors import Task
from annotator.errors import FormatError


class ExportIncomplete(FormatError):
    """Some item's files were not written: the export is abandoned, nothing replaced."""


def export(project, fmt, out, executor, item_ids=None, options: dict | None = None, progress=None, stop=None):
    """-> (batch Summary, the format's own summary, the reason nothing was written or None)."""
    from annotator.formats import export_work

    col = Collector("export", executor, progress, stop)
    names = {it.id: it.name for it in project.items()}

    def runner(kind: str, payloads: list[dict]) -> list[dict]:
        tasks = [Task(p["item_id"], "export-work", {"work": kind, "payload": p},
                      meta={"name": names.get(p["item_id"])}) for p in payloads]
        got = col.run(tasks)
        missing = [p["item_id"] for p in payloads if p["item_id"] not in got]
        if missing:
            s = col.summary
            why = (f"{len(missing)} item(s) failed (first: item {missing[0]}: {s.errors[missing[0]]})"
                   if missing[0] in s.errors else f"interrupted with {len(missing)} item(s) not written")
            raise ExportIncomplete(f"{out}: {why}; nothing written")
        return [got[p["item_id"]] for p in payloads]

    token = export_work.runner.set(runner)
    col.start()
    fmt_summary, why = None, None
    try:
        fmt_summary = fmt.export(project, Path(out), item_ids=item_ids, **dict(options or {}))
    except ExportIncomplete as e:
        why = str(e)
    finally:
        export_work.runner.reset(token)
    return col.end(), fmt_summary, why
