"""What every format shares: the Format base class, option parsing, atomic writes, and the
import *plan* that is validated completely before the project is touched.

Importers parse and check the whole input into an ImportPlan (plain data, RLE already checked
against the media size); only then `apply_plan` writes it, inside one undo group. If writing
still fails half way (disk full...), the group is undone so the project is left as it was.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from annotator.core import rle as _rle
from annotator.core.rle import counts_total as _rle_total
from annotator.core.outputs import apply_umask, check_output
from annotator.errors import FormatError, ProjectError
from annotator.formats import checks
from annotator.formats.summary import Summary

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- the format object
class Format:
    """Subclasses set the class attributes and implement `export` and/or `load`."""

    name: str = ""
    description: str = ""
    extensions: tuple[str, ...] = ()
    # option name -> help text (shown by `annotator formats` and in the GUI dialogs)
    export_options: dict[str, str] = {}
    import_options: dict[str, str] = {}
    can_export = True
    can_import = True

    @property
    def options(self) -> dict[str, str]:
        """All options, name -> help, each help saying whether it applies to export or import."""
        out = {k: f"[export] {v}" for k, v in self.export_options.items()}
        for k, v in self.import_options.items():
            if k in out:
                out[k] = (f"[export, import] {v}" if self.export_options[k] == v
                          else f"{out[k]}; [import] {v}")
            else:
                out[k] = f"[import] {v}"
        return out

    def export(self, project, out, item_ids=None, **opts) -> None:  # pragma: no cover
        raise FormatError(f"{self.name}: export is not supported")

    def load(self, project, path, **opts):  # pragma: no cover
        raise FormatError(f"{self.name}: import is not supported")

    def __repr__(self) -> str:
        return f"<format {self.name}>"


# ----------------------------------------------------------------------------- options
class Options:
    """Typed access to **opts; values may arrive as strings from the command line."""

    def __init__(self, fmt: str, where: str, opts: dict, known: Iterable[str]):
        self.fmt, self.where, self.opts = fmt, where, dict(opts)
        unknown = sorted(set(self.opts) - set(known))
        if unknown:
            raise FormatError(f"{where}: unknown option {unknown[0]!r} for format {fmt} "
                              f"(known: {', '.join(sorted(known)) or 'none'})")

    def _bad(self, key, want):
        return FormatError(f"{self.where}: option {key}={self.opts[key]!r} is not {want}")

    def bool(self, key: str, default: bool) -> bool:
        v = self.opts.get(key, default)
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return v.lower() in ("1", "true", "yes", "on")
        raise self._bad(key, "true/false")

    def int(self, key: str, default: int | None, minimum: int | None = None) -> int | None:
        v = self.opts.get(key, default)
        if v is None:
            return None
        try:
            out = int(v)
            if isinstance(v, float) and out != v:
                raise ValueError
        except (TypeError, ValueError):
            raise self._bad(key, "an integer") from None
        if minimum is not None and out < minimum:
            raise self._bad(key, f">= {minimum}")
        return out

    def float(self, key: str, default: float, minimum: float | None = None) -> float:
        v = self.opts.get(key, default)
        try:
            out = float(v)
        except (TypeError, ValueError):
            raise self._bad(key, "a number") from None
        if minimum is not None and out < minimum:
            raise self._bad(key, f">= {minimum}")
        return out

    def choice(self, key: str, default: str, choices: Iterable[str]) -> str:
        v = str(self.opts.get(key, default)).lower()
        choices = tuple(choices)
        if v not in choices:
            raise self._bad(key, "one of " + ", ".join(choices))
        return v

    def str(self, key: str, default: str | None = None) -> str | None:
        v = self.opts.get(key, default)
        return None if v is None else str(v)

    def path(self, key: str, must_exist: bool = True) -> Path | None:
        v = self.opts.get(key)
        if v is None or v == "":
            return None
        p = Path(v).expanduser()
        if must_exist and not p.exists():
            raise FormatError(f"{self.where}: option {key}: {p} does not exist")
        return p


# ----------------------------------------------------------------------------- writing
def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write beside the target, fsync, then rename: readers never see a half-written file."""
    path = check_output(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        apply_umask(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, check_output(path))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    atomic_write_bytes(Path(path), json.dumps(obj, indent=indent, ensure_ascii=False).encode("utf-8"))


class AtomicFolder:
    """Build a folder of outputs next to its destination, then move it into place.

    A new destination appears in one rename. An existing destination keeps its other files;
    ours replace theirs one rename each (a reader sees every file either old or new)."""

    def __init__(self, dest: Path):
        self.dest = check_output(dest, folder=True)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", suffix=".tmp", dir=self.dest.parent))
        apply_umask(self.tmp, folder=True)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        if not self.dest.exists():
            os.replace(self.tmp, self.dest)
            return False
        for root, dirs, files in os.walk(self.tmp):
            rel = Path(root).relative_to(self.tmp)
            (self.dest / rel).mkdir(parents=True, exist_ok=True)
            for f in files:
                os.replace(Path(root) / f, check_output(self.dest / rel / f))
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False


# ----------------------------------------------------------------------------- reading
def read_json(path: Path) -> Any:
    """The one JSON reader of the importers (formats/checks.load_json: size and nesting bounded,
    every failure one line)."""
    return checks.load_json(path)


def expect(cond: bool, where: str, problem: str) -> None:
    if not cond:
        checks._fail(where, problem)  # (cut to a readable length)


def expect_type(value, types, where: str, what: str):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        ok = False
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
        raise FormatError(f"{where}: {what} should be {names}, got {type(value).__name__}")
    return value


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer())


