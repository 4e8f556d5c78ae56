"""Runs the fuzz corpus (fuzz_corpus) in child processes (fuzz_child) and tallies, per area:
inputs tried / accepted / clear errors / vague errors / tracebacks / crashes / hangs / over the
memory cap / wrongly accepted / data lost.

One child runs a batch of cases under RLIMIT_AS; a case that kills it (signal, exit) is a
crash, one that runs past the per-case timeout is a hang (the child is killed), and the rest
of the batch goes on in a new child.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# The checkout whose annotator package the children import (another one: before/after figures)
CODE_ROOT = Path(os.environ.get("ANNOTATOR_FUZZ_CODE", ROOT))
CHILD = HERE / "fuzz_child.py"
MEM_MB = 2048          # address-space cap of a child (the Python + numpy + OpenCV baseline is ~0.9 GB)
CASE_TIMEOUT = 30.0    # seconds one case may take (the slowest real case takes ~2 s here)
START_TIMEOUT = 60.0   # importing annotator in a fresh child, on a loaded 2-core machine
COLUMNS = ("tried", "ok", "clear", "vague", "traceback", "crash", "hang", "memory", "wrong", "lost")
FAILURES = ("vague", "traceback", "crash", "hang", "memory", "wrong", "lost")


def make_template(work: Path) -> Path:
    """The project every import case starts from: an image, a video and a category."""
    from annotator.core.store import Project

    path = work / "template.annotator"
    with Project.create(path) as p:
        p.add_category("cat")
        p.add_item(work / "media" / "a.png", "image", 16, 12)
        p.add_item(work / "media" / "clip.mp4", "video", 16, 12, num_frames=5, fps=24.0)
    return path


def _env() -> dict:
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "PYTHONPATH": str(CODE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")})
    return env


def _run_batch(cases: list[dict], work: Path, results: dict, mem_mb: int, case_timeout: float) -> list[dict]:
    """Run cases in one child until it finishes, crashes or hangs; the cases not run."""
    batch = work / "batch.json"
    batch.write_text(json.dumps(cases, allow_nan=True))
    proc = subprocess.Popen([sys.executable, str(CHILD), str(batch), str(work), str(mem_mb)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=work)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in iter(proc.stdout.readline, "")] + [lines.put(None)],
                     daemon=True).start()
    err: list[str] = []
    threading.Thread(target=lambda: err.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    current, deadline = None, time.monotonic() + START_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            proc.kill()
            proc.wait()
            if current is None:
                raise RuntimeError("fuzz child did not start: " + "".join(err)[-2000:])
            results[cases[current]["id"]] = {"outcome": "hang", "message": f"over {case_timeout:.0f} s"}
            return cases[current + 1:]
        if line is None:  # the child ended
            rc = proc.wait()
            if current is not None and cases[current]["id"] not in results:
                results[cases[current]["id"]] = {"outcome": "crash",
                                                 "message": f"child ended with {rc}: {''.join(err)[-300:]}"}
                return cases[current + 1:]
            if current is None or current < len(cases) - 1:
                if current is None and rc != 0:
                    raise RuntimeError("fuzz child failed: " + "".join(err)[-2000:])
                return cases[(current or 0) + 1:] if current is not None else cases
            return []
        if line.startswith("S "):
            current = int(line[2:])
            deadline = time.monotonic() + case_timeout
        elif line.startswith("R "):
            results[cases[current]["id"]] = json.loads(line[2:])


def run(cases: list[dict], work: Path, mem_mb: int = MEM_MB, case_timeout: float = CASE_TIMEOUT) -> dict:
    """{case id: {"outcome", "message", ...}} for every case."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    make_template(work)
    results: dict = {}
    todo = list(cases)
    while todo:
        todo = _run_batch(todo, work, results, mem_mb, case_timeout)
    return results


def tally(cases: list[dict], results: dict) -> dict:
    table: dict[str, dict[str, int]] = {}
    for c in cases:
        row = table.setdefault(c["area"], dict.fromkeys(COLUMNS, 0))
        r = results[c["id"]]
        row["tried"] += 1
        row[r["outcome"]] += 1
        if r.get("lost"):
            row["lost"] += 1
    total = dict.fromkeys(COLUMNS, 0)
    for row in table.values():
        for k in COLUMNS:
            total[k] += row[k]
    table["all"] = total
    return table


def tally_exports(cases: list[dict], results: dict) -> dict:
    """Outcomes of exporting each successful import again (fuzz_child.run_export), per area."""
    table: dict[str, dict[str, int]] = {}
    for c in cases:
        e = results[c["id"]].get("export")
        if e is None:
            continue
        row = table.setdefault(c["area"], dict.fromkeys(COLUMNS, 0))
        row["tried"] += 1
        row[e["outcome"]] += 1
    return table


def format_table(table: dict) -> str:
    head = f"{'area':<9}" + "".join(f"{c:>10}" for c in COLUMNS)
    rows = [head, "-" * len(head)]
    for area, row in table.items():
        rows.append(f"{area:<9}" + "".join(f"{row[c]:>10}" for c in COLUMNS))
    return "\n".join(rows)


def failures(cases: list[dict], results: dict) -> list[str]:
    out = []
    for c in cases:
        r = results[c["id"]]
        if r["outcome"] in FAILURES or r.get("lost"):
            out.append(f"{c['id']}: {r['outcome']}: {r['message'][:300]}")
    return out


def export_failures(cases: list[dict], results: dict) -> list[str]:
    out = []
    for c in cases:
        e = results[c["id"]].get("export")
        if e is not None and e["outcome"] in FAILURES:
            out.append(f"{c['id']} (export): {e['outcome']}: {e['message'][:300]}")
    return out


def run_corpus(n_random: int = 60, work: Path | None = None, areas=None, systematic_every: int = 0):
    """Build the corpus in `work` (a temporary folder by default), run it; (cases, results)."""
    from fuzz_corpus import AREAS, build

    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="annotator-fuzz-")
        work = Path(tmp.name)
    try:
        cases = build(Path(work) / "corpus", n_random=n_random, areas=areas or AREAS,
                      systematic_every=systematic_every)
        results = run(cases, Path(work) / "run")
        return cases, results
    finally:
        if tmp is not None:
            tmp.cleanup()
