"""Import and export jobs, without Qt: run in a child process by
annotator.gui.transfer (or in its thread where no child can be started).

Why a child process: the heavy steps are single C calls that hold the GIL for their whole
length - json.dumps of a 1.6 MB COCO document took 65-74 ms, json.loads of it 42-49 ms,
measured here - so in a thread of the app they would stall the GUI thread just the same.

- export: the format reads the project through a ReadView (one consistent snapshot of a
  read-only connection, counted for progress, checked for cancel on every read) and writes its
  files itself; the formats write atomically, so a cancelled or failed export leaves nothing.
- import: the format parses and validates the whole input against a RecordingProject, which
  answers reads from the file and records the writes the format would make instead of making
  them. Only a fully validated import comes back, as the list of recorded operations.

Child protocol: one JSON request line on stdin ({"mode", "project", "format", "path", "opts",
"item_ids"}), later the line "cancel"; JSON lines on stdout: {"progress": [done, total]},
{"op": [kind, fake_id, payload]} (import), then {"result": ...}, {"error": {"type", "message"}}
or {"cancelled": true}.
"""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field

from annotator.core.model import Category, MediaItem, Track
from annotator.errors import FormatError

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.1
MASKS_PER_LINE = 200


class TransferCancelled(Exception):
    """Raised inside the worker thread at the next project read after Cancel."""


class _Reads:
    """Delegates reads to a read-only project; checks for cancel and counts masks read."""

    def __init__(self, ro, cancel: threading.Event, on_masks):
        self._ro = ro
        self._cancel = cancel
        self._on_masks = on_masks

    def _check(self) -> None:
        if self._cancel.is_set():
            raise TransferCancelled()

    def masks(self, *a, **k):
        self._check()
        out = self._ro.masks(*a, **k)
        self._on_masks(len(out))
        return out

    def mask(self, *a, **k):
        self._check()
        out = self._ro.mask(*a, **k)
        self._on_masks(1 if out is not None else 0)
        return out

    def __getattr__(self, name):
        attr = getattr(self._ro, name)
        if callable(attr):
            def call(*a, **k):
                self._check()
                return attr(*a, **k)
            return call
        return attr


class ReadView(_Reads):
    """What an exporter sees: the project, read-only."""


@dataclass
class ImportRecord:
    label: str = "Import"
    ops: list = field(default_factory=list)  # (kind, fake id or None, payload)
    masks: int = 0
    tracks: int = 0
    items: int = 0