def coco_style_header(doc, w: str, list_keys: tuple[str, ...]) -> dict[int, dict]:
    """Check the top level of a COCO-style document (COCO, YouTube-VIS) and return its
    categories by id."""
    expect_type(doc, dict, w, "the top level")
    for key in list_keys:
        expect(key in doc, w, f"missing '{key}'")
        expect_type(doc[key], list, w, f"'{key}'")
    cats: dict[int, dict] = {}
    for i, c in enumerate(doc["categories"]):
        where = f"{w}: categories[{i}]"
        expect_type(c, dict, where, "a category")
        expect(is_int(c.get("id")), where, "'id' should be an integer")
        expect(isinstance(c.get("name"), str) and c["name"].strip() != "", where,
               "'name' should be a non-empty string")
        expect(int(c["id"]) not in cats, where, f"duplicate category id {c['id']}")
        cats[int(c["id"])] = c
    return cats


def check_rle(r, h: int, w: int, where: str) -> dict:
    """A COCO RLE (compressed or not) checked against the media size -> compressed, str counts."""
    if not isinstance(r, dict) or "size" not in r or "counts" not in r:
        raise FormatError(f"{where}: not an RLE dict with 'size' and 'counts'")
    size = r["size"]
    if (not isinstance(size, (list, tuple)) or len(size) != 2 or not all(is_int(v) for v in size)):
        raise FormatError(f"{where}: RLE size should be [height, width], got {checks.show(size)}")
    rh, rw = int(size[0]), int(size[1])
    if (rh, rw) != (int(h), int(w)):
        raise FormatError(f"{where}: RLE size {rw}x{rh} (WxH) disagrees with the media size {w}x{h}")
    counts = r["counts"]
    checks.media_size(rw, rh, f"{where}: RLE size")
    if isinstance(counts, list):
        counts = checks.uncompressed_counts(counts, rh, rw, where)
        return _rle.encode(_rle.decode({"size": [rh, rw], "counts": counts}))
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", "replace")
    if not isinstance(counts, str):
        raise FormatError(f"{where}: RLE counts should be a string or a list, got {type(counts).__name__}")
    if not counts.isascii():
        raise FormatError(f"{where}: RLE counts string has characters outside the COCO codec")
    try:
        total = _rle_total(counts)
    except ValueError as e:
        if "outside the codec" in str(e):
            raise FormatError(f"{where}: RLE counts string has characters outside the COCO codec") from None
        raise FormatError(f"{where}: corrupt RLE counts ({e})") from None
    if total != rh * rw:
        raise FormatError(f"{where}: RLE counts cover {total} pixels, expected {rh}x{rw} = {rh * rw}")
    return {"size": [rh, rw], "counts": counts}


