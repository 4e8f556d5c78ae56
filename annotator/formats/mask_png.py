"""Mask PNGs: per image (and listed video frame) an instance PNG and/or a semantic PNG, with the
images beside them and one JSON that says what every pixel value means.

    <out>/masks.json                categories (index, id, name, colour) and, per image, its files,
                                    size, video frame, and instance id -> object id and category
    <out>/images/<name>.jpg         (video frames: images/<video>/<frame>.jpg; formats/frame_files.py)
    <out>/instances/<name>.png      16-bit grey, pixel = instance id (= our object id, the same on
                                    every frame of a video), 0 = background
    <out>/semantic/<name>.png       8-bit palette, pixel = category index (1..254, 0 = background),
                                    palette = the categories' colours

Lossy (counted in the summary): one PNG holds one label per pixel, so overlapping objects are
flattened (the lowest object id wins, as in DAVIS); the semantic PNG has no instances.
Import reads masks.json: instance PNGs when present (objects and categories come back), else
semantic PNGs (one object per category per image or video).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from annotator.core import rle as _rle
from annotator.errors import FormatError
from annotator.formats.base import (
    UNCAT_OPTION,
    AtomicFolder,
    Format,
    ImportPlan,
    Options,
    PlannedItem,
    PlannedTrack,
    apply_plan,
    atomic_write_json,
    expect,
    expect_type,
    frame_names,
    is_int,
    read_json,
    select_items,
)
from annotator.formats.coco import attach_or_check
from annotator.formats.export_paths import NameSet, inside, is_portable
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.frame_files import FRAME_OPTIONS, FrameFiles, frame_stem, media_hint
from annotator.formats.summary import Summary

INDEX = "masks.json"
MAX_INSTANCE = 65535


def _write_png16(path: Path, ids: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(ids, np.uint16)).save(path, format="PNG")


def _write_palette(path: Path, labels: np.ndarray, palette: list[int]) -> None:
    from PIL import Image

    labels = np.ascontiguousarray(labels, np.uint8)
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())  # indices kept as they are
    img.putpalette(palette)
    img.save(path, format="PNG")


def _read_ids(path: Path, where: str, h: int, w: int) -> np.ndarray:
    from annotator.media.image import open_checked

    if not path.is_file():
        raise FormatError(f"{where}: {path.name} is missing")
    try:
        with open_checked(path) as img:
            img.load()
            if img.mode not in ("I;16", "I;16B", "I;16L", "I", "L", "P"):
                raise FormatError(f"{path}: unsupported PNG mode {img.mode} (expected 16-bit grey or palette)")
            a = np.asarray(img).astype(np.int64)
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(f"{path}: not a readable PNG ({type(e).__name__}: {e})") from None
    expect(a.shape == (h, w), str(path), f"is {a.shape[1]}x{a.shape[0]}, masks.json says {w}x{h}")
    return a


class MaskPngFormat(Format):
    name = "maskpng"
    description = "mask PNGs: 16-bit instance PNGs and palette semantic PNGs with a JSON id mapping"
    extensions = ()
    export_options = {
        "kind": "both (default), instance (16-bit instance-id PNGs) or semantic (category-index palette PNGs)",
        "frames": ABSENT_OPTION[1],
        "uncategorised": UNCAT_OPTION,
        **{k: v for k, v in FRAME_OPTIONS.items() if k != "image_root"},
    }
    import_options = {
        "kind": "auto (default: instance PNGs when the files have them, else semantic), instance or semantic",
        "require_media": "true (default): refuse photos that are not on disk (video frames may be missing)",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> Summary:
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        kind = o.choice("kind", "both", ("both", "instance", "semantic"))
        rule = o.choice("frames", "annotated", CHOICES)
        uncat = (o.str("uncategorised") or "object").strip() or "object"
        if out.suffix:
            raise FormatError(f"{out}: mask PNGs are a folder; give a folder name")
        summary = Summary()
        items = select_items(project, item_ids, str(out))
        cats = list(project.categories())
        table = [{"index": k + 1, "id": c.id, "name": c.name, "color": list(c.color)} for k, c in enumerate(cats)]
        index_of: dict[int | None, int] = {c.id: k + 1 for k, c in enumerate(cats)}
        loose = [t for it in items for t in project.tracks(it.id) if t.category_id is None]
        if loose and uncat.lower() == "skip":
            summary.note("objects without a category left out (uncategorised=skip)",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
        elif loose:
            hit = next((e for e in table if e["name"] == uncat), None)
            if hit is None:
                hit = {"index": len(table) + 1, "id": None, "name": uncat, "color": [128, 128, 128]}
                table.append(hit)
            index_of[None] = hit["index"]
            summary.note(f"objects without a category exported as class '{uncat}'",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
        if kind != "instance" and len(table) > 254:
            raise FormatError(f"{out}: {len(table)} categories do not fit an 8-bit semantic PNG (254 at most); "
                              "use kind=instance")
        palette = [0, 0, 0] + [v for e in table for v in e["color"]]
        palette += [0] * (768 - len(palette))
        files = FrameFiles(str(out), o, out / "images", out)
        entries, jobs = [], []
        dirs = NameSet()
        for it in items:
            tracks = [t for t in project.tracks(it.id) if t.category_id in index_of]
            for t in tracks:
                if not 1 <= t.obj_id <= MAX_INSTANCE:
                    raise FormatError(f"{out}: object id {t.obj_id} of {it.name} does not fit a 16-bit PNG")
            by_track = {t.id: {m.frame: m for m in project.masks(track_id=t.id)} for t in tracks}
            if it.kind == "image":
                frames = [0] if any(by_track.values()) else []
            else:
                frames = listed_frames(project, it, project.tracks(it.id), by_track, rule, summary)
            if not frames:
                continue
            stem = dirs.take(Path(it.name).stem if it.kind != "frames" else it.name, f"item{it.id}")
            fnames = frame_names(it)
            for f in frames:
                rel = (stem,) if it.kind == "image" else (stem, frame_stem(it, f, fnames))
                png = "/".join(rel) + ".png"
                present = {t.obj_id: (t, by_track[t.id][f]) for t in tracks
                           if f in by_track[t.id] and by_track[t.id][f].area > 0}
                e = {"image": files.ref(it, f, rel, fnames), "width": it.width, "height": it.height,
                     "media": media_hint(it, out), "media_kind": it.kind, "frame_index": f,
                     "objects": {str(obj): {"track": obj, "category": next(
                         (x["name"] for x in table if x["index"] == index_of[t.category_id]), None)}
                         for obj, (t, _) in sorted(present.items())}}
                if it.kind != "image":
                    e.update({"num_frames": it.num_frames, "fps": it.fps})
                if kind != "semantic":
                    e["instances"] = f"instances/{png}"
                if kind != "instance":
                    e["semantic"] = f"semantic/{png}"
                entries.append(e)
                jobs.append((it, f, rel, present))
        if not entries:
            raise FormatError(f"{out}: no annotated images or frames in the selection")
        with AtomicFolder(out) as tmp:
            files.write(inside(tmp, "images"), summary)
            files.note(summary)
            for (it, f, rel, present), e in zip(jobs, entries):
                ids = np.zeros((it.height, it.width), np.uint16)
                total = 0
                for obj in sorted(present, reverse=True):  # lowest id painted last: it wins
                    m = present[obj][1].mask()
                    total += int(m.sum())
                    ids[m] = obj
                if total > int(np.count_nonzero(ids)):
                    summary.note("images where overlapping objects were flattened (lowest id wins)",
                                 f"{it.name} frame {f}")
                if "instances" in e:
                    target = inside(tmp, *e["instances"].split("/"))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _write_png16(target, ids)
                if "semantic" in e:
                    lab = np.zeros(ids.shape, np.uint8)
                    for obj, (t, _) in present.items():
                        lab[ids == obj] = index_of[t.category_id]
                    target = inside(tmp, *e["semantic"].split("/"))
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _write_palette(target, lab, palette)
            atomic_write_json(inside(tmp, INDEX), {"version": 1, "categories": table, "images": entries}, indent=1)
        summary.fact(f"{len(entries)} images' masks ({kind})")
        return summary

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        want = o.choice("kind", "auto", ("auto", "instance", "semantic"))
        require = o.bool("require_media", True)
        index = path if path.is_file() else path / INDEX
        root = index.parent
        doc = read_json(index)
        w = str(index)
        expect_type(doc, dict, w, "the top level")
        cats = expect_type(doc.get("categories"), list, w, "'categories'")
        by_index: dict[int, str] = {}
        for i, c in enumerate(cats):
            expect(isinstance(c, dict) and is_int(c.get("index")) and 1 <= int(c["index"]) <= MAX_INSTANCE
                   and isinstance(c.get("name"), str) and c["name"].strip(), f"{w}: categories[{i}]",
                   "needs an integer 'index' >= 1 and a non-empty 'name'")
            by_index[int(c["index"])] = c["name"].strip()
        plan = ImportPlan(root)
        for c in cats:
            plan.want_category(c["name"].strip(), "", c.get("color") if isinstance(c.get("color"), list)
                               and len(c["color"]) == 3 else None,
                               int(c["id"]) if is_int(c.get("id")) and int(c["id"]) > 0 else None)
        items: dict[str, PlannedItem] = {}
        tracks: dict[tuple, PlannedTrack] = {}
        for i, e in enumerate(expect_type(doc.get("images"), list, w, "'images'")):
            self._plan_entry(project, plan, root, f"{w}: images[{i}]", e, by_index, want, require, items, tracks)
        return apply_plan(project, plan, f"Import mask PNGs {root.name}")

    def _plan_entry(self, project, plan, root, where, e, by_index, want, require, items, tracks) -> None:
        expect_type(e, dict, where, "an image entry")
        expect(is_int(e.get("width")) and is_int(e.get("height")) and e["width"] > 0 and e["height"] > 0, where,
               "'width' and 'height' should be positive integers")
        h, wd = int(e["height"]), int(e["width"])
        for key in ("image", "instances", "semantic", "media"):
            if key in e:
                expect(isinstance(e[key], str) and is_portable(e[key]), where,
                       f"'{key}' should be a relative path inside the dataset")
        mode = want
        if mode == "auto":
            mode = "instance" if "instances" in e else "semantic"
        expect(("instances" if mode == "instance" else "semantic") in e, where, f"has no {mode} PNG")
        kind = str(e.get("media_kind") or "image")
        expect(kind in ("image", "video", "frames"), where, f"unknown media_kind {kind!r}")
        frame = int(e.get("frame_index") or 0) if is_int(e.get("frame_index") or 0) else 0
        if kind == "image":
            media_path = root / e["image"] if "image" in e else root / (e.get("media") or "")
            n, fps = 1, 0.0
        else:
            expect("media" in e and is_int(e.get("num_frames")) and 0 <= frame < int(e["num_frames"]), where,
                   "a video frame needs 'media', 'num_frames' and a 'frame_index' below it")
            media_path, n, fps = root / e["media"], int(e["num_frames"]), float(e.get("fps") or 0.0)
        key = os.path.normcase(os.path.abspath(media_path))
        pi = items.get(key)
        if pi is None:
            pi = PlannedItem(path=str(media_path), kind=kind, width=wd, height=h, num_frames=n, fps=fps)
            attach_or_check(project, pi, media_path, f"{where} ({media_path.name})", require and kind == "image",
                            e.get("media"))
            items[key] = pi
            plan.items.append(pi)
        if mode == "instance":
            ids = _read_ids(root / e["instances"], where, h, wd)
            objs = e.get("objects") if isinstance(e.get("objects"), dict) else {}
            for v in np.unique(ids).tolist():
                if v == 0:
                    continue
                info = objs.get(str(v)) if isinstance(objs.get(str(v)), dict) else {}
                cat = info.get("category") if isinstance(info.get("category"), str) else None
                obj = int(info["track"]) if is_int(info.get("track")) and int(info["track"]) > 0 else int(v)
                if not info:
                    plan.summary.note("instance ids not in masks.json imported without a category",
                                      f"{e['instances']} id {v}")
                self._add(pi, tracks, (id(pi), "i", obj), obj, cat, frame, ids == v)
        else:
            lab = _read_ids(root / e["semantic"], where, h, wd)
            for v in np.unique(lab).tolist():
                if v == 0:
                    continue
                expect(v in by_index, where, f"{e['semantic']} has class index {v}, not in 'categories'")
                self._add(pi, tracks, (id(pi), "s", v), None, by_index[v], frame, lab == v)
            plan.summary.note("semantic PNGs imported as one object per category (no instances)", e["semantic"])

    @staticmethod
    def _add(pi, tracks, key, obj, cat, frame, mask) -> None:
        pt = tracks.get(key)
        if pt is None:
            pt = PlannedTrack(category=cat, obj_id=obj)
            tracks[key] = pt
            pi.tracks.append(pt)
        expect(frame not in pt.masks, pi.path, f"object {obj or cat} twice on frame {frame}")
        pt.masks[frame] = _rle.encode(mask)


FORMAT = MaskPngFormat()
