"""Reviewed marks and drift signals in the project store (schema v2), mixed into Project.

- "Reviewed" (per object, per frame) says a person looked at that frame of that object and
  accepted it, with or without a mask there: the review queue drops it, and exports can tell
  "object absent" (reviewed, no mask) from "not looked at". Marking is an undoable command.
- Signals are derived numbers (annotator/review/signals.py) cached per object and frame:
  not undoable (they are recomputed from the masks), stored as float32 blobs, each with a
  digest of what they were computed from so the caller can tell stale rows.
Both are deleted with their object (in Project._delete_track_rows, so undo restores them).
A mark is about the mask the person saw: a machine write (propagated, auto, imported) that
changes the mask of a reviewed frame clears its mark in the same undo step, so the frame can
be flagged again; a person's own edit keeps it.
"""
from __future__ import annotations

import numpy as np

from annotator.errors import ProjectError


class ReviewStore:
    """Methods of Project (uses its _command/_q/_conn/_mutex/track/item)."""

    def _frames_in_item(self, track, frames) -> list[int]:
        item = self.item(track.item_id)
        out = sorted({int(f) for f in ([frames] if isinstance(frames, (int, np.integer)) else frames)})
        bad = [f for f in out if not 0 <= f < item.num_frames]
        if bad:
            raise ProjectError(f"{item.name}: frame {bad[0]} is outside 0..{item.num_frames - 1}")
        return out

    @staticmethod
    def _frames_label(frames: list[int]) -> str:
        if len(frames) == 1:
            return f"frame {frames[0]}"
        return f"frames {frames[0]}-{frames[-1]}" if frames[-1] - frames[0] + 1 == len(frames) else f"{len(frames)} frames"

    def mark_reviewed(self, track_id: int, frames, reviewed: bool = True) -> int:
        """Mark (or with reviewed=False unmark) frames of an object as looked at by a person,
        whether or not it has a mask there. One undo step; returns how many marks changed."""
        t = self.track(track_id)
        wanted = self._frames_in_item(t, frames)
        have = self.reviewed_frames(track_id)
        todo = [f for f in wanted if (f in have) != bool(reviewed)]
        if not todo:
            return 0
        verb = "reviewed" if reviewed else "not reviewed"
        with self._command(f"Mark object {t.obj_id} {self._frames_label(todo)} {verb}") as write:
            for f in todo:
                write("reviewed", (track_id, f), {"track_id": track_id, "frame": f} if reviewed else None)
        return len(todo)

    def _marks_outdated_by(self, rows: list[dict]) -> list[tuple[int, int]]:
        """(track_id, frame) marks that writing these mask rows makes stale: a machine's mask
        that differs from what is stored there (or from no mask, a reviewed "absent")."""
        by_track: dict[int, list[dict]] = {}
        for r in rows:
            if r["source"] != "manual":
                by_track.setdefault(r["track_id"], []).append(r)
        stale = []
        for tid, mine in by_track.items():
            marked = self.reviewed_frames(tid)
            for r in (r for r in mine if r["frame"] in marked):
                cur = self._q("SELECT counts FROM masks WHERE track_id=? AND frame=?", (tid, r["frame"]))
                if not cur or cur[0][0] != r["counts"]:
                    stale.append((tid, r["frame"]))
        return stale

    def unmark_reviewed(self, track_id: int, frames) -> int:
        return self.mark_reviewed(track_id, frames, reviewed=False)

    def reviewed_frames(self, track_id: int) -> set[int]:
        """Frames of one object a person marked reviewed (with or without a mask there)."""
        return {r[0] for r in self._q("SELECT frame FROM reviewed WHERE track_id=?", (track_id,))}

    def is_reviewed(self, track_id: int, frame: int) -> bool:
        return bool(self._q("SELECT 1 FROM reviewed WHERE track_id=? AND frame=?", (track_id, int(frame))))

    def reviewed_marks(self, item_id: int) -> dict[int, set[int]]:
        """track_id -> reviewed frames, for every object of a media item (objects without marks omitted)."""
        out: dict[int, set[int]] = {}
        for tid, f in self._q("SELECT r.track_id, r.frame FROM reviewed r JOIN tracks t ON t.id = r.track_id "
                              "WHERE t.item_id=? ORDER BY r.track_id, r.frame", (item_id,)):
            out.setdefault(tid, set()).add(f)
        return out

    def _signal_layout(self, names: tuple[str, ...]) -> int:
        key = ",".join(names)
        row = self._conn.execute("SELECT id FROM signal_layouts WHERE names=?", (key,)).fetchone()
        if row:
            return row[0]
        return self._conn.execute("INSERT INTO signal_layouts (names) VALUES (?)", (key,)).lastrowid

    def set_signals(self, track_id: int, values: dict, digests: dict | None = None) -> None:
        """Store derived per-frame signals of an object: values {frame: {name: float}} (NaN for
        unknown), digests {frame: int} saying what they were computed from. Not undoable: they
        are recomputed from the masks; they are deleted with the object."""
        t = self.track(track_id)
        frames = self._frames_in_item(t, values)
        self._writable()
        with self._mutex:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for f in frames:
                    sig = values[f]
                    names = tuple(str(n) for n in sig)
                    if any("," in n or not n for n in names):
                        raise ProjectError(f"signal names must be non-empty and comma-free: {names}")
                    data = np.asarray([sig[n] for n in sig], dtype="<f4").tobytes()
                    digest = int((digests or {}).get(f, 0))
                    self._conn.execute("INSERT OR REPLACE INTO signals VALUES (?, ?, ?, ?, ?)",
                                       (track_id, f, self._signal_layout(names), digest, data))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def signals(self, track_id: int, first: int | None = None, last: int | None = None) -> dict[int, dict[str, float]]:
        """{frame: {name: value}} of an object's stored signals in the inclusive frame range."""
        lo = -1 if first is None else int(first)
        hi = 2**62 if last is None else int(last)
        layouts = {r[0]: r[1].split(",") for r in self._q("SELECT id, names FROM signal_layouts")}
        out = {}
        for f, lay, data in self._q("SELECT frame, layout, data FROM signals WHERE track_id=? AND frame BETWEEN ? "
                                    "AND ? ORDER BY frame", (track_id, lo, hi)):
            vals = np.frombuffer(data, dtype="<f4")
            out[f] = {n: float(v) for n, v in zip(layouts[lay], vals)}
        return out

    def signal_digests(self, track_id: int) -> dict[int, int]:
        return {r[0]: r[1] for r in self._q("SELECT frame, digest FROM signals WHERE track_id=?", (track_id,))}

    def delete_signals(self, track_id: int, frames=None) -> int:
        """Drop stored signals of an object (all, or the given frames). Not undoable."""
        self._writable()
        with self._mutex:
            if frames is None:
                return self._conn.execute("DELETE FROM signals WHERE track_id=?", (track_id,)).rowcount
            return self._conn.executemany("DELETE FROM signals WHERE track_id=? AND frame=?",
                                          [(track_id, int(f)) for f in frames]).rowcount
