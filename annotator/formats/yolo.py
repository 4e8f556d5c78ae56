"""YOLO segmentation, the ultralytics layout:

    <out>/data.yaml                 path: ., train: images, val: images, names: {0: dog, 1: cat}
    <out>/images/<name>.jpg         (video frames: images/<video>/<frame>.jpg)
    <out>/labels/<name>.txt         one line per polygon: class x1 y1 x2 y2 ... (normalised 0..1)
    <out>/annotator.json            ours, ignored by ultralytics: per label file its media, frame
                                    and the object id of each line, so a video comes back whole

Polygons go through pixel centres (formats/polygons.mask_to_centre_polygons), the convention
of cv2.fillPoly, with which ultralytics turns them back into masks; coordinates are written with
7 decimals, so a reader that scales by the image size and rounds gets our vertices back.
Lossy (counted in the summary): holes are filled; an object in several parts becomes one line
per part (ultralytics sees several instances; annotator.json keeps them one object for us).
A listed image with an empty label file is a negative ("no object here"), so only annotated
frames are listed (frames option) and photos without masks are left out unless empty_images.

Import reads data.yaml (yaml.safe_load), every image under its train/val/test folders (or
list files), and the label file ultralytics pairs with it (/images/ -> /labels/, .txt).
"""
from __future__ import annotations

import json
import math
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
    atomic_write_bytes,
    atomic_write_json,
    expect,
    frame_names,
    read_json,
    select_items,
)
from annotator.formats.coco import attach_or_check
from annotator.formats.export_paths import NameSet, inside
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.frame_files import FRAME_OPTIONS, FrameFiles, frame_stem, media_hint
from annotator.formats.polygons import has_holes, mask_to_centre_polygons
from annotator.formats.summary import Summary

SIDECAR = "annotator.json"
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def label_path_for(image: Path) -> Path:
    """The label file ultralytics reads for an image: the last /images/ becomes /labels/."""
    parts = list(image.parts)
    if "images" in parts:
        i = len(parts) - 1 - parts[::-1].index("images")
        parts[i] = "labels"
    return Path(*parts).with_suffix(".txt")


def fill_polygon(pts_px: np.ndarray, h: int, w: int) -> np.ndarray:
    import cv2

    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.asarray(pts_px, np.int32).reshape(-1, 1, 2)], 1)
    return m.astype(bool)


