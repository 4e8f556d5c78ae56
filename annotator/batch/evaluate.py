"""`annotator batch eval`: each video item scored against DAVIS-layout ground truth by the
workers (eval/project.score_item), the summary put together by the driver in item order -
the same numbers as eval/project.evaluate computes in one process."""
from __future__ import annotations

from annotator.batch.collect import Collector
from annotator.batch.executors import Task
from annotator.errors import AnnotatorError


def evaluate(project, gt_root, executor, item_ids=None, progress=None, stop=None):
    """-> (batch Summary, the JSON summary of the items that were scored)."""
    from annotator.eval import project as scoring

    seqs = scoring.gt_sequences(gt_root)
    col = Collector("eval", executor, progress, stop)
    tasks, failed = [], {}
    for item in project.items():
        if item_ids is not None and item.id not in item_ids:
            continue
        try:
            p, why = scoring.payload(project, item, seqs)
        except AnnotatorError as e:  # this item's ground truth does not fit it
            failed[item.id] = str(e)
            continue
        if p is None:
            col.summary.skipped[item.id] = why
            continue
        tasks.append(Task(item.id, "eval-item", p, meta={"name": item.name, "payload": p}))
    col.start()
    col.summary.total += len(failed)
    col.summary.failed += len(failed)
    col.summary.errors.update(failed)
    got = col.run(tasks)
    s = col.end()
    data = scoring.report([(t.payload, got[t.key]) for t in tasks if t.key in got])
    data["failed"] = {str(k): v for k, v in sorted(s.errors.items())}
    return s, data