def mask_rle(mask: np.ndarray) -> dict:
    return _rle.encode(np.asarray(mask, bool))


# ----------------------------------------------------------------------------- the import plan
@dataclass
class PlannedTrack:
    masks: dict[int, dict] = field(default_factory=dict)      # frame -> checked RLE
    scores: dict[int, float | None] = field(default_factory=dict)
    category: str | None = None                                # category *name*
    obj_id: int | None = None                                  # wanted; a free one if taken
    color: tuple[int, int, int] | None = None
    attributes: dict = field(default_factory=dict)


@dataclass
class PlannedItem:
    path: str
    kind: str
    width: int
    height: int
    num_frames: int = 1
    fps: float = 0.0
    name: str | None = None
    meta: dict = field(default_factory=dict)
    existing_id: int | None = None     # attach to this project item instead of adding one
    tracks: list[PlannedTrack] = field(default_factory=list)


@dataclass
class ImportPlan:
    source: Path
    # name -> (supercategory, color or None), in first-seen order
    categories: dict[str, tuple[str, tuple | None]] = field(default_factory=dict)
    items: list[PlannedItem] = field(default_factory=list)
    summary: Summary = field(default_factory=Summary)     # skipped/converted things, counted
    source_ids: dict[str, int] = field(default_factory=dict)  # category name -> id in the file

    def want_category(self, name: str, supercategory: str = "", color=None, source_id: int | None = None) -> None:
        """source_id: the category's id in the file, kept on a new category (meta, schema v4)
        so exports give it back."""
        if name not in self.categories:
            self.categories[name] = (supercategory or "", tuple(color) if color else None)
        if source_id is not None and name not in self.source_ids:
            self.source_ids[name] = int(source_id)


@dataclass
class ImportResult:
    item_ids: list[int]
    tracks: int
    masks: int
    summary: Summary = field(default_factory=Summary)   # what was skipped or converted


def find_item(project, path: Path | str | None = None, name: str | None = None,
              size: tuple[int, int] | None = None):
    """A project item for this media: same file first, then same file name (and size)."""
    items = project.items()
    if path is not None:
        target = os.path.normcase(os.path.abspath(str(path)))
        for it in items:
            if os.path.normcase(os.path.abspath(str(it.abspath))) == target:
                return it
    if name:
        for it in items:
            if Path(it.path).name == name or it.name == name or Path(it.name).stem == name:
                if size is None or (it.width, it.height) == tuple(size):
                    return it
    return None


def apply_plan(project, plan: ImportPlan, label: str, source: str = "imported") -> ImportResult:
    """Write a validated plan as ONE undo step and ONE transaction (Project.atomic): a failure,
    a kill or a full disk half way leaves nothing of it, and the same file twice is refused."""
    ids: list[int] = []
    n_tracks = n_masks = 0
    try:
        with project.atomic(label, source=plan.source):
            cat_ids: dict[str, int] = {}
            for name, (sup, color) in plan.categories.items():
                c = project.category_by_name(name)
                if c is None:
                    sid = plan.source_ids.get(name)
                    c = project.add_category(name, color=color, supercategory=sup,
                                             **({"meta": {"source_id": sid}} if sid is not None else {}))
                cat_ids[name] = c.id
            for pi in plan.items:
                if pi.existing_id is not None:
                    item = project.item(pi.existing_id)
                    if pi.meta:
                        merged = dict(item.meta)
                        merged.update(pi.meta)
                        if merged != item.meta:
                            project.update_item_meta(item.id, merged)
                else:
                    item = project.add_item(pi.path, pi.kind, pi.width, pi.height, pi.num_frames, pi.fps,
                                            name=pi.name, meta=pi.meta)
                ids.append(item.id)
                used = {t.obj_id for t in project.tracks(item.id)}
                for pt in pi.tracks:
                    obj = pt.obj_id if (pt.obj_id is not None and pt.obj_id not in used and pt.obj_id > 0) else None
                    if obj is None:
                        obj = max(used | {0}) + 1
                    used.add(obj)
                    t = project.add_track(item.id, category_id=cat_ids.get(pt.category) if pt.category else None,
                                          color=pt.color, attributes=pt.attributes or None, obj_id=obj)
                    n_tracks += 1
                    entries = [{"track_id": t.id, "frame": f, "rle": r, "source": source,
                                "score": pt.scores.get(f)} for f, r in sorted(pt.masks.items())]
                    for k in range(0, len(entries), 2000):  # bounded transactions
                        project.set_masks(entries[k:k + 2000], label=label)
                    n_masks += len(entries)
    except Exception as e:
        if isinstance(e, FormatError):
            raise
        if isinstance(e, ProjectError) and "already imported" in str(e):
            raise FormatError(str(e)) from None
        why = str(e) if isinstance(e, ProjectError) else f"{type(e).__name__}: {e}"
        raise FormatError(f"{plan.source}: import failed and was undone ({why})") from e
    return ImportResult(ids, n_tracks, n_masks, plan.summary)


