"""The project store: one SQLite file per project, every edit a command, undo/redo.

Why it is shaped this way:
- There is no Save button. Each command runs in one SQLite transaction (WAL mode), so a
  crash or SIGKILL of the app loses nothing that was acknowledged: a commit is in the
  operating system's hands when it returns. synchronous=NORMAL: commits do not wait for
  fsync (the WAL is synced at checkpoints), because on a busy disk an fsync took 30-50 ms,
  long enough to freeze the window that commits. The price: after a power loss or an OS
  crash the last commits may be missing, the file still consistent.
- Undo/redo is generic: every command records the before/after image of each row it
  touches; undo writes the before images back, redo the after images. Several commands
  can be grouped into one undo step (a propagation run) while each still commits as it
  goes, so an interrupted run keeps every frame already done.
- A lock file held with an OS lock (released by the kernel when the process dies) makes
  a second process get a clear "open elsewhere" error instead of two writers; it is keyed by
  the file's real path, and a hard-linked project is refused for writing (core/project_lock).
- An import is atomic (`atomic()`): all its commands are one transaction, so a crash, a kill
  or a full disk half way leaves nothing of it, and the same file is not imported twice.
- Opening for writing runs SQLite's quick_check; a damaged file is refused for writing, and
  SQLite's errors reach the user as one line naming the real cause (store_db.error_message).
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np

from annotator.core import limits
from annotator.core import outputs
from annotator.core import rle as _rle
from annotator.core import store_db as _db
from annotator.core.project_lock import ProjectLock, refuse_hard_links
from annotator.core.review_store import ReviewStore
from annotator.core.store_history import History, _Step
from annotator.core.model import (
    MASK_SOURCES,
    MEDIA_KINDS,
    Category,
    MaskRecord,
    MediaItem,
    Prompts,
    Track,
    palette_color,
)
from annotator.errors import ProjectError

APP_ID = _db.APP_ID
UNDO_LIMIT = 500

# Each entry upgrades the schema by one version (PRAGMA user_version).
MIGRATIONS: list[str] = [
    # v1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE categories (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, color TEXT NOT NULL,
        supercategory TEXT NOT NULL DEFAULT '');
    CREATE TABLE items (
        id INTEGER PRIMARY KEY, path TEXT NOT NULL, kind TEXT NOT NULL,
        width INTEGER NOT NULL, height INTEGER NOT NULL, num_frames INTEGER NOT NULL,
        fps REAL NOT NULL, name TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE tracks (
        id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, obj_id INTEGER NOT NULL,
        category_id INTEGER, color TEXT NOT NULL, attributes TEXT NOT NULL DEFAULT '{}',
        hidden INTEGER NOT NULL DEFAULT 0, locked INTEGER NOT NULL DEFAULT 0,
        UNIQUE (item_id, obj_id));
    CREATE INDEX tracks_item ON tracks (item_id);
    CREATE TABLE masks (
        track_id INTEGER NOT NULL, frame INTEGER NOT NULL, h INTEGER NOT NULL, w INTEGER NOT NULL,
        counts TEXT NOT NULL, source TEXT NOT NULL, prompts TEXT, model TEXT NOT NULL DEFAULT '',
        score REAL, PRIMARY KEY (track_id, frame)) WITHOUT ROWID;
    """,
    # v2 (review queue): per-track, per-frame drift signals and per-frame, per-object "reviewed"
    # marks. Signals are a float32 BLOB whose column names live once in signal_layouts. digest
    # identifies what the values were computed from (the caller decides staleness).
    """
    CREATE TABLE signal_layouts (id INTEGER PRIMARY KEY, names TEXT NOT NULL UNIQUE);
    CREATE TABLE signals (
        track_id INTEGER NOT NULL, frame INTEGER NOT NULL, layout INTEGER NOT NULL,
        digest INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL,
        PRIMARY KEY (track_id, frame)) WITHOUT ROWID;
    CREATE TABLE reviewed (
        track_id INTEGER NOT NULL, frame INTEGER NOT NULL, PRIMARY KEY (track_id, frame)) WITHOUT ROWID;
    """,
    # v3: the files imported so far (an undoable row each, written in the import's own
    # transaction), and an application id in the SQLite header so a project is known by content.
    f"""
    CREATE TABLE imports (
        id INTEGER PRIMARY KEY, digest TEXT NOT NULL, source TEXT NOT NULL, label TEXT NOT NULL,
        at TEXT NOT NULL);
    CREATE INDEX imports_digest ON imports (digest);
    PRAGMA application_id = {outputs.APPLICATION_ID};
    """,
    # v4: per-category metadata (JSON), e.g. the category id of the file it was imported from
    # ({"source_id": 5}), so exports keep a dataset's class ids.
    """
    ALTER TABLE categories ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# table -> primary-key columns (row images are keyed by these)
_KEYS = {"categories": ("id",), "items": ("id",), "tracks": ("id",), "masks": ("track_id", "frame"),
         "imports": ("id",)}
_KEYS.update(signals=("track_id", "frame"), reviewed=("track_id", "frame"))  # v2

_UNSET: Any = object()


def _dumps(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


class Project(History, ReviewStore):  # ReviewStore: reviewed marks and drift signals (v2)
    """An open project file. Thread-safe (one internal lock); meant to be used from one
    thread at a time, typically the GUI thread or a CLI command."""

    SUFFIX = ".annotator"
    _KEYS = _KEYS

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: ProjectLock | None, readonly: bool):
        self.path = path
        self._conn = conn
        self._lock_file = lock
        self.readonly = readonly
        self._mutex = threading.RLock()
        self._undo: deque[_Step] = deque(maxlen=UNDO_LIMIT)
        self._redo: list[_Step] = []
        self._group: _Step | None = None
        self._group_depth = 0
        self._txn_depth: int | None = None  # group depth whose begin opened the atomic transaction
        self._txn_mark = 0                  # changes in the group before the atomic part began
        self.damaged: str | None = None     # why writing is refused (quick_check, a damaged row)
        self.on_change: list[Callable[[str, dict], None]] = []

    # ------------------------------------------------------------------ open/close
    @classmethod
    def create(cls, path: str | os.PathLike) -> "Project":
        path = Path(path)
        bad = outputs.name_problem(path)
        if bad:
            raise ProjectError(f"{path}: cannot create the project: {bad}")
        if path.exists():
            raise ProjectError(f"{path}: already exists")
        if not path.parent.is_dir():
            raise ProjectError(f"{path}: folder {path.parent} does not exist")
        return cls._open(path, readonly=False, create=True)

    @classmethod
    def open(cls, path: str | os.PathLike, readonly: bool = False) -> "Project":
        path = Path(path)
        if not path.is_file():
            raise ProjectError(f"{path}: no such project file")
        return cls._open(path, readonly=readonly, create=False)

    @classmethod
    def open_or_create(cls, path: str | os.PathLike) -> "Project":
        path = Path(path)
        return cls.open(path) if path.exists() else cls.create(path)

    @classmethod
    def _open(cls, path: Path, readonly: bool, create: bool) -> "Project":
        lock = conn = None
        ok = False
        try:
            if not readonly:
                lock = ProjectLock(path)
                lock.acquire()
                if not create:
                    refuse_hard_links(path)
            conn = _db.connect(path, readonly)
            _db.check_and_migrate(conn, path, readonly, create, MIGRATIONS)
            if not readonly and not create:
                bad = _db.quick_check(conn)
                if bad:
                    raise ProjectError(f"{path}: the project file is damaged (SQLite quick_check: {bad[:200]}); "
                                       "writing to it is refused. Open it read-only to export what is "
                                       "readable, or restore a backup")
            proj = cls(path, conn, lock, readonly)
            outputs.register_open(path)
            ok = True
            return proj
        except (sqlite3.Error, OSError) as e:
            raise ProjectError(_db.error_message(
                path, e, "cannot create the project" if create else "not a readable project file")) from None
        finally:
            if not ok:
                if conn is not None:
                    conn.close()
                if create and lock is not None and lock.fd is not None:  # a project that never
                    # came into existence leaves nothing behind (not even its lock)
                    for suffix in ("", "-wal", "-shm", "-journal"):
                        with contextlib.suppress(OSError):
                            os.unlink(str(path) + suffix)
                if lock:
                    lock.release(remove=create)

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                if not self.readonly:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
                outputs.unregister_open(self.path)
            if self._lock_file:
                self._lock_file.release()
                self._lock_file = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def folder(self) -> Path:
        return self.path.resolve().parent

    def integrity_ok(self) -> bool:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # ------------------------------------------------------------------ row conversion
    def _json(self, text, table: str, key) -> Any:
        """A JSON column; a damaged one is a one-line error naming the row, not a traceback."""
        try:
            return json.loads(text)
        except (TypeError, ValueError, RecursionError):
            raise ProjectError(f"{self.path}: the project file is damaged: {table} row {key} holds "
                               f"unreadable data ({str(text)[:40]!r})") from None

    def _item(self, r: sqlite3.Row) -> MediaItem:
        return MediaItem(
            id=r["id"], path=r["path"], kind=r["kind"], width=r["width"], height=r["height"],
            num_frames=r["num_frames"], fps=r["fps"], name=r["name"], meta=self._json(r["meta"], "items", r["id"]),
            base_dir=str(self.folder),
        )

    def _track(self, r: sqlite3.Row) -> Track:
        try:
            color = tuple(int(c) for c in self._json(r["color"], "tracks", r["id"]))
        except (TypeError, ValueError):
            raise ProjectError(f"{self.path}: the project file is damaged: tracks row {r['id']} has "
                               "a bad colour") from None
        return Track(
            id=r["id"], item_id=r["item_id"], obj_id=r["obj_id"], category_id=r["category_id"],
            color=color, attributes=self._json(r["attributes"], "tracks", r["id"]),
            hidden=bool(r["hidden"]), locked=bool(r["locked"]),
        )

    def _category(self, r: sqlite3.Row) -> Category:
        meta = self._json(r["meta"], "categories", r["id"]) if "meta" in r.keys() else {}
        return Category(id=r["id"], name=r["name"], color=tuple(self._json(r["color"], "categories", r["id"])),
                        supercategory=r["supercategory"], meta=meta if isinstance(meta, dict) else {})

    def _checked_mask(self, r) -> MaskRecord:
        """A mask row read with its item's size (ih, iw): one whose RLE does not fit the item
        is damage, refused rather than handed on (an export would copy it verbatim)."""
        bad = _rle.check({"size": [r["h"], r["w"]], "counts": r["counts"]}, r["ih"], r["iw"])
        if bad:
            raise ProjectError(f"{self.path}: the project file is damaged: the mask of object row "
                               f"{r['track_id']} at frame {r['frame']} does not fit its item: {bad}")
        return self._mask(r)

    @staticmethod
    def _mask(r) -> MaskRecord:
        return MaskRecord(
            track_id=r["track_id"], frame=r["frame"],
            rle={"size": [r["h"], r["w"]], "counts": r["counts"]}, source=r["source"],
            prompts=Prompts.from_json(r["prompts"]), model=r["model"], score=r["score"],
        )

    # ------------------------------------------------------------------ queries
    def _q(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._mutex:
            if self._conn is None:
                raise ProjectError(f"{self.path}: project is closed")
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as e:
                raise self._failed(e, "cannot read the project") from None

    def categories(self) -> list[Category]:
        return [self._category(r) for r in self._q("SELECT * FROM categories ORDER BY id")]

    def category(self, cat_id: int) -> Category:
        rows = self._q("SELECT * FROM categories WHERE id=?", (cat_id,))
        if not rows:
            raise ProjectError(f"{self.path}: no category {cat_id}")
        return self._category(rows[0])

    def category_by_name(self, name: str) -> Category | None:
        rows = self._q("SELECT * FROM categories WHERE name=?", (name,))
        return self._category(rows[0]) if rows else None

    def items(self) -> list[MediaItem]:
        return [self._item(r) for r in self._q("SELECT * FROM items ORDER BY id")]

    def item(self, item_id: int) -> MediaItem:
        rows = self._q("SELECT * FROM items WHERE id=?", (item_id,))
        if not rows:
            raise ProjectError(f"{self.path}: no media item {item_id}")
        return self._item(rows[0])

    def tracks(self, item_id: int | None = None) -> list[Track]:
        if item_id is None:
            return [self._track(r) for r in self._q("SELECT * FROM tracks ORDER BY item_id, obj_id")]
        return [self._track(r) for r in self._q("SELECT * FROM tracks WHERE item_id=? ORDER BY obj_id", (item_id,))]

    def track(self, track_id: int) -> Track:
        rows = self._q("SELECT * FROM tracks WHERE id=?", (track_id,))
        if not rows:
            raise ProjectError(f"{self.path}: no object {track_id}")
        return self._track(rows[0])

    def masks(self, item_id: int | None = None, track_id: int | None = None,
              frame: int | None = None) -> list[MaskRecord]:
        sql = ("SELECT m.*, i.width AS iw, i.height AS ih FROM masks m"
               " JOIN tracks t ON t.id = m.track_id JOIN items i ON i.id = t.item_id")
        cond, args = [], []
        if item_id is not None:
            cond.append("t.item_id=?")
            args.append(item_id)
        if track_id is not None:
            cond.append("m.track_id=?")
            args.append(track_id)
        if frame is not None:
            cond.append("m.frame=?")
            args.append(frame)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        sql += " ORDER BY m.track_id, m.frame"
        return [self._checked_mask(r) for r in self._q(sql, tuple(args))]

    def mask(self, track_id: int, frame: int) -> MaskRecord | None:
        rows = self._q("SELECT m.*, i.width AS iw, i.height AS ih FROM masks m JOIN tracks t ON t.id = m.track_id"
                       " JOIN items i ON i.id = t.item_id WHERE m.track_id=? AND m.frame=?", (track_id, frame))
        return self._checked_mask(rows[0]) if rows else None

    def mask_frames(self, track_id: int) -> dict[int, str]:
        return {r[0]: r[1] for r in self._q("SELECT frame, source FROM masks WHERE track_id=? ORDER BY frame",
                                            (track_id,))}

    def counts(self) -> dict[str, int]:
        return {t: self._q(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("categories", "items", "tracks", "masks")}

    # ------------------------------------------------------------------ non-undoable state
    def get_state(self, key: str, default: Any = None) -> Any:
        rows = self._q("SELECT value FROM state WHERE key=?", (key,))
        return self._json(rows[0][0], "state", key) if rows else default

    def set_state(self, key: str, value: Any) -> None:
        self._writable()
        with self._mutex, self._transaction("cannot save the session state"):
            self._conn.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, _dumps(value)))

    # ------------------------------------------------------------------ categories
    def add_category(self, name: str, color=None, supercategory: str = "", meta: dict | None = None) -> Category:
        name = str(name).strip()
        if not name:
            raise ProjectError("category name is empty")
        if self.category_by_name(name) is not None:
            raise ProjectError(f"category {name!r} already exists")
        with self._command(f"Add category {name}") as write:
            cid = self._next_id("categories")
            color = tuple(int(c) for c in (color or palette_color(cid - 1)))
            write("categories", (cid,), {"id": cid, "name": name, "color": _dumps(list(color)),
                                         "supercategory": supercategory or "", "meta": _dumps(dict(meta or {}))})
        return self.category(cid)

    def ensure_category(self, name: str, color=None, supercategory: str = "") -> Category:
        return self.category_by_name(name) or self.add_category(name, color, supercategory)

    def update_category(self, cat_id: int, name=_UNSET, color=_UNSET, supercategory=_UNSET,
                        meta=_UNSET) -> Category:
        cur = self.category(cat_id)
        if name is not _UNSET:
            name = str(name).strip()
            other = self.category_by_name(name)
            if not name or (other is not None and other.id != cat_id):
                raise ProjectError(f"category name {name!r} is empty or already used")
        with self._command(f"Edit category {cur.name}") as write:
            row = self._row("categories", (cat_id,))
            if name is not _UNSET:
                row["name"] = name
            if color is not _UNSET:
                row["color"] = _dumps([int(c) for c in color])
            if supercategory is not _UNSET:
                row["supercategory"] = supercategory or ""
            if meta is not _UNSET:
                row["meta"] = _dumps(dict(meta or {}))
            write("categories", (cat_id,), row)
        return self.category(cat_id)

    # ------------------------------------------------------------------ media items
    def _store_path(self, path: str | os.PathLike) -> str:
        p = Path(path).expanduser()
        p = p if p.is_absolute() else Path.cwd() / p
        p = Path(os.path.normpath(p))
        try:
            return p.relative_to(self.folder).as_posix()
        except ValueError:
            return str(p)

    def add_item(self, path, kind: str, width: int, height: int, num_frames: int = 1, fps: float = 0.0,
                 name: str | None = None, meta: dict | None = None) -> MediaItem:
        if kind not in MEDIA_KINDS:
            raise ProjectError(f"{path}: unknown media kind {kind!r}")
        if int(width) <= 0 or int(height) <= 0 or int(num_frames) <= 0:
            raise ProjectError(f"{path}: invalid media size {width}x{height}x{num_frames}")
        bad = limits.pixels_problem(width, height) or limits.frames_problem(num_frames)
        if bad:  # a declared size is checked like a decoded one: every importer gets this
            raise ProjectError(f"{path}: media size refused: {bad}")
        stored = self._store_path(path)
        with self._command(f"Add {Path(stored).name}") as write:
            iid = self._next_id("items")
            write("items", (iid,), {
                "id": iid, "path": stored, "kind": kind, "width": int(width), "height": int(height),
                "num_frames": int(num_frames), "fps": float(fps or 0.0),
                "name": name or Path(stored).name, "meta": _dumps(meta or {}),
            })
        return self.item(iid)

    def update_item_meta(self, item_id: int, meta: dict) -> MediaItem:
        self.item(item_id)
        with self._command("Edit media info") as write:
            row = self._row("items", (item_id,))
            row["meta"] = _dumps(meta)
            write("items", (item_id,), row)
        return self.item(item_id)

    def relink_item(self, item_id: int, new_path) -> MediaItem:
        cur = self.item(item_id)
        if not os.path.exists(new_path):
            raise ProjectError(f"{new_path}: no such file or folder")
        with self._command(f"Relink {cur.name}") as write:
            row = self._row("items", (item_id,))
            row["path"] = self._store_path(new_path)
            write("items", (item_id,), row)
        return self.item(item_id)

    def remove_item(self, item_id: int) -> None:
        cur = self.item(item_id)
        with self._command(f"Remove {cur.name}") as write:
            for t in self._conn.execute("SELECT id FROM tracks WHERE item_id=?", (item_id,)).fetchall():
                self._delete_track_rows(write, t[0])
            write("items", (item_id,), None)

    # ------------------------------------------------------------------ tracks
    def next_obj_id(self, item_id: int) -> int:
        """The object id the next track added to `item_id` gets (the one home of this rule)."""
        return (self._conn.execute("SELECT MAX(obj_id) FROM tracks WHERE item_id=?",
                                   (item_id,)).fetchone()[0] or 0) + 1

    def add_track(self, item_id: int, category_id: int | None = None, color=None,
                  attributes: dict | None = None, obj_id: int | None = None) -> Track:
        self.item(item_id)
        if category_id is not None:
            self.category(category_id)
        with self._command("Add object") as write:
            if obj_id is None:
                obj_id = self.next_obj_id(item_id)
            elif self._conn.execute("SELECT 1 FROM tracks WHERE item_id=? AND obj_id=?",
                                    (item_id, obj_id)).fetchone():
                raise ProjectError(f"object id {obj_id} already exists in this item")
            tid = self._next_id("tracks")
            color = tuple(int(c) for c in (color or palette_color(int(obj_id) - 1)))
            write("tracks", (tid,), {
                "id": tid, "item_id": item_id, "obj_id": int(obj_id), "category_id": category_id,
                "color": _dumps(list(color)), "attributes": _dumps(attributes or {}), "hidden": 0, "locked": 0,
            })
        return self.track(tid)

    def update_track(self, track_id: int, category_id=_UNSET, color=_UNSET, attributes=_UNSET,
                     hidden=_UNSET, locked=_UNSET) -> Track:
        self.track(track_id)
        if category_id not in (_UNSET, None):
            self.category(category_id)
        with self._command("Edit object") as write:
            row = self._row("tracks", (track_id,))
            if category_id is not _UNSET:
                row["category_id"] = category_id
            if color is not _UNSET:
                row["color"] = _dumps([int(c) for c in color])
            if attributes is not _UNSET:
                row["attributes"] = _dumps(attributes or {})
            if hidden is not _UNSET:
                row["hidden"] = int(bool(hidden))
            if locked is not _UNSET:
                row["locked"] = int(bool(locked))
            write("tracks", (track_id,), row)
        return self.track(track_id)

    def _delete_track_rows(self, write, track_id: int) -> None:
        for (frame,) in self._conn.execute("SELECT frame FROM masks WHERE track_id=?", (track_id,)).fetchall():
            write("masks", (track_id, frame), None)
        for table in ("signals", "reviewed"):  # they travel with the track (undo brings them back)
            for (frame,) in self._conn.execute(f"SELECT frame FROM {table} WHERE track_id=?", (track_id,)).fetchall():
                write(table, (track_id, frame), None)
        write("tracks", (track_id,), None)

    def delete_track(self, track_id: int) -> None:
        t = self.track(track_id)
        with self._command(f"Delete object {t.obj_id}") as write:
            self._delete_track_rows(write, track_id)

    # ------------------------------------------------------------------ masks
    def _mask_row(self, track: Track, frame: int, mask_or_rle, source: str, prompts, model: str,
                  score, item: MediaItem | None = None) -> dict:
        if source not in MASK_SOURCES:
            raise ProjectError(f"unknown mask source {source!r}")
        item = item or self.item(track.item_id)
        if not 0 <= int(frame) < item.num_frames:
            raise ProjectError(f"{item.name}: frame {frame} is outside 0..{item.num_frames - 1}")
        if isinstance(mask_or_rle, dict):
            r = mask_or_rle
            counts = r["counts"]
            if isinstance(counts, (bytes, list)):
                r = _rle.encode(_rle.decode(r)) if isinstance(counts, list) else {
                    "size": r["size"], "counts": counts.decode("ascii")}
        else:
            r = _rle.encode(np.asarray(mask_or_rle, bool))
        h, w = (int(v) for v in r["size"])
        if (h, w) != (item.height, item.width):
            raise ProjectError(f"{item.name}: mask is {w}x{h} but the media is {item.width}x{item.height}")
        if isinstance(prompts, Prompts):
            pj = prompts.to_json()
        elif isinstance(prompts, dict):
            pj = Prompts.of(prompts.get("points"), prompts.get("labels"), prompts.get("box")).to_json()
        else:
            pj = None
        return {"track_id": track.id, "frame": int(frame), "h": h, "w": w, "counts": r["counts"],
                "source": source, "prompts": pj, "model": model or "",
                "score": None if score is None else float(score)}

    def set_mask(self, track_id: int, frame: int, mask_or_rle, source: str = "manual", prompts=None,
                 model: str = "", score: float | None = None) -> MaskRecord:
        t = self.track(track_id)
        row = self._mask_row(t, frame, mask_or_rle, source, prompts, model, score)
        stale = self._marks_outdated_by([row])
        with self._command(f"Mask object {t.obj_id} frame {frame}") as write:
            write("masks", (track_id, int(frame)), row)
            for key in stale:
                write("reviewed", key, None)
        return self._mask(row)  # a dict reads like sqlite3.Row here

    def set_masks(self, entries: list[dict], label: str = "Set masks") -> None:
        """Many masks in one transaction: entries of dict(track_id, frame, mask|rle, source, prompts, model, score)."""
        rows = []
        tracks: dict[int, Track] = {}
        items: dict[int, MediaItem] = {}
        for e in entries:  # look each track/item up once: imports write thousands of masks
            t = tracks.get(e["track_id"]) or tracks.setdefault(e["track_id"], self.track(e["track_id"]))
            it = items.get(t.item_id) or items.setdefault(t.item_id, self.item(t.item_id))
            m = e.get("rle", e.get("mask"))
            rows.append(self._mask_row(t, e["frame"], m, e.get("source", "manual"), e.get("prompts"),
                                       e.get("model", ""), e.get("score"), item=it))
        stale = self._marks_outdated_by(rows)
        with self._command(label) as write:
            for row in rows:
                write("masks", (row["track_id"], row["frame"]), row)
            for key in stale:
                write("reviewed", key, None)

    def delete_masks(self, track_id: int, first: int | None = None, last: int | None = None,
                     source: str = "manual") -> int:
        """Delete masks of frames first..last; a machine's delete (source other than "manual",
        e.g. propagation finding the object gone) also clears reviewed marks there."""
        t = self.track(track_id)
        lo = -1 if first is None else int(first)
        hi = 2**62 if last is None else int(last)
        frames = [r[0] for r in self._q("SELECT frame FROM masks WHERE track_id=? AND frame BETWEEN ? AND ?",
                                        (track_id, lo, hi))]
        if not frames:
            return 0
        with self._command(f"Delete masks of object {t.obj_id}") as write:
            marked = self.reviewed_frames(track_id) if source != "manual" else set()
            for f in frames:
                write("masks", (track_id, f), None)
                if f in marked:
                    write("reviewed", (track_id, f), None)
        return len(frames)
