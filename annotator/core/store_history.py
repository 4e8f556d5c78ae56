"""The store's command machinery: every edit one transaction recording before/after row
images, undo/redo replaying them, undo groups (durable command by command, as a propagation
run needs), atomic groups (one transaction, as an import needs), and the one-line errors for
SQLite failures. A mixin of Project (core/store.py), which holds the connection and state.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from annotator.core import store_db as _db
from annotator.errors import ProjectError


@dataclass
class _Change:
    table: str
    key: tuple
    before: dict | None
    after: dict | None


@dataclass
class _Step:
    label: str
    changes: list[_Change] = field(default_factory=list)


class History:
    """Needs from its class: path, readonly, damaged, _conn, _mutex, _undo, _redo, _group,
    _group_depth, _txn_depth, _txn_mark, on_change, _KEYS (table -> key columns), _q."""

    def _writable(self) -> None:
        if self.readonly:
            raise ProjectError(f"{self.path}: opened read-only")
        if self._conn is None:
            raise ProjectError(f"{self.path}: project is closed")
        if self.damaged:
            raise ProjectError(f"{self.path}: writing is refused: {self.damaged}")

    def _failed(self, e: BaseException, doing: str) -> ProjectError:
        """The one-line error for a failed SQLite operation; damage also stops later writes."""
        if _db.is_damage(e):
            self.damaged = f"the project file is damaged ({e})"
        return ProjectError(_db.error_message(self.path, e, doing))

    def _row(self, table: str, key: tuple) -> dict | None:
        cols = self._KEYS[table]
        where = " AND ".join(f"{c}=?" for c in cols)
        r = self._conn.execute(f"SELECT * FROM {table} WHERE {where}", key).fetchone()
        return dict(r) if r else None

    def _put(self, table: str, key: tuple, row: dict | None) -> None:
        cols = self._KEYS[table]
        if row is None:
            where = " AND ".join(f"{c}=?" for c in cols)
            self._conn.execute(f"DELETE FROM {table} WHERE {where}", key)
        else:
            names = ",".join(row)
            marks = ",".join("?" * len(row))
            self._conn.execute(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[None]:
        """One transaction, or a savepoint inside the open atomic one; SQLite errors become
        ProjectError naming the real cause, and a failed rollback never hides it."""
        nested = self._txn_depth is not None
        try:
            self._conn.execute("SAVEPOINT cmd" if nested else "BEGIN IMMEDIATE")
            try:
                yield
                self._conn.execute("RELEASE cmd" if nested else "COMMIT")
            except BaseException:
                _db.rollback(self._conn, "cmd" if nested else None)
                raise
        except (sqlite3.Error, OSError) as e:
            raise self._failed(e, doing) from None

    @contextlib.contextmanager
    def _command(self, label: str) -> Iterator[Callable[[str, tuple, dict | None], None]]:
        """One transaction + one recorded step. Yields write(table, key, new_row_or_None)."""
        self._writable()
        with self._mutex:
            changes: list[_Change] = []

            def write(table: str, key: tuple, row: dict | None) -> None:
                before = self._row(table, key)
                self._put(table, key, row)
                changes.append(_Change(table, key, before, row))

            with self._transaction(f"cannot save '{label}'"):
                yield write
            if not changes:
                return
            if self._group is not None:
                self._group.changes.extend(changes)
            else:
                self._undo.append(_Step(label, changes))
            self._redo.clear()
        self._notify("command", label, changes)

    def _notify(self, event: str, label: str, changes: list[_Change]) -> None:
        if not self.on_change:
            return
        payload: dict = {"label": label, "tables": set(), "track_ids": set(), "item_ids": set(), "frames": set()}
        for ch in changes:
            payload["tables"].add(ch.table)
            row = ch.after or ch.before or {}
            if ch.table in ("masks", "signals", "reviewed"):  # tables keyed by (track_id, frame)
                payload["track_ids"].add(ch.key[0])
                payload["frames"].add(ch.key[1])
            elif ch.table == "tracks":
                payload["track_ids"].add(ch.key[0])
                payload["item_ids"].add(row.get("item_id"))
            elif ch.table == "items":
                payload["item_ids"].add(ch.key[0])
        for cb in list(self.on_change):
            cb(event, payload)

    def begin_group(self, label: str, atomic: bool = False) -> None:
        """Open an undo group (nestable): commands until the matching end_group() become one
        undo step. Each still commits (is durable) on its own - an interrupted propagation
        keeps every frame done - unless `atomic`: then everything until the matching
        end_group() is ONE transaction, committed there or not at all (abort_group(), a
        crash, a kill or a full disk leave nothing of it). For work that spans several
        event-loop turns, where a `with` block cannot hold the group open."""
        self._writable()
        with self._mutex:
            if atomic and self._txn_depth is None:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as e:
                    raise self._failed(e, f"cannot start '{label}'") from None
                self._txn_depth = self._group_depth + 1
                self._txn_mark = len(self._group.changes) if self._group is not None else 0
            if self._group is None:
                self._group = _Step(label)
            self._group_depth += 1

    def end_group(self) -> None:
        """Close the innermost open group; closing the outermost pushes it as one undo step.
        Closing an atomic group commits it; if the commit fails, it is rolled back and the
        error raised (nothing of the group remains)."""
        with self._mutex:
            if self._group is None:
                raise ProjectError("end_group() without begin_group()")
            if self._txn_depth == self._group_depth:
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error as e:
                    err = self._failed(e, f"cannot save '{self._group.label}'")
                    self.abort_group()
                    raise err from None
                self._txn_depth = None
            self._close_group_level()

    def abort_group(self) -> None:
        """Roll back the innermost open atomic group (the database and the undo record) and
        close it. Listeners hear a "rollback" with the changes that vanished."""
        with self._mutex:
            if self._txn_depth is None or self._group is None:
                raise ProjectError("abort_group() outside an atomic group")
            _db.rollback(self._conn)
            lost = self._group.changes[self._txn_mark:]
            del self._group.changes[self._txn_mark:]
            while self._group_depth >= self._txn_depth:  # inner groups go with it
                self._close_group_level()
                if self._group is None:
                    break
            self._txn_depth = None
        if lost:
            self._notify("rollback", "rollback", lost)

    def _close_group_level(self) -> None:
        self._group_depth -= 1
        if self._group_depth == 0:
            step, self._group = self._group, None
            if step.changes:
                self._undo.append(step)
                self._redo.clear()

    @property
    def in_group(self) -> bool:
        return self._group is not None

    @contextlib.contextmanager
    def group(self, label: str) -> Iterator[None]:
        """Commands inside become one undo step; each still commits (is durable) on its own."""
        self.begin_group(label)
        try:
            yield
        finally:
            self.end_group()

    @contextlib.contextmanager
    def atomic(self, label: str, source: str | os.PathLike | None = None) -> Iterator[None]:
        """Commands inside are one undo step and one transaction: all or nothing, also across
        a crash. With `source` (an imported file or folder) the import is recorded by content,
        and importing the same content again is refused instead of duplicating it."""
        self.begin_group(label, atomic=True)
        try:
            if source is not None:
                self._record_import(label, source)
            yield
        except BaseException:
            self.abort_group()
            raise
        self.end_group()

    def _record_import(self, label: str, source) -> None:
        try:
            digest = _db.digest_of(source)
        except OSError as e:
            raise ProjectError(f"{source}: cannot read it ({e.strerror or e})") from None
        rows = self._q("SELECT at, label FROM imports WHERE digest=? ORDER BY id DESC LIMIT 1", (digest,))
        if rows:
            raise ProjectError(
                f"{source}: this file was already imported into the project ({rows[0]['label']}, "
                f"{rows[0]['at']}); nothing changed. Undo that import first to import it again")
        with self._command(label) as write:
            iid = self._next_id("imports")
            write("imports", (iid,), {"id": iid, "digest": digest, "source": str(source), "label": label,
                                      "at": time.strftime("%Y-%m-%d %H:%M:%S")})

    def imports(self) -> list[dict]:
        """The annotation files imported so far (undone imports are not listed)."""
        return [dict(r) for r in self._q("SELECT * FROM imports ORDER BY id")]

    def _apply(self, changes: list[_Change], undo: bool) -> None:
        with self._transaction("cannot undo" if undo else "cannot redo"):
            seq = reversed(changes) if undo else changes
            for ch in seq:
                self._put(ch.table, ch.key, ch.before if undo else ch.after)

    def undo(self) -> str | None:
        self._writable()
        with self._mutex:
            if self._group is not None or not self._undo:
                return None
            step = self._undo.pop()
            self._apply(step.changes, undo=True)
            self._redo.append(step)
        self._notify("undo", step.label, step.changes)
        return step.label

    def redo(self) -> str | None:
        self._writable()
        with self._mutex:
            if self._group is not None or not self._redo:
                return None
            step = self._redo.pop()
            self._apply(step.changes, undo=False)
            self._undo.append(step)
        self._notify("redo", step.label, step.changes)
        return step.label

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_label(self) -> str | None:
        return self._undo[-1].label if self._undo else None

    @property
    def redo_label(self) -> str | None:
        return self._redo[-1].label if self._redo else None

    def _next_id(self, table: str) -> int:
        return (self._conn.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0) + 1

