"""The SQLite side of the project store: connecting, the schema and its migrations, the
integrity check on open, turning SQLite's errors into one line a person can act on, and the
digest that recognises an annotation file imported before.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import sqlite3
from pathlib import Path

from annotator.errors import ProjectError

APP_ID = "annotator-project"

_CREATE_TABLE = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro"
        if _on_readonly_media(path):
            # A WAL project on read-only media cannot get its -shm file; nobody can write there,
            # so reading it as immutable (no locks, no change tracking) is safe.
            uri += "&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=5000")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise ProjectError(f"{path}: cannot enable WAL journaling (got {mode})")
        conn.execute("PRAGMA synchronous=NORMAL")  # see the store's docstring
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _on_readonly_media(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # Windows: no statvfs
        return False


def check_and_migrate(conn: sqlite3.Connection, path: Path, readonly: bool, create: bool,
                      migrations: list[str]) -> None:
    """Refuse what is not our project (or is newer, or misses tables), then apply the
    migrations it lacks, each in its own transaction."""
    schema_version = len(migrations)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if not create:
        if version == 0:
            raise ProjectError(f"{path}: not an Annotator project (empty or foreign SQLite file)")
        try:
            app = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
        except sqlite3.OperationalError:
            app = None
        if app is None or app[0] != APP_ID:
            raise ProjectError(f"{path}: not an Annotator project")
    if version > schema_version:
        raise ProjectError(f"{path}: made by a newer Annotator (schema {version} > {schema_version}); update the app")
    if not create:
        check_tables(conn, path, migrations[:version])
    if version < schema_version:
        if readonly:
            raise ProjectError(f"{path}: needs an upgrade (schema {version}); open it writable once")
        for v in range(version, schema_version):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in migrations[v].split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                if v == 0:
                    conn.execute("INSERT INTO meta VALUES ('app', ?)", (APP_ID,))
                conn.execute(f"PRAGMA user_version={v + 1}")
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise


def check_tables(conn: sqlite3.Connection, path: Path, applied: list[str]) -> None:
    """Every table the applied migrations created is there (a dropped table is damage)."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for sql in applied:
        for t in _CREATE_TABLE.findall(sql):
            if t not in have:
                raise ProjectError(f"{path}: the project file is damaged: its table '{t}' is missing; "
                                   "restore a backup")


def quick_check(conn: sqlite3.Connection) -> str | None:
    """None when SQLite's quick_check finds the file sound, else its first complaint. It reads
    every page once (about as long as copying the file), without the index cross-checks of
    integrity_check."""
    try:
        rows = conn.execute("PRAGMA quick_check(3)").fetchall()
    except sqlite3.DatabaseError as e:
        return str(e)
    msgs = [r[0] for r in rows]
    return None if msgs == ["ok"] else "; ".join(msgs)


def rollback(conn: sqlite3.Connection, savepoint: str | None = None) -> None:
    """Roll back without masking the error that got us here (SQLite may already have rolled
    back by itself after a disk-full error, and a second ROLLBACK would fail)."""
    if not conn.in_transaction:
        return
    with contextlib.suppress(sqlite3.Error):
        if savepoint:
            conn.execute(f"ROLLBACK TO {savepoint}")
            conn.execute(f"RELEASE {savepoint}")
        else:
            conn.execute("ROLLBACK")


def is_damage(e: BaseException) -> bool:
    text = str(e).lower()
    return isinstance(e, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text
                                                     or "no such table" in text or "corrupt" in text)


def error_message(path: Path, e: BaseException, doing: str) -> str:
    """One line for a failed SQLite (or OS) operation, naming the real cause."""
    text = str(e)
    low = text.lower()
    err = getattr(e, "errno", None)
    if "disk is full" in low or err == errno.ENOSPC:
        why = f"the disk is full ({text})"
    elif "readonly" in low or "read-only" in low or err == errno.EROFS:
        why = f"the file or its folder is read-only ({text})"
    elif is_damage(e):
        why = f"the project file is damaged ({text}); open it read-only to export what is readable, or restore a backup"
    else:
        why = text or type(e).__name__
    return f"{path}: {doing}: {why}"


def digest_of(source: str | os.PathLike) -> str:
    """sha256 of an import source: a file's bytes, or a folder's relative file names and bytes."""
    p = Path(source)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else []
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()