class RecordingProject(_Reads):
    """What an importer sees: reads come from the file; writes are recorded, with negative
    ids standing in for the ids the real project will give."""

    def __init__(self, ro, cancel: threading.Event):
        super().__init__(ro, cancel, lambda n: None)
        self.record = ImportRecord()
        self._next = -1
        self._new_items: dict[int, MediaItem] = {}
        self._new_tracks: list[Track] = []
        self._new_cats: dict[str, Category] = {}

    def _fake(self) -> int:
        self._next -= 1
        return self._next + 1

    # -- reads that must see the recorded writes --------------------------------------------
    def item(self, item_id: int):
        self._check()
        return self._new_items[item_id] if item_id in self._new_items else self._ro.item(item_id)

    def items(self):
        self._check()
        return self._ro.items() + list(self._new_items.values())

    def tracks(self, item_id: int | None = None):
        self._check()
        real = [] if item_id in self._new_items else self._ro.tracks(item_id)
        return real + [t for t in self._new_tracks if item_id is None or t.item_id == item_id]

    def category_by_name(self, name: str):
        self._check()
        return self._new_cats.get(name) or self._ro.category_by_name(name)

    def categories(self):
        self._check()
        return self._ro.categories() + list(self._new_cats.values())

    # -- writes, recorded -------------------------------------------------------------------------
    @contextlib.contextmanager
    def group(self, label: str):
        self._check()
        if self.record.label == "Import":
            self.record.label = label
        yield

    def atomic(self, label: str, source=None):
        """apply_plan's all-or-nothing group: here only recorded; the GUI thread applies it."""
        return self.group(label)

    def add_category(self, name, color=None, supercategory="", meta=None):
        self._check()
        c = Category(self._fake(), name, tuple(color) if color else (0, 0, 0), supercategory or "", dict(meta or {}))
        self._new_cats[name] = c
        self.record.ops.append(("category", c.id, dict(name=name, color=color, supercategory=supercategory,
                                                       meta=dict(meta or {}))))
        return c

    def ensure_category(self, name, color=None, supercategory=""):
        return self.category_by_name(name) or self.add_category(name, color, supercategory)

    def add_item(self, path, kind, width, height, num_frames=1, fps=0.0, name=None, meta=None):
        self._check()
        from pathlib import Path

        it = MediaItem(self._fake(), str(path), kind, int(width), int(height), int(num_frames), float(fps),
                       name or Path(str(path)).name, dict(meta or {}), str(self._ro.folder))
        self._new_items[it.id] = it
        self.record.ops.append(("item", it.id, dict(path=path, kind=kind, width=width, height=height,
                                                    num_frames=num_frames, fps=fps, name=name, meta=meta)))
        self.record.items += 1
        return it

    def update_item_meta(self, item_id, meta):
        self._check()
        self.record.ops.append(("item_meta", None, dict(item_id=item_id, meta=dict(meta))))
        return self.item(item_id)

    def add_track(self, item_id, category_id=None, color=None, attributes=None, obj_id=None):
        self._check()
        used = {t.obj_id for t in self.tracks(item_id)}
        if obj_id is None or obj_id in used:
            obj_id = max(used | {0}) + 1
        t = Track(self._fake(), item_id, int(obj_id), category_id, tuple(color) if color else (0, 0, 0),
                  dict(attributes or {}))
        self._new_tracks.append(t)
        self.record.ops.append(("track", t.id, dict(item_id=item_id, category_id=category_id, color=color,
                                                    attributes=attributes, obj_id=obj_id)))
        self.record.tracks += 1
        return t

    def set_masks(self, entries, label="Set masks"):
        self._check()
        entries = [dict(e) for e in entries]
        self.record.ops.append(("masks", None, entries))
        self.record.masks += len(entries)

    def set_mask(self, track_id, frame, mask_or_rle, source="manual", prompts=None, model="", score=None):
        self.set_masks([dict(track_id=track_id, frame=frame, rle=mask_or_rle, source=source, prompts=prompts,
                             model=model, score=score)])

    def undo(self):
        """A format undoing its own half-done import: forget what it recorded."""
        self.record.ops.clear()
        self.record.masks = self.record.tracks = self.record.items = 0
        return self.record.label

    def __getattr__(self, name):
        if name.startswith(("add_", "set_", "update_", "delete_", "remove_", "relink_", "redo")):
            raise FormatError(f"this importer changes the project with {name}(), which the app cannot "
                              "check before applying; use the command line `annotator import`")
        return super().__getattr__(name)


@contextlib.contextmanager
def _snapshot(ro):
    """One read transaction: an export started during a propagation sees one moment of the
    project, not frames from before and after a write. (WAL readers never block the writer.)"""
    conn = getattr(ro, "_conn", None)
    if conn is None:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            conn.execute("COMMIT")


def count_masks(view, item_ids=None) -> int:
    """Masks an export of these items will read (cheap: no RLE is loaded)."""
    items = view.items()
    if item_ids:
        wanted = {int(i) for i in item_ids}
        items = [it for it in items if it.id in wanted]
    return sum(len(view.mask_frames(t.id)) for it in items for t in view.tracks(it.id))



