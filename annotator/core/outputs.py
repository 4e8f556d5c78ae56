"""The one guard every output goes through: no export, mask or propagation result may land on
an Annotator project (the open one, its -wal/-shm/.lock companions, or any file that is a
project by content), on a folder where a file is meant, or under a name the file system
cannot hold. Also: files we create get the permissions the umask allows, as other tools'.

Writers call `check_output(path)` before they start (so a long job fails at once, not at the
end) and again right before the final rename.
"""
from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

from annotator.errors import OutputError

SQLITE_MAGIC = b"SQLite format 3\x00"
# PRAGMA application_id of our projects: "Anno" (set by the store's schema v3).
APPLICATION_ID = 0x416E6E6F
APP_ID = "annotator-project"
COMPANIONS = ("-wal", "-shm", "-journal", ".lock")
NAME_MAX = 255

_open: dict[str, tuple[int, int]] = {}  # real path of each project open in this process -> (dev, ino)
_open_lock = threading.Lock()


def register_open(path: str | os.PathLike) -> None:
    """The store calls this for every project it opens (read-only ones too)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    with _open_lock:
        _open[real] = (st.st_dev, st.st_ino)


def unregister_open(path: str | os.PathLike) -> None:
    with _open_lock:
        _open.pop(os.path.realpath(path), None)


def _ident(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _is_open_project_file(path: str) -> bool:
    """`path` (already resolved) is an open project or one of its companions."""
    ident = _ident(path)
    with _open_lock:
        opened = dict(_open)
    for real, db in opened.items():
        if path == real or ident == db:
            return True
        for suffix in COMPANIONS:
            if path == real + suffix:
                return True
            if ident is not None and ident == _ident(real + suffix):
                return True
    return False


def is_project_file(path: str | os.PathLike) -> bool:
    """True when the file is an Annotator project by content: the SQLite header and our
    application id, or (projects made before schema v3) our meta row."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size < 100:
            return False
        with open(p, "rb") as f:
            head = f.read(100)
    except OSError:
        return False
    if not head.startswith(SQLITE_MAGIC):
        return False
    if int.from_bytes(head[68:72], "big") == APPLICATION_ID:
        return True
    try:  # an older project: look for our meta row, read-only
        conn = sqlite3.connect(f"{Path(p).resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
        finally:
            conn.close()
        return bool(row) and row[0] == APP_ID
    except sqlite3.Error:
        return False


def _project_problem(path: str) -> str | None:
    real = os.path.realpath(path)
    candidates = {os.path.abspath(path), real}
    for cand in candidates:
        if _is_open_project_file(cand):
            return "it is the open project (or one of its -wal/-shm/.lock files)"
    for cand in candidates:
        base = cand
        for suffix in COMPANIONS:
            if cand.endswith(suffix):
                base = cand[: -len(suffix)]
                if is_project_file(base) or _is_open_project_file(base):
                    return f"it belongs to the project {base}"
        if not _is_open_project_file(cand) and is_project_file(cand):
            return "it is an Annotator project"
    return None


def name_problem(path: str | os.PathLike) -> str | None:
    """A name the file system cannot hold (a component over 255 bytes, a NUL)."""
    s = os.fspath(path)
    if "\x00" in s:
        return "the name contains a NUL character"
    for part in Path(s).parts:
        n = len(os.fsencode(part))
        if n > NAME_MAX:
            return f"the name {part[:40]!r}... is {n} bytes, over the file system's {NAME_MAX}-byte limit"
    return None


def check_output(path: str | os.PathLike, folder: bool | None = False) -> Path:
    """Raise OutputError when writing `path` (a file, or a folder when `folder`; either when
    None) would destroy a project or cannot work; return the path."""
    p = Path(path)
    bad = name_problem(p)
    if bad:
        raise OutputError(f"{p}: cannot write there: {bad}")
    bad = _project_problem(os.fspath(p))
    if bad:
        raise OutputError(f"{p}: refusing to write there: {bad}; choose another output path")
    if folder is None:
        return p
    if p.is_dir() and not folder:
        raise OutputError(f"{p}: is a folder; give the name of the file to write")
    if folder and p.exists() and not p.is_dir():
        raise OutputError(f"{p}: exists and is not a folder")
    return p


def umask() -> int:
    """The process umask, read without changing it where /proc tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)  # no /proc: the only portable way is to set it and put it back
    os.umask(old)
    return old


def apply_umask(path_or_fd, folder: bool = False) -> None:
    """Give a file made by mkstemp (0600) / a folder made by mkdtemp (0700) the permissions a
    plain open()/mkdir() would have given it."""
    mode = (0o777 if folder else 0o666) & ~umask()
    try:
        if isinstance(path_or_fd, int):
            os.fchmod(path_or_fd, mode)
        else:
            os.chmod(path_or_fd, mode)
    except (OSError, AttributeError):  # Windows has no fchmod; permissions are ACLs there anyway
        pass


def write_results_json(path, data) -> None:
    """A bench or eval command's --json results (folders made as needed); an OS error is one
    line naming the file. Nothing when `path` is empty."""
    if not path:
        return
    import json

    from annotator.errors import AnnotatorError

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise AnnotatorError(f"{path}: cannot write results ({e.strerror})") from None
