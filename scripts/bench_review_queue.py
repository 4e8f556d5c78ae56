"""How long the app's review queue takes to recompute, and what it costs the GUI thread.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/bench_review_queue.py [--data ../shared/data/davis2016]

Puts the ground-truth masks of an 80-frame DAVIS sequence (bmx-trees) into a project as one
propagated object (frame 0 drawn), opens it in the window and times the background recompute
(app/review.compute) in three cases: every row stale, after a brush correction (a new reference
frame: every row again) and after one propagated mask changed (two rows); a 10 ms GUI timer
says how late the GUI thread got meanwhile (and idle, for comparison). Then the pieces alone,
without the window: scoring, storing the rows, filtering what is shown.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "gui")]


def _late(hb) -> str:
    late = sorted(hb.late) or [0.0]
    return f"GUI timer late max {late[-1]:.1f} ms, median {late[len(late) // 2]:.1f} ms over {len(late)} beats"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "davis2016"))
    ap.add_argument("--sequence", default="bmx-trees")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-review-"))
    os.environ["ANNOTATOR_HOME"] = str(work / "home")  # fresh settings, nothing of the user's touched

    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from gui_helpers import Heartbeat, spin, wait_for, wait_loaded

    from annotator.app import review
    from annotator.gui.main_window import MainWindow
    from annotator.media import load_image
    from annotator.review.queue import queue_of

    root = Path(args.data)
    frames = work / args.sequence
    shutil.copytree(root / "JPEGImages" / "480p" / args.sequence, frames)
    labels = sorted((root / "Annotations" / "480p" / args.sequence).glob("*.png"))
    win = MainWindow([str(frames)], engine="classic")
    win.resize(1100, 760)
    win.show()
    try:
        wait_loaded(win, 60)
        p, r = win.project, win.review
        t = p.add_track(win.item.id)
        with p.group("ground truth"):
            for f, path in enumerate(labels):
                p.set_mask(t.id, f, load_image(path)[..., 0] > 127, source="manual" if f == 0 else "propagated")
        print(f"{args.sequence}: {len(labels)} frames, one object")

        def settled():
            return r.queue is not None and not r.computing and not r._timer.isActive()

        wait_for(settled, 120, "the first queue")
        hb = Heartbeat()
        hb.timer.start()
        spin(1500)
        hb.timer.stop()
        print(f"idle: {_late(hb)}")
        cases = (("every row stale", lambda: (p.delete_signals(t.id), r.schedule(0))),
                 ("a brush correction (a new reference: every row)",
                  lambda: p.set_mask(t.id, 40, p.mask(t.id, 40).mask(), source="manual")),
                 ("one propagated mask changed (2 rows)",
                  lambda: p.set_mask(t.id, 60, p.mask(t.id, 61).mask(), source="propagated")))
        for label, change in cases:
            n0 = r.computes
            change()
            started: list[float] = []
            hb = Heartbeat()
            hb.timer.start()

            def done():
                if r.computing and not started:
                    started.append(time.perf_counter())
                return settled() and r.computes > n0

            wait_for(done, 120, label)
            hb.timer.stop()
            ms = 1000 * (time.perf_counter() - started[0]) if started else float("nan")
            print(f"{label}: {ms:.0f} ms in the background, {len(r.shown)} flags; {_late(hb)}")

        def best(fn, n=5):
            out = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                out.append(1000 * (time.perf_counter() - t0))
            return min(out)

        sig = {t.id: p.signals(t.id)}
        print(f"scoring alone (rglasso, {len(sig[t.id])} rows): {best(lambda: queue_of(p, sig)):.1f} ms")
        iq = review.compute(p.path, win.item.id)
        print(f"filtering what is shown (GUI thread, after each change): {best(lambda: review.visible(p, iq)):.2f} ms")
        p.delete_signals(t.id)
        iq = review.compute(p.path, win.item.id)
        t0 = time.perf_counter()
        n = review.store_signals(p, iq)
        print(f"storing {n} rows (GUI thread): {1000 * (time.perf_counter() - t0):.1f} ms")
    finally:
        win.shutdown()
        app.quit()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