# ----------------------------------------------------------------------------- export helpers
def select_items(project, item_ids, where: str, kinds: tuple[str, ...] | None = None):
    items = project.items()
    if item_ids:
        wanted = [int(i) for i in item_ids]
        by_id = {it.id: it for it in items}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise FormatError(f"{where}: the project has no media item {missing[0]}")
        items = [by_id[i] for i in wanted]
    if kinds is not None:
        items = [it for it in items if it.kind in kinds]
    return items


UNCATEGORISED = "uncategorised"


UNCAT_OPTION = ("objects without a category: a class name to export them as (default 'object', flagged so our "
                "own import leaves them uncategorised) or skip (leave them out); counted in the summary")


def category_table(project, uncategorised: str | None = None,
                   summary=None) -> tuple[list[dict], dict[int | None, int]]:
    """COCO-style categories, plus a map from track category_id (None allowed) to output id.

    Tracks without a category get an extra class (default "object") so that every annotation
    has a valid category_id (COCOeval silently skips annotations with unknown ones), or with
    uncategorised=skip none: None is then absent from the map and the caller leaves them out."""
    cats, mapping = [], {}
    project_cats = project.categories()
    # a category imported from a file keeps that file's id; the others get their project id,
    # or the next free one when a kept id took it
    kept = {c.id: int(c.meta["source_id"]) for c in project_cats
            if is_int((c.meta or {}).get("source_id")) and int(c.meta["source_id"]) > 0}
    if len(set(kept.values())) != len(kept):  # two sources gave the same id: keep none
        kept = {}
    used = set(kept.values())
    for c in project_cats:
        out_id = kept.get(c.id)
        if out_id is None:
            out_id = c.id
            while out_id in used:
                out_id = max(used | {out_id}) + 1
        used.add(out_id)
        mapping[c.id] = out_id
        cats.append({"id": out_id, "name": c.name, "supercategory": c.supercategory or "", "color": list(c.color)})
    loose = [t for t in project.tracks() if t.category_id is None]
    choice = (uncategorised or "object").strip() or "object"
    if loose and choice.lower() == "skip":
        if summary is not None:
            summary.note("objects without a category left out (uncategorised=skip)",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
    elif loose:
        existing = next((c for c in cats if c["name"] == choice), None)
        if existing is not None and uncategorised:  # asked for a class the project has: join it
            mapping[None] = existing["id"]
        else:
            names = {c["name"] for c in cats}
            name = choice
            while name in names:
                name = "_" + name
            new_id = max([c["id"] for c in cats] + [0]) + 1
            # flagged so that importing our own file gives those objects no category again
            cats.append({"id": new_id, "name": name, "supercategory": "", "color": [128, 128, 128],
                         UNCATEGORISED: True})
            mapping[None] = new_id
            choice = name
        if summary is not None:
            summary.note(f"objects without a category exported as class '{choice}'",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
    return cats, mapping


def frame_names(item) -> list[str] | None:
    """File names of a frame folder's frames (None when the folder is missing)."""
    if item.kind != "frames" or not item.exists:
        return None
    try:
        from annotator.media import list_frame_files

        files = list_frame_files(item.abspath)
    except Exception:
        return None
    return [f.name for f in files] if len(files) == item.num_frames else None
