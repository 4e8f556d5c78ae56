"""YouTube-VIS JSON: `videos` (frame file names), `annotations` (one per object track, with
one segmentation per listed frame, null where the object has no mask) and `categories`.

Video entries also carry `media`, `media_kind`, `num_frames`, `fps` and, when not every frame
is listed, `frame_indices`, so our own files import back onto the same frames; readers of the
format ignore extra keys.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from pathlib import Path

from annotator import __version__
from annotator.core import rle as _rle
from annotator.errors import FormatError
from annotator.formats import base, checks
from annotator.formats.base import (
    UNCATEGORISED,
    Format,
    ImportPlan,
    Options,
    PlannedItem,
    PlannedTrack,
    apply_plan,
    category_table,
    expect,
    expect_type,
    is_int,
    read_json,
    select_items,
)
from annotator.formats.base import UNCAT_OPTION
from annotator.formats.coco import _is_color, _segmentation_rle, attach_or_check, segmentation_of
from annotator.formats.export_paths import NameSet
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.frame_files import FRAME_OPTIONS, FrameFiles, frame_stem, media_hint
from annotator.formats.polygons import has_holes
from annotator.formats.summary import Summary

log = logging.getLogger(__name__)


class YtvisFormat(Format):
    name = "ytvis"
    description = "YouTube-VIS video instance segmentation JSON"
    extensions = (".json",)
    export_options = {
        "segmentation": "rle (default, exact) or polygon",
        "tolerance": "polygon simplification in pixels; 0 (default) keeps pixel-exact outlines",
        "frames": ABSENT_OPTION[1],
        "indent": "JSON indentation (default none: compact)",
        "uncategorised": UNCAT_OPTION,
        **FRAME_OPTIONS,
    }
    import_options = {
        "image_root": "folder the file_names are relative to (default: JPEGImages beside the JSON file if there "
                      "is one, else the JSON file's folder)",
        "require_media": "true (default): refuse videos that are not on disk; false: import them as missing media "
                         "(relink later)",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> Summary:
        """Writes <out> and, for frames not already image files under image_root (default
        <out folder>/JPEGImages), <out folder>/JPEGImages/<video>/<frame>.jpg; file_names are
        relative to image_root, as the YouTube-VIS loaders join them."""
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        mode = o.choice("segmentation", "rle", ("rle", "polygon", "polygons"))
        mode = "polygon" if mode == "polygons" else mode
        tol = o.float("tolerance", 0.0, minimum=0.0)
        rule = o.choice("frames", "annotated", CHOICES)
        indent = o.int("indent", None, minimum=0)
        if out.is_dir():
            raise FormatError(f"{out}: is a folder; give the JSON file to write")
        summary = Summary()
        items = select_items(project, item_ids, str(out))
        for it in items:
            if it.kind == "image":
                summary.note("image items skipped (YouTube-VIS holds videos only)", it.name)
        items = [it for it in items if it.kind != "image"]
        if not items:
            raise FormatError(f"{out}: no video in the selection (YouTube-VIS holds videos only)")
        images_dir = out.parent / "JPEGImages"
        root = o.path("image_root", must_exist=False) or images_dir
        files = FrameFiles(str(out), o, images_dir, root)
        dirs = NameSet()
        cats, cat_map = category_table(project, o.str("uncategorised"), summary)
        videos, anns = [], []
        for item in items:
            tracks = [t for t in project.tracks(item.id) if t.category_id in cat_map]
            masks = {t.id: {m.frame: m for m in project.masks(track_id=t.id)} for t in tracks}
            frames = listed_frames(project, item, project.tracks(item.id), masks, rule, summary)
            if not frames:
                summary.note("videos with no annotated frame skipped", item.name)
                continue
            vid = len(videos) + 1
            names = base.frame_names(item) if item.kind == "frames" else None
            vdir = dirs.take(Path(item.name).stem if item.kind != "frames" else item.name, f"video{item.id}")
            entry = {"id": vid, "width": item.width, "height": item.height, "length": len(frames),
                     "file_names": [files.ref(item, f, (vdir, frame_stem(item, f, names)), names) for f in frames],
                     "media": media_hint(item, root), "media_kind": item.kind,
                     "num_frames": item.num_frames, "fps": item.fps}
            if frames != list(range(item.num_frames)):
                entry["frame_indices"] = frames
            videos.append(entry)
            for t in tracks:
                segs, boxes, areas = [], [], []
                for f in frames:
                    m = masks[t.id].get(f)
                    area = m.area if m is not None else 0
                    if area == 0:
                        segs.append(None)
                        boxes.append(None)
                        areas.append(None)
                        continue
                    seg = segmentation_of(m.rle, mode, tol)
                    bbox = m.bbox
                    if mode == "polygon" and seg:
                        if has_holes(m.mask()):
                            summary.note("masks whose holes polygons cannot hold (filled)",
                                         f"{item.name} frame {f} object {t.obj_id}")
                        drawn = _rle.from_polygons(seg, item.height, item.width)  # holes filled
                        area, bbox = _rle.area(drawn), _rle.bbox(drawn)
                    elif mode == "polygon":
                        summary.note("masks with no polygon outline written as absent", f"{item.name} frame {f}")
                    segs.append(seg if seg else None)
                    boxes.append(bbox if seg else None)
                    areas.append(float(area) if seg else None)
                if all(s is None for s in segs):
                    continue
                ann = {"id": len(anns) + 1, "video_id": vid, "category_id": cat_map[t.category_id],
                       "iscrowd": 1 if t.attributes.get("iscrowd") else 0, "segmentations": segs,
                       "bboxes": boxes, "areas": areas, "height": item.height, "width": item.width,
                       "length": len(frames), "track_id": t.obj_id}
                extra = {k: v for k, v in t.attributes.items() if k != "iscrowd"}
                if extra:
                    ann["attributes"] = extra
                anns.append(ann)
        doc = {"info": {"description": f"exported from {Path(project.path).name}", "version": "1.0",
                        "contributor": f"annotator {__version__}",
                        "date_created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
               "licenses": [], "videos": videos, "annotations": anns, "categories": cats}
        files.save(out, doc, summary, indent)
        summary.fact(f"{len(videos)} videos, {len(anns)} object tracks")
        return summary

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        default_root = path.parent / "JPEGImages" if (path.parent / "JPEGImages").is_dir() else path.parent
        root = o.path("image_root") or default_root
        require = o.bool("require_media", True)
        doc = read_json(path)
        plan = self.plan(project, doc, path, root, require)
        return apply_plan(project, plan, f"Import YouTube-VIS {path.name}")

    @staticmethod
    def _frame_indices(v: dict, names: list[str], folder: Path | None, where: str) -> tuple[list[int], int | None]:
        """The video frame of every listed file name: `frame_indices` when the file gives them,
        else the name's place in the frame folder on disk (sparse YouTube-VIS lists every 5th
        frame of JPEGImages/<video>), else the number in the name (00005.jpg is frame 5), else
        the list position. Also the folder's frame count when it is on disk."""
        from annotator.media import list_frame_files

        on_disk = None
        if folder is not None and folder.is_dir():
            try:
                on_disk = [f.name for f in list_frame_files(folder)]
            except Exception:  # not a readable frame folder: fall back to the names
                on_disk = None
        if "frame_indices" in v:
            idx = v["frame_indices"]
            expect(isinstance(idx, list) and len(idx) == len(names) and all(is_int(f) and f >= 0 for f in idx)
                   and len(set(idx)) == len(idx), where,
                   "'frame_indices' should be distinct frame numbers, one per file name")
            return [int(f) for f in idx], len(on_disk) if on_disk else None
        base_names = [n.replace("\\", "/").rsplit("/", 1)[-1] for n in names]
        if on_disk:
            pos = {n: i for i, n in enumerate(on_disk)}
            missing = [n for n in base_names if n not in pos]
            expect(not missing, where, f"file name {missing[0] if missing else ''!r} is not a frame of {folder}")
            return [pos[n] for n in base_names], len(on_disk)
        stems = [n.rsplit(".", 1)[0] for n in base_names]
        if all(st.isdigit() for st in stems) and len(set(map(int, stems))) == len(stems):
            return [int(st) for st in stems], None
        return list(range(len(names))), None

    def plan(self, project, doc, path: Path, root: Path, require_media: bool) -> ImportPlan:
        w = str(path)
        cats = base.coco_style_header(doc, w, ("videos", "annotations", "categories"))

        plan = ImportPlan(path)
        videos: dict[int, tuple[PlannedItem, list[int]]] = {}
        for i, v in enumerate(doc["videos"]):
            where = f"{w}: videos[{i}]"
            expect_type(v, dict, where, "a video")
            expect(is_int(v.get("id")), where, "'id' should be an integer")
            expect(int(v["id"]) not in videos, where, f"duplicate video id {v['id']}")
            for k in ("width", "height"):
                expect(is_int(v.get(k)) and int(v[k]) > 0, where, f"'{k}' should be a positive integer")
            checks.media_size(v["width"], v["height"], where)
            names = expect_type(v.get("file_names"), list, where, "'file_names'")
            expect(len(names) > 0 and all(isinstance(n, str) and n for n in names), where,
                   "'file_names' should be a non-empty list of file names")
            length = v.get("length", len(names))
            expect(is_int(length) and int(length) == len(names), where,
                   f"'length' {checks.show(length)} disagrees with {len(names)} file_names")
            declared = v.get("num_frames")
            expect(declared is None or (is_int(declared) and int(declared) >= len(names)), where,
                   f"'num_frames' {checks.show(declared)} should be an integer >= the {len(names)} listed frames")
            if declared is not None:
                checks.frame_count(declared, where, "'num_frames'")
            checks.fps(v.get("fps"), where)
            if isinstance(v.get("media"), str) and v["media"]:
                rel = v["media"]
                kind = str(v.get("media_kind") or "frames")
                expect(kind in ("video", "frames"), where, f"unknown media_kind {checks.show(kind)}")
            else:
                rel = os.path.dirname(names[0]) or "."
                kind = "frames"
            media_path = Path(rel) if os.path.isabs(rel) else root / rel
            idx, folder_frames = self._frame_indices(v, names, media_path if kind == "frames" else None, where)
            n_frames = int(declared) if declared is not None else folder_frames or (max(idx) + 1)
            checks.frame_count(n_frames, where, "the frame count")  # names like 999999999999.jpg
            expect(all(0 <= f < n_frames for f in idx), where,
                   f"frame {max(idx)} is beyond the video's {n_frames} frames"
                   + ("" if declared is not None else " (the file gives no 'num_frames')"))
            pi = PlannedItem(path=str(media_path), kind=kind, width=int(v["width"]), height=int(v["height"]),
                             num_frames=n_frames, fps=float(v.get("fps") or 0.0))
            attach_or_check(project, pi, media_path, f"{where} ({rel})", require_media,
                            rel if isinstance(v.get("media"), str) and v["media"] else None)
            plan.items.append(pi)
            videos[int(v["id"])] = (pi, [int(f) for f in idx])

        for i, a in enumerate(doc["annotations"]):
            where = f"{w}: annotations[{i}]"
            expect_type(a, dict, where, "an annotation")
            expect(is_int(a.get("video_id")) and int(a["video_id"]) in videos, where,
                   f"video_id {checks.show(a.get('video_id'))} is not in 'videos'")
            expect(is_int(a.get("category_id")), where, "'category_id' should be an integer")
            expect(int(a["category_id"]) in cats, where,
                   f"unknown category_id {a['category_id']} (not in 'categories')")
            pi, idx = videos[int(a["video_id"])]
            segs = expect_type(a.get("segmentations"), list, where, "'segmentations'")
            expect(len(segs) == len(idx), where,
                   f"{len(segs)} segmentations for a video of {len(idx)} listed frames")
            cat = cats[int(a["category_id"])]
            tid = a.get("track_id")
            if tid is not None:
                checks.object_id(tid, where, "'track_id'")
            attrs = dict(checks.storable(a["attributes"], where, "'attributes'")) if isinstance(
                a.get("attributes"), dict) else {}
            if a.get("iscrowd"):
                attrs["iscrowd"] = 1
            pt = PlannedTrack(category=None if cat.get(UNCATEGORISED) else cat["name"].strip(),
                              obj_id=int(tid) if tid is not None else None, attributes=attrs)
            for t, seg in enumerate(segs):
                if seg is None:
                    continue
                r = _segmentation_rle(seg, pi.height, pi.width, f"{where}.segmentations[{t}]", plan.summary)
                if not _rle.is_empty(r):
                    pt.masks[idx[t]] = r
            if pt.masks:
                pi.tracks.append(pt)
        for c in cats.values():
            if not c.get(UNCATEGORISED):
                plan.want_category(c["name"].strip(), str(c.get("supercategory") or ""),
                                   c.get("color") if _is_color(c.get("color")) else None, int(c["id"]))
        return plan


FORMAT = YtvisFormat()
