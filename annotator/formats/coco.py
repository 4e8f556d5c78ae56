"""COCO instance segmentation JSON (one file for the whole project).

Export: one image entry per image item and one per *annotated* frame of a video (a frame where
any object has a mask), with the extra keys `media`, `media_kind`, `num_frames`, `fps` and
`frame_index` so the frames can be regrouped into their video on import; pycocotools ignores
them. Annotations carry `track_id` (the object id) so a video object keeps its identity.
Ids start at 1 (COCOeval treats id 0 as unmatched); `area`/`bbox` come from the mask.

Import: plain COCO files (each annotation becomes one object of its image) and our own exports
(video frames regrouped, objects rebuilt from `track_id`). Images that are not on disk are an
error by default (a wrong image_root would otherwise add hundreds of broken items); with
require_media=false they become media items marked missing, to relink later.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from annotator import __version__
from annotator.core import rle as _rle
from annotator.errors import FormatError
from annotator.formats import base, checks
from annotator.formats.base import (
    UNCAT_OPTION,
    UNCATEGORISED,
    Format,
    ImportPlan,
    Options,
    PlannedItem,
    PlannedTrack,
    apply_plan,
    category_table,
    check_rle,
    expect,
    expect_type,
    find_item,
    is_int,
    read_json,
    select_items,
)
from annotator.formats.export_paths import NameSet, portable_ref
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.frame_files import FRAME_OPTIONS, FrameFiles, frame_stem, media_hint
from annotator.formats.polygons import has_holes, mask_to_polygons
from annotator.formats.summary import Summary


def segmentation_of(r: dict, mode: str, tolerance: float):
    if mode == "rle":
        return {"size": list(r["size"]), "counts": r["counts"]}
    return mask_to_polygons(_rle.decode(r), tolerance)


class CocoFormat(Format):
    name = "coco"
    description = "COCO instance segmentation JSON (images; video frames as images)"
    extensions = (".json",)
    export_options = {
        "segmentation": "rle (default, exact) or polygon",
        "tolerance": "polygon simplification in pixels; 0 (default) keeps pixel-exact outlines "
                     "(holes are lost in polygon mode)",
        "empty_images": "false (default): leave out photos nobody annotated or reviewed (a listed image without "
                        "annotations says 'nothing here'); true: list them too",
        "indent": "JSON indentation (default none: compact)",
        "frames": ABSENT_OPTION[1],
        "uncategorised": UNCAT_OPTION,
        **FRAME_OPTIONS,
    }
    import_options = {
        "image_root": "folder that file_name is relative to (default: the JSON file's folder)",
        "require_media": "true (default): refuse images that are not on disk; false: import them as missing media "
                         "(relink later)",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> Summary:
        """Writes <out> and, for frames not already on disk as images under image_root,
        <out folder>/images/<video>/<frame>.jpg (file_name relative to image_root, default
        the JSON's folder)."""
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        mode = o.choice("segmentation", "rle", ("rle", "polygon", "polygons"))
        mode = "polygon" if mode == "polygons" else mode
        tol = o.float("tolerance", 0.0, minimum=0.0)
        empty_images = o.bool("empty_images", False)
        indent = o.int("indent", None, minimum=0)
        rule = o.choice("frames", "annotated", CHOICES)
        if out.is_dir():
            raise FormatError(f"{out}: is a folder; give the JSON file to write")
        base_dir = out.parent if str(out.parent) else Path(".")
        root = o.path("image_root", must_exist=False) or base_dir
        summary = Summary()
        files = FrameFiles(str(out), o, base_dir / "images", root)
        dirs = NameSet()

        cats, cat_map = category_table(project, o.str("uncategorised"), summary)
        images, anns = [], []
        for item in select_items(project, item_ids, str(out)):
            tracks = project.tracks(item.id)
            by_frame: dict[int, list] = {}
            masks_by_track: dict[int, dict] = {}
            for t in tracks:
                for m in project.masks(track_id=t.id):
                    by_frame.setdefault(m.frame, []).append((t, m))
                    masks_by_track.setdefault(t.id, {})[m.frame] = m
            frames = listed_frames(project, item, tracks, masks_by_track, rule, summary)
            if item.kind == "image" and not frames:
                if empty_images:
                    frames = [0]
                else:
                    summary.note("photos nobody annotated or reviewed left out (empty_images=false)", item.name)
            if not frames:
                continue
            names = base.frame_names(item) if item.kind == "frames" else None
            media = media_hint(item, root)
            vdir = dirs.take(Path(item.name).stem if item.kind != "frames" else item.name, f"item{item.id}")
            for f in frames:
                img_id = len(images) + 1
                entry = {"id": img_id, "width": item.width, "height": item.height}
                if item.kind == "image":
                    entry["file_name"] = files.ref(item, 0, (vdir,))
                    if portable_ref(Path(item.abspath), root) != entry["file_name"]:
                        entry["media"] = media  # a copy: the original photo (ours; readers ignore it)
                else:
                    entry["file_name"] = files.ref(item, f, (vdir, frame_stem(item, f, names)), names)
                    entry.update({"media": media, "media_kind": item.kind, "num_frames": item.num_frames,
                                  "fps": item.fps, "frame_index": f})
                images.append(entry)
                for t, m in sorted(by_frame.get(f, []), key=lambda tm: tm[0].obj_id):
                    area = m.area
                    if area == 0:
                        continue  # an empty mask marks "absent": the image lists no annotation for it
                    if t.category_id not in cat_map:
                        continue  # uncategorised=skip (counted by category_table)
                    seg = segmentation_of(m.rle, mode, tol)
                    bbox = m.bbox
                    if mode == "polygon":
                        if not seg:
                            summary.note("masks with no polygon outline skipped", f"{item.name} frame {f}")
                            continue
                        if has_holes(m.mask()):
                            summary.note("masks whose holes polygons cannot hold (filled)",
                                         f"{item.name} frame {f} object {t.obj_id}")
                        # area/bbox describe what the polygons cover (holes filled), as COCO expects
                        drawn = _rle.from_polygons(seg, item.height, item.width)
                        area, bbox = _rle.area(drawn), _rle.bbox(drawn)
                    ann = {"id": len(anns) + 1, "image_id": img_id, "category_id": cat_map[t.category_id],
                           "segmentation": seg, "area": float(area), "bbox": bbox,
                           "iscrowd": 1 if t.attributes.get("iscrowd") else 0, "track_id": t.obj_id}
                    if m.score is not None:
                        ann["score"] = m.score
                    extra = {k: v for k, v in t.attributes.items() if k != "iscrowd"}
                    if extra:
                        ann["attributes"] = extra
                    anns.append(ann)
        doc = {
            "info": {"description": f"exported from {Path(project.path).name}",
                     "version": "1.0", "contributor": f"annotator {__version__}",
                     "date_created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": cats,
        }
        files.save(out, doc, summary, indent)
        summary.fact(f"{len(images)} images, {len(anns)} annotations")
        return summary

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        root = o.path("image_root") or path.parent
        require = o.bool("require_media", True)
        doc = read_json(path)
        plan = self.plan(project, doc, path, root, require)
        return apply_plan(project, plan, f"Import COCO {path.name}")

    def plan(self, project, doc, path: Path, root: Path, require_media: bool) -> ImportPlan:
        w = str(path)
        cats = base.coco_style_header(doc, w, ("images", "annotations", "categories"))

        images: dict[int, dict] = {}
        for i, im in enumerate(doc["images"]):
            where = f"{w}: images[{i}]"
            expect_type(im, dict, where, "an image")
            expect(is_int(im.get("id")), where, "'id' should be an integer")
            expect(int(im["id"]) not in images, where, f"duplicate image id {im['id']}")
            expect(isinstance(im.get("file_name"), str) and im["file_name"] != "", where,
                   "'file_name' should be a non-empty string")
            for k in ("width", "height"):
                expect(is_int(im.get(k)) and int(im[k]) > 0, where, f"'{k}' should be a positive integer")
            checks.media_size(im["width"], im["height"], where)
            if "frame_index" in im:
                expect(is_int(im["frame_index"]) and int(im["frame_index"]) >= 0, where,
                       "'frame_index' should be a non-negative integer")
                expect(isinstance(im.get("media"), str), where, "'media' should be a string")
                expect(is_int(im.get("num_frames")) and int(im["num_frames"]) > int(im["frame_index"]), where,
                       "'num_frames' should be an integer above frame_index")
                checks.frame_index(im["frame_index"], where, checks.frame_count(im["num_frames"], where,
                                                                                "'num_frames'"))
                checks.fps(im.get("fps"), where)
            images[int(im["id"])] = im

        plan = ImportPlan(path)
        # media key -> PlannedItem; image id -> (PlannedItem, frame)
        items: dict[str, PlannedItem] = {}
        where_img: dict[int, tuple[PlannedItem, int]] = {}
        for img_id, im in images.items():
            video = "frame_index" in im
            rel = im["media"] if video else im["file_name"]
            media_path = Path(rel) if os.path.isabs(rel) else root / rel
            key = os.path.normcase(os.path.abspath(media_path))
            pi = items.get(key)
            wh = (int(im["width"]), int(im["height"]))
            if pi is None:
                kind = (str(im.get("media_kind") or "video")) if video else "image"
                if video:
                    expect(kind in ("video", "frames"), f"{w}: image {img_id}", f"unknown media_kind {checks.show(kind)}")
                nframes = int(im["num_frames"]) if video else 1
                fps = float(im.get("fps") or 0.0) if video else 0.0
                pi = PlannedItem(path=str(media_path), kind=kind, width=wh[0], height=wh[1],
                                 num_frames=nframes, fps=fps)
                hint = im.get("media") if isinstance(im.get("media"), str) and im.get("media") else None
                attach_or_check(project, pi, media_path, f"{w}: image {img_id} ({rel})", require_media, hint)
                items[key] = pi
                plan.items.append(pi)
            else:
                expect((pi.width, pi.height) == wh, f"{w}: image {img_id}",
                       f"size {wh[0]}x{wh[1]} differs from other frames of {rel} ({pi.width}x{pi.height})")
            where_img[img_id] = (pi, int(im["frame_index"]) if video else 0)

        tracks: dict[tuple[int, object], PlannedTrack] = {}
        for i, a in enumerate(doc["annotations"]):
            where = f"{w}: annotations[{i}]"
            expect_type(a, dict, where, "an annotation")
            expect(is_int(a.get("image_id")), where, "'image_id' should be an integer")
            expect(int(a["image_id"]) in images, where, f"image_id {a['image_id']} is not in 'images'")
            expect(is_int(a.get("category_id")), where, "'category_id' should be an integer")
            expect(int(a["category_id"]) in cats, where,
                   f"unknown category_id {a['category_id']} (not in 'categories')")
            expect("segmentation" in a, where, "missing 'segmentation'")
            pi, frame = where_img[int(a["image_id"])]
            r = _segmentation_rle(a["segmentation"], pi.height, pi.width, where + ".segmentation", plan.summary)
            if _rle.is_empty(r):
                plan.summary.note("annotations with an empty mask skipped", f"annotations[{i}]")
                continue
            score = a.get("score")
            if score is not None:
                checks.finite_number(score, where, "'score'")
            cat = cats[int(a["category_id"])]
            tid = a.get("track_id")
            if tid is not None:
                checks.object_id(tid, where, "'track_id'")
            # Video frames with a track id belong to one object; everything else is its own object.
            key = (id(pi), ("t", int(tid), int(a["category_id"])) if tid is not None and pi.kind != "image"
                   else ("a", i))
            pt = tracks.get(key)
            if pt is None:
                attrs = dict(checks.storable(a["attributes"], where, "'attributes'")) if isinstance(
                    a.get("attributes"), dict) else {}
                if a.get("iscrowd"):
                    attrs["iscrowd"] = 1
                pt = PlannedTrack(category=None if cat.get(UNCATEGORISED) else cat["name"].strip(),
                                  obj_id=int(tid) if tid is not None else None, attributes=attrs)
                tracks[key] = pt
                pi.tracks.append(pt)
            expect(frame not in pt.masks, where, f"second mask for object {tid} on frame {frame}")
            pt.masks[frame] = r
            if score is not None:
                pt.scores[frame] = float(score)
        # categories that no annotation uses are still part of the dataset
        for c in cats.values():
            if c.get(UNCATEGORISED):
                continue
            plan.want_category(c["name"].strip(), str(c.get("supercategory") or ""),
                               c.get("color") if _is_color(c.get("color")) else None, int(c["id"]))
        return plan


def _is_color(c) -> bool:
    return isinstance(c, list) and len(c) == 3 and all(is_int(v) and 0 <= v <= 255 for v in c)


def _segmentation_rle(seg, h: int, w: int, where: str, summary=None) -> dict:
    if isinstance(seg, dict):
        return check_rle(seg, h, w, where)
    if isinstance(seg, list):
        # finite, near the frame, vertex and outline counts bounded; fewer than 3 points has no
        # area (and 4 numbers would read as a box to pycocotools), so those are dropped, and counted
        polys = checks.polygons(seg, w, h, where)
        if summary is not None:
            for k, poly in enumerate(seg):
                if len(poly) < 6:
                    summary.note("polygon parts with fewer than 3 points skipped (no area)",
                                 f"{where}[{k}]".rsplit(": ", 1)[-1])
        return _rle.from_polygons(polys, h, w)
    raise FormatError(f"{where}: should be polygons (a list) or an RLE dict, "
                      f"got {type(seg).__name__}")


def attach_or_check(project, pi: PlannedItem, media_path: Path, where: str, require_media: bool,
                    hint: str | None = None) -> None:
    """Reuse a matching project item, or check the file on disk agrees with the annotations.
    (Shared by the importers.) `hint` is the media key of our own exports (a relative path or
    just the original's name): a project item of that name and size is preferred to the file
    on disk, which may be the copy the export wrote."""
    existing = find_item(project, media_path)
    if existing is None and (hint or not media_path.exists()):
        # the dataset moved (or this is our copy): an item of the same file name and size is the same media
        name = Path(str(hint).replace("\\", "/")).name if hint else media_path.name
        existing = find_item(project, None, name, (pi.width, pi.height))
    if existing is not None:
        if (existing.width, existing.height) != (pi.width, pi.height):
            raise FormatError(f"{where}: annotated as {pi.width}x{pi.height} but project item "
                              f"#{existing.id} is {existing.width}x{existing.height}")
        if existing.kind == pi.kind or {existing.kind, pi.kind} <= {"video", "frames"}:
            if existing.num_frames != pi.num_frames:
                raise FormatError(f"{where}: annotated with {pi.num_frames} frames but project item "
                                  f"#{existing.id} has {existing.num_frames}")
            pi.existing_id = existing.id
            pi.kind, pi.num_frames = existing.kind, existing.num_frames
            return
    if not media_path.exists():
        if require_media:
            raise FormatError(f"{where}: media file {media_path} does not exist (set image_root, or "
                              "require_media=false to import it as missing media)")
        return
    from annotator.errors import MediaError
    from annotator.media import image_size, probe

    try:
        if pi.kind == "image":
            w, h = image_size(media_path)
            n = 1
        else:
            info = probe(media_path)
            w, h, n = info.width, info.height, info.num_frames
            pi.kind = info.kind
            pi.fps = info.fps or pi.fps
    except MediaError as e:
        raise FormatError(f"{where}: {e}") from None
    if (w, h) != (pi.width, pi.height):
        raise FormatError(f"{where}: annotated as {pi.width}x{pi.height} but {media_path.name} is {w}x{h}")
    if pi.kind != "image" and n != pi.num_frames:
        raise FormatError(f"{where}: annotated with {pi.num_frames} frames but {media_path.name} has {n}")


FORMAT = CocoFormat()
