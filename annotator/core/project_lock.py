"""One writer per project *file*, whatever name it is opened by.

An exclusive, non-blocking OS lock on `<real path>.lock` (the kernel drops it when the holder
dies). The name comes from the resolved real path, so every symlink to a project shares one
lock. A hard link cannot be told apart by name, and SQLite keeps its -wal/-shm files by the
name it was opened with, so two names of one database would each get their own journal and
lose commits even one after the other: a project file with more than one hard link is
refused for writing.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from annotator.errors import ProjectError, ProjectLockedError


def real_path(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(path))


def refuse_hard_links(path: Path) -> None:
    try:
        n = os.stat(path).st_nlink
    except OSError:
        return
    if n > 1:
        raise ProjectError(
            f"{path}: the project file has {n} hard links (names); writing through one of them could "
            "lose work, so it is refused. Open it by a single name: copy it (cp) instead of linking")


class ProjectLock:
    def __init__(self, db_path: str | os.PathLike):
        self.db = real_path(db_path)
        self.path = Path(str(self.db) + ".lock")
        self.fd: int | None = None
        self.created = False

    def acquire(self) -> None:
        existed = self.path.exists()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            why = "the file system is read-only" if e.errno == errno.EROFS else (e.strerror or str(e))
            raise ProjectError(f"{self.db}: cannot open the project for writing: {why}") from None
        self.created = not existed
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                other = os.pread(fd, 64, 0).decode(errors="replace").strip() if os.name != "nt" else ""
            except OSError:
                other = ""
            os.close(fd)
            who = f" (process {other})" if other else ""
            raise ProjectLockedError(
                f"{self.db}: project is open elsewhere{who}; close it there or open read-only") from None
        if os.name != "nt":  # record who holds it, for the error message of the next opener
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
            except OSError:  # a full disk: the lock holds all the same
                pass
        self.fd = fd

    def release(self, remove: bool = False) -> None:
        """Drop the lock; `remove` deletes the lock file too (only when we created it for a
        project that failed to come into existence, so no stray lock is left)."""
        if self.fd is not None:
            if remove and self.created:
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            os.close(self.fd)
            self.fd = None
