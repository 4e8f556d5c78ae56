"""The work of one batch task, as plain functions a worker process runs.

A task is (kind, payload): the payload holds only plain values - media paths, engine names,
options, COCO RLE dicts - and the result is the same kind of values (RLE, counts). Workers
never open the project and never read pickles from files; the model comes from the model
cache of the machine the worker runs on (engines.registry resolves it).

`execute` is the one entry point both executors call. A task's own failure (bad media, an
engine error) comes back as {"error": "..."} so it crosses the wire as text, not as a pickled
exception; only the death of the worker process itself is left to the executor.
"""
from __future__ import annotations

import os
import signal
import time
import traceback

KINDS = ("encode", "segment-everything", "propagate", "export-work", "eval-item", "noop", "drill")


_threads_applied: int | None = None


def set_threads(n: int) -> None:
    """Threads per worker: OpenCV's own pool (it ignores OMP_NUM_THREADS and takes every
    core) and torch's (read from OMP_NUM_THREADS at import, set directly once imported).
    N workers x all cores each would only fight over the cores."""
    global _threads_applied
    if n is None or _threads_applied == n:
        return
    import sys

    os.environ["OMP_NUM_THREADS"] = str(n)
    import cv2

    cv2.setNumThreads(int(n))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(n))
    _threads_applied = n


def execute(kind: str, payload: dict, threads: int | None = None) -> dict:
    set_threads(threads)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        fn = _FUNCS[kind]
    except KeyError:
        return {"error": f"unknown task kind {kind!r}"}
    try:
        out = fn(payload)
    except Exception as e:  # reported per item; the batch goes on
        from annotator.errors import AnnotatorError

        msg = str(e) if isinstance(e, AnnotatorError) else "".join(traceback.format_exception_only(type(e), e)).strip()
        return {"error": msg or type(e).__name__}
    out["seconds"] = time.perf_counter() - t0
    out["cpu_seconds"] = time.process_time() - c0  # this worker's CPU, all its threads
    out["pid"] = os.getpid()
    return out


def init_worker(driver_pid: int) -> None:
    """Pool initialiser. Ctrl+C reaches the whole process group; only the driver decides.
    A pool worker outlives a SIGKILLed driver (it holds its own queue's ends open), so it
    watches the driver and leaves when it is gone."""
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == driver_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


_SESSIONS: dict = {}  # (kind, engine, weights, precision) -> session: one per kind per worker


def _session(kind: str, p: dict):
    """The worker's session for this engine, built once per process (a model build costs
    more than many an item); a task for another engine replaces it."""
    from annotator.engines import registry

    key = (kind, p["engine"], p.get("weights"), p.get("precision", "fp32"))
    s = _SESSIONS.get(kind)
    if s is None or s[0] != key:
        make = registry.create_image_session if kind == "image" else registry.create_video_session
        _SESSIONS[kind] = s = (key, make(p["engine"], p.get("weights"), precision=key[3]))
    return s[1]


def _frame_rgb(path: str, frame: int = 0):
    from annotator.media import read_frame

    return read_frame(path, frame)


def encode(p: dict) -> dict:
    """Fill the engine's content-hashed embedding cache for one image (a hit costs nothing)."""
    session = _session("image", p)
    if not getattr(session, "disk_cache", False):
        raise RuntimeError(f"engine {p['engine']} has no embedding cache")
    before = session.encoder_runs
    session.set_image(_frame_rgb(p["path"], p.get("frame", 0)))
    return {"encoder_runs": int(session.encoder_runs - before), "frames": 1}


def segment_everything(p: dict) -> dict:
    from annotator.everything.run import as_everything_session, segment_image

    session = as_everything_session(_session("image", p))
    rgb = _frame_rgb(p["path"], p.get("frame", 0))
    res = segment_image(session, rgb, mode=p.get("mode", "grid"), nms=p.get("nms", "greedy"),
                        **dict(p.get("options") or {}))
    keep = ("segmentation", "area", "bbox", "predicted_iou", "stability_score", "point_coords", "crop_box")
    return {"records": [{k: r[k] for k in keep} for r in res.records], "frames": 1}


def propagate(p: dict) -> dict:
    """Each run: seed its objects' masks on its start frame, propagate, return every other
    frame's masks as RLE (obj_id -> RLE; an empty RLE means the object left the frame)."""
    from annotator.core.rle import decode, encode as rle_encode
    from annotator.media import open_video

    session = _session("video", p)
    source = open_video(p["path"])
    runs_out, frames = [], 0
    try:
        session.open(source)
        for run in p["runs"]:
            session.reset()
            start = int(run["start"])
            for oid, r in run["seeds"].items():
                session.add_prompt(start, int(oid), mask=decode(r))
            got = []
            for t, masks in session.propagate(start, run["direction"]):
                if t == start:  # the seeds themselves: the person's masks stay as they are
                    continue
                got.append([int(t), {int(o): rle_encode(m) for o, m in masks.items()}])
                frames += 1
            runs_out.append(got)
    finally:
        close = getattr(source, "close", None)
        if close:
            close()
    return {"runs": runs_out, "frames": frames}


def export_work(p: dict) -> dict:
    """One item's files of an export (formats/export_work: frames, PNGs), written into the
    export's staging folder."""
    from annotator.formats import export_work as work

    return work.run_one(p["work"], p["payload"])


def eval_item(p: dict) -> dict:
    """One item's J and F against its ground truth (eval/project)."""
    from annotator.eval.project import score_item

    return score_item(p)


def noop(p: dict) -> dict:
    """Returns at once: what a task costs the scheduler (bench batch). {"warm": true} first
    imports what the real tasks import, so a benchmark does not time a worker's start-up."""
    if p.get("warm"):
        import annotator.engines.classic  # noqa: F401
        import annotator.engines.registry  # noqa: F401
        import annotator.media  # noqa: F401
    return {"frames": 0, "echo": p.get("n", 0)}


def drill(p: dict) -> dict:
    """Fault drill (tests): the first attempt kills its own worker process with SIGKILL, as an
    out-of-memory kill would, then (on the retry: the marker file says it died once) runs the
    wrapped task {"then": kind, "payload": ...}. {"die_always": true} dies on every attempt."""
    marker = p.get("die_once")
    if p.get("die_always") or not os.path.exists(marker):
        if marker:
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    if p.get("then"):
        return _FUNCS[p["then"]](p["payload"])
    return {"frames": 0}


_FUNCS = {"encode": encode, "segment-everything": segment_everything, "propagate": propagate,
          "export-work": export_work, "eval-item": eval_item, "noop": noop, "drill": drill}
