"""`annotator bench batch`: what the batch runner gains from more workers, and what a task costs.

1. Items/s of `batch propagate` (classic engine, single-threaded: 1 OpenCV and 1 OpenMP
   thread per worker) over DAVIS sequences, with 1 and with 2 local workers, in one run: the
   ratio is the speed-up. The driver writes every result into a scratch project, as the CLI does.
2. Per-task overhead: 1 000 tasks that do nothing (tasks.noop), through the local pool and
   through a local Ray cluster; wall time / tasks = what scheduling one item costs.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

SEQUENCES = ("blackswan", "bmx-trees", "car-shadow", "dog", "kite-surf", "libby", "motocross-jump")


def _default_data() -> Path:
    env = os.environ.get("ANNOTATOR_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return base / "data" / "davis2016"


def davis_project(root: Path, folder: Path, sequences, frames: int, name: str = "batch.annotator") -> Path:
    """A project with one frame-folder item per DAVIS sequence (its first `frames` frames,
    copied into `folder`) holding one object whose frame 0 is the ground truth, manual."""
    import numpy as np

    from annotator.core.store import Project
    from annotator.media.image import load_image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with Project.create(path) as p:
        for seq in sequences:
            media = folder / "media" / seq
            media.mkdir(parents=True, exist_ok=True)
            for f in range(frames):
                shutil.copy(root / "JPEGImages/480p" / seq / f"{f:05d}.jpg", media / f"{f:05d}.jpg")
            h, w = load_image(media / "00000.jpg").shape[:2]
            it = p.add_item(media, "frames", w, h, frames, 24.0)
            gt = np.asarray(load_image(root / "Annotations/480p" / seq / "00000.png"))
            gt = (gt.max(axis=2) if gt.ndim == 3 else gt) > 0
            p.set_mask(p.add_track(it.id).id, 0, gt, source="manual")
    return path


def register(sub) -> None:
    p = sub.add_parser("batch", help="batch runner: items/s with 1 and 2 workers, per-task overhead (local, Ray)")
    p.add_argument("--data", default=None, help="DAVIS-layout root (default: ../shared/data/davis2016)")
    p.add_argument("--items", type=int, default=6, help="video items to propagate (default 6)")
    p.add_argument("--frames", type=int, default=6, help="frames per item (default 6)")
    p.add_argument("--tasks", type=int, default=1000, help="tiny tasks for the overhead (default 1000)")
    p.add_argument("--no-ray", action="store_true", help="skip the Ray measurements")
    p.add_argument("--json", default=None, help="write the results here")
    p.set_defaults(func=run)


def _warm(ex) -> None:
    """Start the workers and their imports: start-up is not what the batch speed measures."""
    from annotator.batch.executors import Task

    list(ex.run(iter([Task(i, "noop", {"n": i, "warm": True}) for i in range(2 * ex.workers)])))


def _overhead(ex, n: int) -> float:
    from annotator.batch.executors import Task

    _warm(ex)
    t0 = time.perf_counter()
    got = sum(1 for _t, r, e in ex.run(iter([Task(i, "noop", {"n": i}) for i in range(n)])) if r is not None)
    dt = time.perf_counter() - t0
    if got != n:
        from annotator.errors import AnnotatorError

        raise AnnotatorError(f"bench batch: {n - got} of {n} tiny tasks failed")
    return dt / n


def run(args) -> int:
    from annotator.batch import driver, executors
    from annotator.batch.jobs import PropagateJob
    from annotator.errors import AnnotatorError

    root = Path(args.data) if args.data else _default_data()
    seqs = [s for s in SEQUENCES if (root / "JPEGImages/480p" / s).is_dir()]
    if not seqs:
        raise AnnotatorError(f"{root}: no DAVIS sequences in JPEGImages/480p (pass --data)")
    if args.items < 1 or args.frames < 2 or args.tasks < 1:
        raise AnnotatorError("--items and --tasks must be 1 or more, --frames 2 or more")
    picks = [seqs[i % len(seqs)] for i in range(args.items)]
    res: dict = {"items": args.items, "frames_per_item": args.frames, "sequences": picks, "engine": "classic",
                 "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    speed = {}
    with tempfile.TemporaryDirectory(prefix="annotator-bench-batch.") as tmp:
        for workers in (1, 2):
            path = davis_project(root, Path(tmp) / f"w{workers}", picks, args.frames)
            from annotator.core.store import Project

            with Project.open(path) as p, executors.LocalExecutor(workers, threads=1) as ex:
                _warm(ex)
                s = driver.run(p, PropagateJob("classic"), ex)
                cpu = sum(r.get("cpu_seconds", 0.0) for r in driver.records(p, "propagate").values())
            if s.failed:
                raise AnnotatorError(f"bench batch: {s.failed} items failed: {s.errors}")
            # cores_used: the workers' CPU time over the wall time - how many cores the
            # machine actually gave them (other jobs on a shared machine take the rest)
            speed[workers] = {"seconds": s.seconds, "items_per_s": s.done / s.seconds,
                              "frames_per_s": s.frames / s.seconds, "cores_used": cpu / s.seconds,
                              "items_per_cpu_s": s.done / cpu if cpu > 0 else None}
    res["local"] = {str(k): v for k, v in speed.items()}
    res["speedup_2_vs_1"] = speed[2]["items_per_s"] / speed[1]["items_per_s"]
    over = {}
    with executors.LocalExecutor(2) as ex:
        over["local"] = _overhead(ex, args.tasks)
    if not args.no_ray:
        try:
            ex = executors.RayExecutor("local", workers=2)
        except AnnotatorError as e:
            print(f"(Ray skipped: {e})")
        else:
            with ex:
                over["ray"] = _overhead(ex, args.tasks)
    res["overhead_ms_per_task"] = {k: v * 1000 for k, v in over.items()}
    res["overhead_tasks"] = args.tasks

    print(f"batch propagate, classic engine (1 thread per worker), {args.items} DAVIS items x {args.frames} frames, "
          f"{os.cpu_count()} CPU cores, 1-min load {res['load_avg_1min']:.1f}")
    print()
    print("| Workers | Seconds | Items/s | Frames/s | Cores used (worker CPU / wall) | Items per CPU-second |")
    print("|---|---|---|---|---|---|")
    for w, v in speed.items():
        per_cpu = "-" if v["items_per_cpu_s"] is None else f"{v['items_per_cpu_s']:.3f}"
        print(f"| {w} | {v['seconds']:.1f} | {v['items_per_s']:.3f} | {v['frames_per_s']:.2f} | {v['cores_used']:.2f} "
              f"| {per_cpu} |")
    res["cores_ratio_2_vs_1"] = speed[2]["cores_used"] / speed[1]["cores_used"] if speed[1]["cores_used"] else None
    print(f"\nspeed-up 2 vs 1 workers (same run): {res['speedup_2_vs_1']:.2f}x; the machine gave the 2 workers "
          f"{res['cores_ratio_2_vs_1'] or 0:.2f}x the CPU it gave 1 (a shared machine caps the speed-up there)")
    print()
    print(f"| Executor | Overhead per task ({args.tasks} no-op tasks, 2 workers) |")
    print("|---|---|")
    for k, v in res["overhead_ms_per_task"].items():
        print(f"| {k} | {v:.2f} ms |")
    from annotator.core.outputs import write_results_json

    write_results_json(args.json, res)
    return 0
