"""Runs a batch of fuzz cases in one process under an address-space cap (RLIMIT_AS).

Usage: fuzz_child.py BATCH.json WORKDIR MEM_MB. Prints `S <i>` before case i and `R <json>`
after it, flushed, so the parent can tell which case a crash or a hang belongs to.

Each import case gets a fresh copy of a template project (one image and one video item).
After a rejection the project's rows (an SQL dump) must be the same as before; after any
case SQLite's integrity_check must say ok.
"""
from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sqlite3
import sys
import time
import traceback
from pathlib import Path


def _dump(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


MAX_MESSAGE = 1000  # characters: a "line" that repeats a megabyte of the file is not clear


def _one_line_naming(msg: str, names: list[str]) -> bool:
    return (bool(msg.strip()) and "\n" not in msg.strip() and len(msg) <= MAX_MESSAGE
            and any(n and n in msg for n in names))


def run_prompt(case: dict) -> dict:
    from annotator.core.prompts import PromptError, check_prompt

    a = case["args"]
    w, h = case["width"], case["height"]
    try:
        got = check_prompt(a.get("points"), a.get("labels"), a.get("box"), width=w, height=h,
                           where=case["id"])
    except PromptError as e:
        return {"outcome": "clear" if _one_line_naming(str(e), [case["id"]]) else "vague", "message": str(e)}
    # accepted: it must obey the rule the validator promises
    ok = True
    for x, y in got.points or []:
        ok &= math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h
    if got.labels is not None:
        ok &= len(got.labels) == len(got.points or []) and all(v in (0, 1) for v in got.labels)
    if got.box is not None:
        x0, y0, x1, y1 = got.box
        ok &= all(math.isfinite(v) for v in got.box) and 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    ok &= bool(got.points) or got.box is not None
    return {"outcome": "ok" if ok else "wrong", "message": "" if ok else f"accepted {got}"}


def run_prompts_file(case: dict) -> dict:
    """What `propagate --prompts` does with a file before any model runs."""
    from annotator.commands.propagate import read_prompts
    from annotator.core.prompts import check_prompt
    from annotator.errors import AnnotatorError

    inp = Path(case["input"])
    try:
        for pr in read_prompts(inp):
            if not 0 <= pr["frame"] < case["frames"]:
                raise AnnotatorError(f"{inp}: prompt on frame {pr['frame']} but the video has {case['frames']}")
            check_prompt(pr["points"], pr["labels"], pr["box"], width=case["width"], height=case["height"],
                         where=f"{inp}: prompt on frame {pr['frame']}")
        return {"outcome": "ok", "message": ""}
    except AnnotatorError as e:
        return {"outcome": "clear" if _one_line_naming(str(e), [inp.name]) else "vague", "message": str(e)}


def _format(name: str):
    """A registered format, or `bad:<how>` from fuzz_badformats (the harness's self-test)."""
    if name.startswith("bad:"):
        sys.path.insert(0, str(Path(__file__).parent))
        import fuzz_badformats

        return fuzz_badformats.FORMATS[name[4:]]
    from annotator.formats.registry import get_format

    return get_format(name)


def run_import(case: dict, template: Path, work: Path) -> dict:
    from annotator.core.store import Project
    from annotator.errors import AnnotatorError

    proj = work / "case.annotator"
    for suffix in ("", "-wal", "-shm", ".lock"):
        try:
            os.unlink(str(proj) + suffix)
        except FileNotFoundError:
            pass
    shutil.copyfile(template, proj)
    before = _dump(proj)
    inp = Path(case["input"])
    result: dict
    try:
        with Project.open(proj) as p:
            _format(case["fmt"]).load(p, inp, **case["opts"])
        result = {"outcome": "ok", "message": ""}
    except AnnotatorError as e:
        names = [inp.name, inp.parent.name if inp.is_file() else inp.name]
        result = {"outcome": "clear" if _one_line_naming(str(e), names) else "vague", "message": str(e)}
    except MemoryError:
        result = {"outcome": "memory", "message": "MemoryError"}
    except BaseException as e:  # noqa: BLE001 - the point is to catch what should not escape
        result = {"outcome": "traceback", "message": f"{type(e).__name__}: {str(e)[:300]}",
                  "traceback": traceback.format_exc()[-2000:]}
    try:
        check = _integrity(proj)
        after = _dump(proj)
    except Exception as e:  # noqa: BLE001
        check, after = f"unreadable: {e}", None
    if check != "ok" or (result["outcome"] != "ok" and after != before):
        result["lost"] = True
        result["message"] += f" [project changed after a rejection or damaged: integrity {check}]"
    if result["outcome"] == "ok" and EXPORT_TOO and not case["fmt"].startswith("bad:"):
        result["export"] = run_export(case["fmt"], proj, work)
    return result


# Exports of what was imported: a report (fuzz_report --export), not an assertion of the suite.
EXPORT_TOO = os.environ.get("ANNOTATOR_FUZZ_EXPORT") == "1"
_EXPORT_TO = {"coco": "out.json", "ytvis": "out.json", "sav": "out_sav", "davis": "out_davis",
              "labelme": "out_labelme"}


def run_export(fmt: str, proj: Path, work: Path) -> dict:
    """Export the imported project again in its own format: ok, one clear line, or not."""
    from annotator.core.store import Project
    from annotator.errors import AnnotatorError
    from annotator.formats.registry import get_format

    out = work / "export" / _EXPORT_TO[fmt]
    shutil.rmtree(out.parent, ignore_errors=True)
    out.parent.mkdir()
    try:
        with Project.open(proj, readonly=True) as p:
            get_format(fmt).export(p, out)
        outside = [str(q) for q in out.parent.iterdir() if q != out]
        if outside:
            return {"outcome": "wrong", "message": f"wrote beside the output: {outside[:3]}"}
        return {"outcome": "ok", "message": ""}
    except AnnotatorError as e:
        return {"outcome": "clear" if _one_line_naming(str(e), [out.name]) else "vague", "message": str(e)[:300]}
    except MemoryError:
        return {"outcome": "memory", "message": "MemoryError"}
    except BaseException as e:  # noqa: BLE001
        return {"outcome": "traceback", "message": f"{type(e).__name__}: {str(e)[:300]}"}


def main() -> int:
    batch, work, mem_mb = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), int(sys.argv[3])
    lim = mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    template = work / "template.annotator"
    for i, case in enumerate(batch):
        print(f"S {i}", flush=True)
        t0 = time.perf_counter()
        if case["kind"] in ("prompt", "prompts_file"):
            try:
                res = run_prompt(case) if case["kind"] == "prompt" else run_prompts_file(case)
            except MemoryError:
                res = {"outcome": "memory", "message": "MemoryError"}
            except BaseException as e:  # noqa: BLE001
                res = {"outcome": "traceback", "message": f"{type(e).__name__}: {str(e)[:300]}"}
        else:
            res = run_import(case, template, work)
        res["seconds"] = round(time.perf_counter() - t0, 3)
        res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # so far
        print("R " + json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
