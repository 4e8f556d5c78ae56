"""Batch progress for a terminal (one rewritten line on stderr) or a machine (JSON lines on stdout)."""
from __future__ import annotations

import json
import sys


def _eta(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(self, json_lines: bool = False, quiet: bool = False, out=None, err=None):
        self.json_lines = json_lines
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._width = 0  # of the last progress line: a shorter one is padded over it

    def __call__(self, event: str, s, info: dict) -> None:
        finished = s.done + s.failed
        rate = finished / s.seconds if s.seconds > 0 else 0.0
        fps = s.frames / s.seconds if s.seconds > 0 else 0.0
        eta = (s.total - finished) / rate if rate > 0 else None
        if self.json_lines:
            line = {"event": event, "done": s.done, "failed": s.failed, "total": s.total,
                    "skipped_done": s.skipped_done, "frames": s.frames, "seconds": round(s.seconds, 3),
                    "items_per_s": round(rate, 4), "frames_per_s": round(fps, 3),
                    "eta_s": None if eta is None else round(eta, 1)}
            line.update({k: v for k, v in info.items() if v is not None})
            if event == "end":
                line["summary"] = s.as_dict()
            print(json.dumps(line), file=self.out, flush=True)
            return
        if self.quiet:
            return
        if event == "item" and info.get("error"):
            self._line(f"item {info['item']} ({info['name']}) failed: {info['error']}", end="\n")
        if event in ("item", "start"):
            self._line(f"{s.command}: {finished}/{s.total} items, {s.failed} failed, {fps:.2f} frames/s, "
                       f"ETA {'?' if eta is None else _eta(eta)}")
        if event == "end":
            print(file=self.err)

    def _line(self, text: str, end: str = "") -> None:
        # (no ANSI erase: the CLI shows control characters in its output as text)
        print("\r" + text.ljust(self._width), end=end, file=self.err, flush=True)
        self._width = 0 if end else len(text)


def summary_text(s) -> str:
    lines = [f"{s.command} on {s.executor} ({s.workers} workers): {s.done} done, {s.failed} failed"
             f"{f', {s.left} not run (interrupted; run again to finish)' if s.interrupted else ''}"
             f", {s.skipped_done} already done, {len(s.skipped)} with nothing to do;"
             f" {s.frames} frames in {s.seconds:.1f} s"]
    for iid, err in sorted(s.errors.items()):
        lines.append(f"  item {iid}: {err}")
    return "\n".join(lines)