class YoloFormat(Format):
    name = "yolo"
    description = "YOLO segmentation (ultralytics layout: data.yaml, images/, labels/*.txt polygons)"
    extensions = ()
    export_options = {
        "frames": ABSENT_OPTION[1],
        "empty_images": "false (default): leave out photos without masks (an empty label file says 'nothing "
                        "here'); true: list them as negatives",
        "uncategorised": UNCAT_OPTION,
        "tolerance": "polygon simplification in pixels; 0 (default) keeps pixel-exact outlines",
        **{k: v for k, v in FRAME_OPTIONS.items() if k != "image_root"},  # images/ sit beside labels/
    }
    import_options = {
        "require_media": "true (default): refuse label files whose image is not readable",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> Summary:
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        rule = o.choice("frames", "annotated", CHOICES)
        empty_images = o.bool("empty_images", False)
        tol = o.float("tolerance", 0.0, minimum=0.0)
        uncat = (o.str("uncategorised") or "object").strip() or "object"
        if out.suffix:
            raise FormatError(f"{out}: YOLO writes a folder (data.yaml, images/, labels/); give a folder name")
        summary = Summary()
        items = select_items(project, item_ids, str(out))
        cats = project.categories()
        names = [c.name for c in cats]
        cls_of: dict[int | None, int] = {c.id: k for k, c in enumerate(cats)}
        loose = [t for it in items for t in project.tracks(it.id) if t.category_id is None]
        if loose and uncat.lower() == "skip":
            summary.note("objects without a category left out (uncategorised=skip)",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
        elif loose:
            if uncat in names:
                cls_of[None] = names.index(uncat)
            else:
                cls_of[None] = len(names)
                names.append(uncat)
            summary.note(f"objects without a category exported as class '{uncat}'",
                         f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
        files = FrameFiles(str(out), o, out / "images", out / "images")
        labels: list[tuple[tuple[str, ...], str]] = []
        sidecar: dict[str, dict] = {}
        dirs = NameSet()
        for it in items:
            tracks = [t for t in project.tracks(it.id) if t.category_id in cls_of]
            by_track = {t.id: {m.frame: m for m in project.masks(track_id=t.id)} for t in tracks}
            if it.kind == "image":
                frames = [0] if (any(by_track.values()) or empty_images) else []
                if not frames:
                    summary.note("photos without masks left out (empty_images=false)", it.name)
            else:
                frames = listed_frames(project, it, project.tracks(it.id), by_track, rule, summary)
            if not frames:
                continue
            stem = dirs.take(Path(it.name).stem if it.kind != "frames" else it.name, f"item{it.id}")
            fnames = frame_names(it)
            for f in frames:
                rel = (stem,) if it.kind == "image" else (stem, frame_stem(it, f, fnames))
                image_ref = files.ref(it, f, rel, fnames)
                lines, objs = [], []
                for t in tracks:
                    m = by_track[t.id].get(f)
                    if m is None or m.area == 0:
                        continue
                    mask = m.mask()
                    if has_holes(mask):
                        summary.note("masks whose holes YOLO polygons cannot hold (filled)",
                                     f"{it.name} frame {f} object {t.obj_id}")
                    polys = mask_to_centre_polygons(mask, tol)
                    if len(polys) > 1:
                        summary.note("objects in several parts written as one line per part (YOLO sees "
                                     "separate instances)", f"{it.name} frame {f} object {t.obj_id}")
                    for poly in polys:
                        xs = [v / it.width for v in poly[0::2]]
                        ys = [v / it.height for v in poly[1::2]]
                        coords = " ".join(f"{x:.7f} {y:.7f}" for x, y in zip(xs, ys))
                        lines.append(f"{cls_of[t.category_id]} {coords}")
                        objs.append(t.obj_id)
                label_rel = ("labels", *rel[:-1], f"{rel[-1]}.txt")
                labels.append((label_rel, "".join(line + "\n" for line in lines)))
                entry = {"image": image_ref, "frame_index": f, "objects": objs, "media": media_hint(it, out),
                         "media_kind": it.kind}
                if it.kind != "image":
                    entry.update({"media": media_hint(it, out), "media_kind": it.kind,
                                  "num_frames": it.num_frames, "fps": it.fps})
                sidecar["/".join(label_rel)] = entry
        if not labels:
            raise FormatError(f"{out}: no annotated images or frames in the selection")
        data = ("# YOLO segmentation dataset written by annotator\npath: .\ntrain: images\nval: images\nnames:\n"
                + "".join(f"  {k}: {json.dumps(n, ensure_ascii=False)}\n" for k, n in enumerate(names)))
        with AtomicFolder(out) as tmp:
            files.write(inside(tmp, "images"), summary)
            files.note(summary)
            for rel, text in labels:
                atomic_write_bytes(inside(tmp, *rel), text.encode("utf-8"))
            atomic_write_bytes(inside(tmp, "data.yaml"), data.encode("utf-8"))
            atomic_write_json(inside(tmp, SIDECAR), {"version": 1, "labels": sidecar}, indent=1)
        summary.fact(f"{len(labels)} label files, {len(names)} classes")
        return summary

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        import yaml

        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        require = o.bool("require_media", True)
        yml = path if path.is_file() else path / "data.yaml"
        expect(yml.is_file(), str(path), "no data.yaml (a YOLO dataset folder has one)")
        try:
            data = yaml.safe_load(yml.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise FormatError(f"{yml}: not readable YAML ({type(e).__name__})") from None
        expect(isinstance(data, dict), str(yml), "the top level should be a mapping")
        names = data.get("names")
        if isinstance(names, list):
            names = dict(enumerate(names))
        expect(isinstance(names, dict) and names and all(isinstance(k, int) and isinstance(v, str) and v.strip()
                                                          for k, v in names.items()), str(yml),
               "'names' should map class numbers to non-empty names")
        root = yml.parent / str(data.get("path") or ".")
        images = self._images(root, data, yml)
        side = {}
        if (yml.parent / SIDECAR).is_file():
            doc = read_json(yml.parent / SIDECAR)
            side = doc.get("labels", {}) if isinstance(doc, dict) and isinstance(doc.get("labels"), dict) else {}
        plan = ImportPlan(yml.parent)
        for k in sorted(names):
            plan.want_category(names[k].strip())
        items: dict[str, PlannedItem] = {}
        tracks: dict[tuple[int, int], PlannedTrack] = {}
        for img in images:
            lab = label_path_for(img)
            if not lab.is_file():
                plan.summary.note("images without a label file skipped", img.name)
                continue
            try:
                key = label_path_for(img.relative_to(root)).as_posix()
            except ValueError:
                key = ""
            entry = side.get(key) if isinstance(side.get(key), dict) else None
            self._plan_label(project, plan, img, lab, names, entry, items, tracks, require)
        if not plan.items:
            raise FormatError(f"{yml}: no image with a label file under {root}")
        return apply_plan(project, plan, f"Import YOLO {yml.parent.name}")

    @staticmethod
    def _images(root: Path, data: dict, yml: Path) -> list[Path]:
        out: list[Path] = []
        for split in ("train", "val", "test"):
            val = data.get(split)
            for v in (val if isinstance(val, list) else [val] if val else []):
                p = root / str(v)
                if p.is_dir():
                    out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_EXTS and f.is_file())
                elif p.is_file() and p.suffix == ".txt":  # a list of image paths
                    for line in p.read_text(encoding="utf-8").splitlines():
                        if line.strip():
                            q = Path(line.strip())
                            out.append(q if q.is_absolute() else root / q)
                else:
                    raise FormatError(f"{yml}: {split}: {p} is neither a folder nor a .txt list")
        seen, uniq = set(), []
        for f in out:
            k = os.path.normcase(os.path.abspath(f))
            if k not in seen:
                seen.add(k)
                uniq.append(f)
        return uniq

    def _plan_label(self, project, plan, img: Path, lab: Path, names, entry, items, tracks, require) -> None:
        from annotator.errors import MediaError
        from annotator.media import image_size

        w = str(lab)
        try:
            wd, h = image_size(img)
        except MediaError as e:
            if require:
                raise FormatError(f"{w}: its image: {e}") from None
            plan.summary.note("label files whose image is unreadable skipped", lab.name)
            return
        video = (entry is not None and isinstance(entry.get("media"), str) and "frame_index" in entry
                 and entry.get("media_kind") != "image")
        hint = entry.get("media") if entry is not None and isinstance(entry.get("media"), str) else None
        if video:
            rel = entry["media"]
            media_path = Path(rel) if os.path.isabs(rel) else plan.source / rel
            frame, kind = int(entry["frame_index"]), str(entry.get("media_kind") or "video")
            expect(kind in ("video", "frames"), w, f"unknown media_kind {kind!r}")
            n, fps = int(entry.get("num_frames") or frame + 1), float(entry.get("fps") or 0.0)
        else:
            media_path, frame, kind, n, fps = img, 0, "image", 1, 0.0
        key = os.path.normcase(os.path.abspath(media_path))
        pi = items.get(key)
        if pi is None:
            pi = PlannedItem(path=str(media_path), kind=kind, width=wd, height=h, num_frames=n, fps=fps)
            attach_or_check(project, pi, media_path, f"{w} ({media_path.name})", require and not video, hint)
            items[key] = pi
            plan.items.append(pi)
        objs = entry.get("objects") if entry is not None and isinstance(entry.get("objects"), list) else None
        text = lab.read_text(encoding="utf-8", errors="replace").splitlines()
        lines = [(i, ln.split()) for i, ln in enumerate(text) if ln.strip()]
        if objs is not None and len(objs) != len(lines):
            objs = None  # edited after we wrote it: every line its own object
        for k, (i, parts) in enumerate(lines):
            lw = f"{w}: line {i + 1}"
            try:
                cls = int(parts[0])
                vals = [float(v) for v in parts[1:]]
            except ValueError:
                raise FormatError(f"{lw}: expected 'class x1 y1 x2 y2 ...' numbers") from None
            expect(cls in names, lw, f"class {cls} is not in data.yaml names")
            expect(all(math.isfinite(v) for v in vals), lw, "coordinates should be finite numbers")
            if len(vals) == 4:
                plan.summary.note("box lines (class cx cy w h, detection format) read as rectangles", lab.name)
                cx, cy, bw, bh = vals
                vals = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2,
                        cx - bw / 2, cy + bh / 2]
            if len(vals) < 6 or len(vals) % 2:
                plan.summary.note("lines with fewer than 3 points or an odd count skipped", f"{lab.name}:{i + 1}")
                continue
            expect(all(-1.0 <= v <= 2.0 for v in vals), lw, "coordinates should be normalised (0..1)")
            pts = np.stack([np.rint(np.array(vals[0::2]) * wd), np.rint(np.array(vals[1::2]) * h)], 1)
            m = fill_polygon(pts, h, wd)
            if not m.any():
                continue
            obj = int(objs[k]) if objs is not None and isinstance(objs[k], int) and objs[k] > 0 else None
            tkey = (id(pi), obj) if obj is not None else (id(pi), -len(tracks) - 1)
            pt = tracks.get(tkey)
            if pt is None:
                pt = PlannedTrack(category=names[cls].strip(), obj_id=obj)
                tracks[tkey] = pt
                pi.tracks.append(pt)
            prev = pt.masks.get(frame)
            pt.masks[frame] = _rle.encode(m | (_rle.decode(prev) if prev is not None else False))


FORMAT = YoloFormat()
