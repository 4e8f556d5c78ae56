"""Names and paths inside an export: the one rule every exporter follows.

* A name that comes from a file or the project (an SA-V video_id, an item name, a category)
  becomes ONE path component through `safe_name`: no separators, no NUL or control
  characters, never "." or "..", no name Windows reserves (CON, NUL, COM1 ...), no trailing
  dot or space, at most 255 bytes. So no export can write outside its output folder.
* `inside(root, *parts)` joins and checks the result still lies under root (belt and braces).
* A path written INTO an annotation file (COCO file_name, labelme imagePath, ...) is
  `portable_ref`: relative to the export root (or the image_root option), in forward
  slashes, never absolute and never climbing with "..". When the media lies elsewhere,
  the exporter writes a copy under the root instead (formats/frame_files.py).
"""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from annotator.errors import FormatError

MAX_NAME_BYTES = 255
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
                     "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³", "CONIN$", "CONOUT$"}
# characters Windows refuses in names, path separators of both systems, and control characters
_BAD_CHARS = re.compile('[<>:"/\\\\|?*\x00-\x1f\x7f\ud800-\udfff]')


def safe_name(name, fallback: str = "unnamed", max_bytes: int = MAX_NAME_BYTES) -> str:
    """`name` as one portable file-name component (see the module docstring). A name that
    is fine stays as it is; one cut to fit max_bytes keeps a short hash of the whole name so
    two long names sharing a beginning stay distinct."""
    raw = "" if name is None else str(name)
    s = _BAD_CHARS.sub("_", unicodedata.normalize("NFC", raw)).strip().rstrip(". ")
    if not s.strip("._ "):  # "", ".", "..", "...": nothing that names a file
        s = fallback
    if s.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        s = "_" + s
    if len(s.encode("utf-8", "surrogatepass")) > max_bytes:
        tag = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        s = _cut_bytes(s, max_bytes - 9) + "_" + tag
    return s


def _cut_bytes(s: str, n: int) -> str:
    out = s.encode("utf-8", "surrogatepass")[:max(1, n)]
    return out.decode("utf-8", "ignore").rstrip(". ") or "_"


class NameSet:
    """Unique names within one folder (case-insensitive: Windows and macOS fold case)."""

    def __init__(self):
        self._used: set[str] = set()

    def take(self, name, fallback: str = "unnamed", suffix: str = "") -> str:
        base = safe_name(name, fallback, MAX_NAME_BYTES - len(suffix.encode()) - 8)
        cand, k = base, 1
        while (cand + suffix).casefold() in self._used:
            k += 1
            cand = f"{base}_{k}"
        self._used.add((cand + suffix).casefold())
        return cand


def inside(root: Path, *parts: str) -> Path:
    """root / parts, refused if it would leave root (parts should already be safe_name'd)."""
    root_abs = Path(os.path.abspath(root))
    target = Path(os.path.abspath(root_abs.joinpath(*parts)))
    if os.path.commonpath([root_abs, target]) != str(root_abs):
        raise FormatError(f"{root}: refusing to write {'/'.join(parts)!r}, which lies outside the output folder")
    return target


def portable_ref(target: Path, root: Path) -> str | None:
    """`target` relative to `root` in forward slashes, or None when it is not under root
    (the caller then writes a copy under root, or refuses)."""
    t = Path(os.path.abspath(target))
    r = Path(os.path.abspath(root))
    try:
        if os.path.commonpath([t, r]) != str(r):
            return None
    except ValueError:  # another drive on Windows
        return None
    rel = Path(os.path.relpath(t, r))
    if rel.is_absolute() or any(p == os.pardir for p in rel.parts) or str(rel) == ".":
        return None
    return rel.as_posix()


def is_portable(ref: str) -> bool:
    """What a reader may take as a path under its root: relative, no '..', no backslash, no NUL."""
    if not ref or "\\" in ref or "\x00" in ref or ref.startswith("/") or re.match(r"^[A-Za-z]:", ref):
        return False
    return all(p not in ("", ".", "..") for p in ref.split("/"))
