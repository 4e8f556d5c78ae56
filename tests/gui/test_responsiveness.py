"""The GUI thread never blocks: while the worker decodes, encodes and propagates (classic
engine on a real H.264 video, and a learned SAM 2-family model with random weights, loaded
as the app starts), a QTimer heartbeat in the GUI thread is never late by more than 50 ms.
Also measures click-to-mask latency (mouse press to the mask painted on the canvas) and
prints both."""
from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer

from gui_helpers import click, spin, wait_for, wait_idle, wait_loaded

INTERVAL_MS = 10
LIMIT_MS = 50


def _check(hb) -> None:
    """No beat may be late by more than 50 ms while the machine has a core for every runnable
    thread (1-min load average <= cores). When other processes load it beyond that, the OS
    decides when the GUI thread runs (measured: paints that take 3 ms alone take 8-30 ms);
    then the bound is relaxed to max < 250 ms and p99 < 50 ms, which still fails any real
    blocking (a synchronous encode, decode, collection of a model's objects, or torch import
    on the GUI thread's path costs 90 ms to seconds). ANNOTATOR_HB_DIAG=1 explains late beats."""
    p99 = float(np.percentile(hb.late, 99))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cores = os.cpu_count() or 1
    print(f"[responsiveness] max late {hb.worst:.1f} ms, p99 {p99:.1f} ms, load {load:.1f} on {cores} cores")
    if load <= cores:
        assert hb.worst <= LIMIT_MS, f"GUI thread late by {hb.worst:.0f} ms (limit {LIMIT_MS} ms)"
    else:
        print(f"[responsiveness] load average {load:.1f} > {cores} cores: relaxed to max < {5 * LIMIT_MS} ms "
              f"and p99 < {LIMIT_MS} ms instead of max <= {LIMIT_MS} ms")
        assert hb.worst < 5 * LIMIT_MS, f"GUI thread blocked for {hb.worst:.0f} ms"
        assert p99 < LIMIT_MS, f"GUI thread p99 lateness {p99:.0f} ms"


_DIAG: list = []  # the Diagnostics of the running test, when ANNOTATOR_HB_DIAG is set


@pytest.fixture(autouse=True)
def _diagnostics():
    if not os.environ.get("ANNOTATOR_HB_DIAG"):
        yield
        return
    from hb_diagnostics import Diagnostics

    from annotator.gui.canvas import Canvas
    from annotator.gui.main_window import MainWindow
    from annotator.gui.objects import ObjectList
    from annotator.gui.timeline import Timeline

    d = Diagnostics(time.perf_counter())
    for cls in (Canvas, MainWindow, Timeline, ObjectList):
        d.patch(cls, [n for n, v in vars(cls).items() if inspect.isfunction(v) and not n.startswith("__")])
    _DIAG.append(d)
    yield
    _DIAG.clear()
    d.unpatch()


class Heartbeat:
    def __init__(self):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self._beat)
        self.last = None
        self.late: list[float] = []
        self.events: list[tuple[float, float]] = []  # (time since start, lateness) of late beats
        self.t0 = time.perf_counter()
        self.diag = _DIAG[0] if _DIAG else None
        if self.diag is not None:
            self.diag.t0 = self.t0

    def _beat(self):
        now = time.perf_counter()
        if self.last is not None:
            late = (now - self.last) * 1000 - INTERVAL_MS
            self.late.append(late)
            if late > 20:
                self.events.append((round(now - self.t0, 2), round(late, 1)))
        self.last = now

    def start(self):
        self.last = None
        self.timer.start()
        if self.diag is not None:
            self.diag.start()

    def stop(self):
        self.timer.stop()
        if self.diag is not None:
            self.diag.stop()
            print("\n[responsiveness] diagnostics:\n  " + "\n  ".join(self.diag.explain(self.events, INTERVAL_MS)))

    @property
    def worst(self) -> float:
        return max(self.late) if self.late else 0.0


def _report(name, hb, latencies):
    lat = ", ".join(f"{v:.0f}" for v in latencies)
    med = statistics.median(latencies) if latencies else float("nan")
    print(f"\n[responsiveness] {name}: heartbeat beats={len(hb.late)} max late={hb.worst:.1f} ms "
          f"p99={np.percentile(hb.late, 99):.1f} ms; click->mask ms: [{lat}] median {med:.0f}; "
          f"worst beats (s, ms): {sorted(hb.events, key=lambda e: -e[1])[:8]}")


def _run_session(qtbot, win, points, n_frames: int, hb: Heartbeat):
    """Click on frame 0 (encode + predict), propagate forward, scrub meanwhile, cancel after n_frames."""
    for (x, y) in points:
        click(qtbot, win, x, y)
        wait_idle(win, timeout=300)
        spin(50)
    done = []
    win.worker.propagated.connect(lambda *a: done.append(a[1]))
    assert win.start_propagation("forward")
    scrub = 0
    t0 = time.perf_counter()
    while win.propagating:
        spin(40)
        if len(done) >= n_frames:
            win.cancel_propagation()
        # the person scrubs the timeline while it runs (frames decode off the GUI thread)
        scrub = (scrub + 3) % max(1, win.item.num_frames)
        win.timeline.frameRequested.emit(scrub)
        assert time.perf_counter() - t0 < 400, "propagation did not finish"
    return done


def test_heartbeat_classic_engine_on_video(qtbot, make_window, shared_data, tmp_path):
    src = shared_data / "videos" / "01_dog.mp4"
    video = tmp_path / src.name
    shutil.copy(src, video)
    win = make_window([str(video)], engine="classic")
    wait_loaded(win, timeout=60)
    hb = Heartbeat()
    hb.start()
    assert win.item.kind == "video" and win.item.width == 1280
    done = _run_session(qtbot, win, [(640, 400), (700, 420)], 8, hb)
    hb.stop()
    _report("classic, 1280x720 H.264", hb, win.latencies_ms)
    assert len(done) >= 8
    tid = win.project.tracks(win.item.id)[0].id
    assert len(win.project.mask_frames(tid)) >= 6
    assert win.latencies_ms, "no click was timed"
    _check(hb)


@pytest.mark.slow
def test_heartbeat_learned_model_random_weights(qtbot, make_window, frame_folder):
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    # Which model to use is asked in a child process: this one must not import torch before
    # the window does, or the test would not see what the app's startup does.
    code = ("from annotator.engines import registry as r; print(next((n for n in ('edgetam', 'efficienttam_ti', "
            "'sam2.1_hiera_tiny') if n in r.load_cards() and r.is_implemented(r.get_card(n))), ''))")
    name = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=300).stdout.strip().splitlines()[-1:]
    name = name[0] if name else ""
    if not name:
        pytest.skip("no learned video model is implemented")
    # As `annotator app --model NAME` starts: the window opens the media, then loads the model
    # in its worker while the heartbeat already runs (model build, first encode, prediction,
    # propagation).
    hb = Heartbeat()
    win = make_window([str(frame_folder)], engine=name, weights="random")
    wait_loaded(win)
    assert "loading" in win.status_engine.text(), "the model was loaded before the heartbeat started"
    hb.start()
    wait_for(lambda: win.status_engine.text().startswith(f"Engine: {name}") and "·" in win.status_engine.text(), 300, "model load")
    assert win.video_engine_name == name
    done = _run_session(qtbot, win, [(420, 200), (450, 230)], 2, hb)
    hb.stop()
    _report(f"{name} (random weights), 854x480 frames", hb, win.latencies_ms)
    assert len(done) >= 2
    recs = win.project.masks()
    assert {r.model for r in recs if r.source == "propagated"} == {name}
    _check(hb)
