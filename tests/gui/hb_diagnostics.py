"""Why was a heartbeat late? Opt-in evidence for tests/gui/test_responsiveness.py
(ANNOTATOR_HB_DIAG=1), kept because the question comes back whenever a beat is late.

Three independent witnesses, each timestamped on the same clock as the heartbeat:
- GUI-thread handlers: the main window's and canvas's slots are timed; a slow one is work
  done on the GUI thread.
- GIL probe: a plain Python thread sleeps 2 ms in a loop; it needs the GIL to wake, so when
  it is late too, some thread held the GIL (a C extension call, a long collection).
- Garbage collector: every collection over 5 ms, its generation and the thread it ran on.
A late beat with none of the three is the OS not running the GUI thread (CPU contention)
or C++ work outside Python.
"""
from __future__ import annotations

import functools
import gc
import threading
import time

SLOW_HANDLER_MS = 8.0


def _where() -> dict:
    import sys
    import traceback

    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    out = {}
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        st = traceback.extract_stack(frame)[-3:]
        out[names.get(ident, str(ident))] = " < ".join(f"{f.name}({f.filename.rsplit('/', 1)[-1]}:{f.lineno})"
                                                       for f in reversed(st))
    return out


class Diagnostics:
    def __init__(self, t0: float):
        self.t0 = t0
        self.handlers: list[tuple[float, float, str]] = []  # (start s, ms, name)
        self.gil: list[tuple[float, float]] = []  # (start s, ms the probe overslept)
        self.gcs: list[tuple[float, float, int, str]] = []  # (start s, ms, generation, thread)
        self._stop = threading.Event()
        self._patched: list[tuple[type, str, object]] = []
        self._gc_start = 0.0

    # -- GUI handlers -------------------------------------------------------------------------
    def patch(self, cls, names) -> None:
        """Call before the window is built: signal connections bind the patched methods."""
        for name in names:
            orig = getattr(cls, name)

            @functools.wraps(orig)
            def timed(*a, __orig=orig, __name=f"{cls.__name__}.{name}", **k):
                s = time.perf_counter()
                try:
                    return __orig(*a, **k)
                finally:
                    ms = (time.perf_counter() - s) * 1000
                    if ms > SLOW_HANDLER_MS:
                        self.handlers.append((round(s - self.t0, 3), round(ms, 1), __name))

            setattr(cls, name, timed)
            self._patched.append((cls, name, orig))

    # -- GIL probe and GC -----------------------------------------------------------------------
    def _probe(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.002)
            now = time.perf_counter()
            over = (now - last) * 1000 - 2
            if over > 15:
                # The GIL holder just let go: where every other thread stands now is where it was.
                self.gil.append((round(last - self.t0, 3), round(over, 1), _where()))
            last = now

    def _on_gc(self, phase, info) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            ms = (time.perf_counter() - self._gc_start) * 1000
            if ms > 5:
                self.gcs.append((round(self._gc_start - self.t0, 3), round(ms, 1), info["generation"],
                                 threading.current_thread().name))

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._thread = threading.Thread(target=self._probe, name="gil-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        gc.callbacks.remove(self._on_gc)

    def unpatch(self) -> None:
        for cls, name, orig in self._patched:
            setattr(cls, name, orig)

    def explain(self, events: list[tuple[float, float]], interval_ms: float) -> list[str]:
        """For each late beat (time it came, ms late): what overlapped the gap before it."""
        out = []
        for t, late in sorted(events, key=lambda e: -e[1])[:10]:
            a, b = t - (late + interval_ms) / 1000, t

            def hits(rows, dur_index):
                return [r for r in rows if r[0] < b and r[0] + r[dur_index] / 1000 > a]

            out.append(f"beat {late:.0f} ms late at {t:.2f} s: handlers={hits(self.handlers, 1)} "
                       f"gil_probe_late={hits(self.gil, 1)} gc={hits(self.gcs, 1)}")
        return out