def do_work(spec: dict, ro, cancel: threading.Event, progress) -> tuple[object, "ImportRecord | None"]:
    """Run one export or import planning on the read-only project `ro`.
    progress(done, total) is called at most every PROGRESS_EVERY_S. Returns (summary, record)."""
    from annotator.formats.registry import get_format

    fmt = get_format(spec["format"])
    counter = {"done": 0, "total": 0, "last": 0.0}

    def count(n: int) -> None:
        counter["done"] += n
        now = time.perf_counter()
        if now - counter["last"] >= PROGRESS_EVERY_S:
            counter["last"] = now
            progress(counter["done"], counter["total"])

    with _snapshot(ro):
        if spec["mode"] == "export":
            view = ReadView(ro, cancel, count)
            counter["total"] = count_masks(view, spec.get("item_ids"))
            progress(0, counter["total"])
            from annotator.formats.frame_files import progress_hook

            def images_done(done: int, total: int, what: str) -> None:
                # frames written as images: the bar follows them, and Cancel stops the export
                if cancel.is_set():
                    raise TransferCancelled()
                now = time.perf_counter()
                if now - counter["last"] >= PROGRESS_EVERY_S or done == total:
                    counter["last"] = now
                    progress(done, total)

            token = progress_hook.set(images_done)
            try:
                out = fmt.export(view, spec["path"], item_ids=spec.get("item_ids"), **spec.get("opts", {}))
            finally:
                progress_hook.reset(token)
            if cancel.is_set():
                raise TransferCancelled()
            progress(counter["done"], counter["total"])
            # formats return a Summary of what they skipped or converted (older plugins: a path or None)
            lines = out.lines() if hasattr(out, "lines") else []
            where = spec["path"] if hasattr(out, "lines") or not out else out
            return "\n".join([f"Exported {fmt.name} to {where}."] + lines), None
        view = RecordingProject(ro, cancel)
        fmt.load(view, spec["path"], **spec.get("opts", {}))
        if cancel.is_set():
            raise TransferCancelled()
        return None, view.record


def _jsonable(entries: list) -> list:
    from annotator.core import rle as _rle

    out = []
    for e in entries:
        e = dict(e)
        m = e.get("rle", e.pop("mask", None))
        if m is not None and not isinstance(m, dict):
            m = _rle.encode(m)  # a plugin may hand over a bool array
        e["rle"] = m
        if e.get("prompts") is not None and hasattr(e["prompts"], "to_json"):
            e["prompts"] = e["prompts"].to_json()
        out.append(e)
    return out


def main() -> int:
    """Child process entry: see the module docstring for the protocol."""
    from annotator.core.store import Project

    out = sys.stdout
    sys.stdout = sys.stderr  # anything a format prints must not corrupt the protocol
    lock = threading.Lock()

    def send(obj) -> None:
        with lock:
            out.write(json.dumps(obj) + "\n")
            out.flush()

    spec = json.loads(sys.stdin.readline())
    cancel = threading.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                cancel.set()
        cancel.set()  # the app went away

    threading.Thread(target=watch_stdin, daemon=True).start()
    ro = None
    try:
        ro = Project.open(spec["project"], readonly=True)
        summary, record = do_work(spec, ro, cancel, lambda d, t: send({"progress": [d, t]}))
        if record is None:
            send({"result": {"summary": summary}})
        else:
            for kind, fake, payload in record.ops:
                if kind == "masks":
                    payload = _jsonable(payload)
                    for k in range(0, len(payload), MASKS_PER_LINE):
                        send({"op": [kind, fake, payload[k:k + MASKS_PER_LINE]]})
                else:
                    send({"op": [kind, fake, payload]})
            send({"result": {"label": record.label, "masks": record.masks, "tracks": record.tracks,
                             "items": record.items}})
    except TransferCancelled:
        send({"cancelled": True})
    except Exception as e:
        from annotator.errors import AnnotatorError

        if not isinstance(e, AnnotatorError):
            log.exception("%s failed", spec.get("mode"))
        send({"error": {"type": type(e).__name__, "message": str(e).splitlines()[0] if str(e) else ""}})
    finally:
        if ro is not None:
            ro.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
