"""labelme JSON, shipped as a plugin to prove the plugin mechanism (see
annotator/formats/registry.py): this folder is discovered like any third-party plugin.

Pixel rule: labelme (and PIL, cv2.fillPoly) takes a vertex (x, y) as the CENTRE of pixel x, y
and fills a polygon together with its outline. Export writes outlines through boundary-pixel
centres (formats/polygons.mask_to_centre_polygons), so labelme's own rasteriser gives back our
pixels exactly (holes are filled; shapes=mask keeps them). Import draws every shape the way
labelme's shape_to_mask does: polygon and oriented_rectangle filled with their outline,
rectangle from its sorted corners, circle of radius |rim - centre|, line and linestrip
line_width (10) pixels wide, point a disc of radius point_size (5), mask shapes placed at their
rounded first point. Unknown shape types are skipped; every skipped or converted shape is
counted in the summary with the first few named.

Export: one labelme JSON per image (`<out>/<image stem>.json`) and per listed video frame
(`<out>/<video>/<frame>.json`), each beside its image (written when it is not on disk there).
Each object becomes polygon shapes sharing its `group_id` (labelme unions shapes with the same
label and group_id into one instance). Video frames carry an extra top-level `annotator` key
(labelme keeps unknown keys) so they import back onto their video.

Import: a JSON file or a folder of them. Images must be on disk unless require_media=false
(then they become missing media items, to relink later).
"""
from __future__ import annotations

import base64
import io
import logging
import math
import os
from pathlib import Path

import numpy as np

from annotator.core import rle as _rle
from annotator.errors import FormatError
from annotator.formats import checks
from annotator.formats.base import (
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
from annotator.formats.export_paths import NameSet, inside, portable_ref
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.frame_files import FRAME_OPTIONS, FrameFiles, frame_stem, media_hint
from annotator.formats.summary import Summary
from annotator.formats.polygons import has_holes, mask_to_centre_polygons

log = logging.getLogger(__name__)

LABELME_VERSION = "5.5.0"
EXT_KEY = "annotator"
THIN_SHAPES = ("line", "linestrip", "point")


def _png_b64(patch: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(patch.astype(np.uint8)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _png_from_b64(data: str, where: str, max_w: int, max_h: int) -> np.ndarray:
    from PIL import Image

    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            # the header's size first: a patch is a crop of the frame, never larger (no bomb)
            if img.size[0] > max_w or img.size[1] > max_h:
                raise FormatError(f"{where}: 'mask' is {img.size[0]}x{img.size[1]}, larger than the "
                                  f"{max_w}x{max_h} image")
            return np.asarray(img.convert("L")) > 0
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(f"{where}: 'mask' is not a base64 PNG ({type(e).__name__})") from None


class LabelmeFormat(Format):
    name = "labelme"
    description = "labelme JSON, one file per image / annotated video frame (polygons or mask shapes)"
    # A folder both ways (one JSON per image); an import may also name a single .json file.
    extensions = ()
    export_options = {
        "shapes": "polygon (default: pixel-centre polygons that labelme fills back to the same pixels; holes are "
                  "lost) or mask (labelme mask shapes, exact)",
        "tolerance": "polygon simplification in pixels; 0 (default) keeps pixel-exact outlines",
        "frames": ABSENT_OPTION[1],
        "uncategorised": "label for objects without a category (default 'object') or skip; counted in the summary",
        **{k: v for k, v in FRAME_OPTIONS.items() if k != "image_root"},  # imagePath is beside its JSON
    }
    import_options = {
        "require_media": "true (default): refuse JSON files whose image is not on disk; false: import them as "
                         "missing media (relink later)",
        "thin_shapes": "draw (default: line, linestrip and point shapes become masks as labelme draws them) or "
                       "skip; counted in the summary either way",
        "line_width": "pixel width of line/linestrip shapes (labelme's default 10)",
        "point_size": "radius of point shapes (labelme's default 5)",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> Summary:
        """<out>/<image>.json beside <out>/<image>.<ext>, and <out>/<video>/<frame>.json beside
        <out>/<video>/<frame>.jpg: imagePath is the image's name, next to its JSON, as labelme
        opens it. Frames listed: formats/frame_choice.py."""
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        shapes_mode = o.choice("shapes", "polygon", ("polygon", "mask"))
        tol = o.float("tolerance", 0.0, minimum=0.0)
        rule = o.choice("frames", "annotated", CHOICES)
        uncat = (o.str("uncategorised") or "object").strip() or "object"
        if out.suffix.lower() == ".json":
            raise FormatError(f"{out}: labelme writes one JSON per image; give a folder")
        summary = Summary()
        files = FrameFiles(str(out), o, out, out)
        items = select_items(project, item_ids, str(out))
        cats = {c.id: c.name for c in project.categories()}
        loose = [t for it in items for t in project.tracks(it.id) if t.category_id is None]
        if loose:
            what = ("objects without a category left out (uncategorised=skip)" if uncat.lower() == "skip"
                    else f"objects without a category exported with label '{uncat}'")
            summary.note(what, f"item {loose[0].item_id} object {loose[0].obj_id}", n=len(loose))
        docs: list[tuple[str, dict]] = []
        used = NameSet()
        for it in items:
            by_frame: dict[int, list] = {}
            by_track: dict[int, dict] = {}
            tracks = project.tracks(it.id)
            for t in tracks:
                if t.category_id is None and uncat.lower() == "skip":
                    continue
                for m in project.masks(track_id=t.id):
                    by_frame.setdefault(m.frame, []).append((t, m))
                    by_track.setdefault(t.id, {})[m.frame] = m
            stem = Path(it.name).stem if it.kind != "frames" else Path(it.name).name
            if it.kind == "image":
                if not by_frame:
                    continue
                stem = used.take(stem, f"item{it.id}", ".json")
                image = files.ref(it, 0, (stem,), ref_root=out)
                doc = self._doc(image, it, by_frame.get(0, []), cats, shapes_mode, tol, uncat, summary)
                if portable_ref(Path(it.abspath), out) != image:  # a copy: name the original, to import onto it
                    doc[EXT_KEY] = {"media": media_hint(it, out), "media_kind": "image"}
                docs.append((f"{stem}.json", doc))
                continue
            frames = listed_frames(project, it, tracks, by_track, rule, summary)
            if not frames:
                continue
            stem = used.take(stem, f"item{it.id}")
            names = frame_names(it)
            for f in frames:
                fstem = frame_stem(it, f, names)
                image = files.ref(it, f, (stem, fstem), names, ref_root=out / stem)
                doc = self._doc(image, it, by_frame.get(f, []), cats, shapes_mode, tol, uncat, summary)
                doc[EXT_KEY] = {"media": media_hint(it, out / stem), "media_kind": it.kind,
                                "num_frames": it.num_frames, "fps": it.fps, "frame_index": f}
                docs.append((f"{stem}/{fstem}.json", doc))
        if not docs:
            raise FormatError(f"{out}: no annotated images or frames in the selection")
        with AtomicFolder(out) as tmp:
            files.write(tmp, summary)
            files.note(summary)
            for rel, doc in docs:
                atomic_write_json(inside(tmp, *rel.split("/")), doc, indent=2)
        summary.fact(f"{len(docs)} labelme JSON files")
        return summary

    def _doc(self, image_path: str, item, pairs, cats, mode: str, tol: float, uncat: str = "object",
             summary=None) -> dict:
        shapes = []
        for t, m in sorted(pairs, key=lambda tm: tm[0].obj_id):
            mask = m.mask()
            if not mask.any():
                continue
            label = cats.get(t.category_id, uncat)
            common = {"label": label, "group_id": t.obj_id, "description": "", "flags": {}}
            if mode == "mask":
                ys, xs = np.nonzero(mask)
                y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
                shapes.append({**common, "shape_type": "mask", "points": [[x0, y0], [x1, y1]],
                               "mask": _png_b64(mask[y0:y1 + 1, x0:x1 + 1])})
            else:
                if has_holes(mask) and summary is not None:
                    summary.note("masks whose holes polygons cannot hold (filled; shapes=mask keeps them)",
                                 f"{item.name} object {t.obj_id}")
                for poly in mask_to_centre_polygons(mask, tol):
                    pts = [[poly[i], poly[i + 1]] for i in range(0, len(poly), 2)]
                    shapes.append({**common, "shape_type": "polygon", "points": pts, "mask": None})
        return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_path,
                "imageData": None, "imageHeight": item.height, "imageWidth": item.width}

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        require = o.bool("require_media", True)
        draw_opts = {"thin": o.choice("thin_shapes", "draw", ("draw", "skip")),
                     "line_width": o.int("line_width", 10, minimum=1), "point_size": o.int("point_size", 5, minimum=0)}
        if not path.exists():
            raise FormatError(f"{path}: not found")
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        if not files:
            raise FormatError(f"{path}: no labelme .json files in folder")
        plan = ImportPlan(path)
        items: dict[str, PlannedItem] = {}
        for f in files:
            self._plan_file(project, f, plan, items, require, draw_opts)
        return apply_plan(project, plan, f"Import labelme {path.name}")

    def _plan_file(self, project, path: Path, plan: ImportPlan, items: dict, require: bool, draw_opts: dict) -> None:
        w = str(path)
        doc = read_json(path)
        expect_type(doc, dict, w, "the top level")
        shapes = expect_type(doc.get("shapes"), list, w, "'shapes'")
        ext = doc.get(EXT_KEY) if isinstance(doc.get(EXT_KEY), dict) else None
        hint = None
        if ext is not None and ext.get("media_kind") == "image":  # our copy of a photo: its original
            hint = ext.get("media") if isinstance(ext.get("media"), str) else None
            ext = None
        h, wd = doc.get("imageHeight"), doc.get("imageWidth")
        expect((h is None or (is_int(h) and h > 0)) and (wd is None or (is_int(wd) and wd > 0)), w,
               "imageHeight/imageWidth should be positive integers")
        if ext is not None:
            expect(isinstance(ext.get("media"), str) and is_int(ext.get("frame_index"))
                   and is_int(ext.get("num_frames")) and 0 <= int(ext["frame_index"]) < int(ext["num_frames"]), w,
                   f"malformed '{EXT_KEY}' entry")
            rel, kind, frame = ext["media"], str(ext.get("media_kind") or "video"), int(ext["frame_index"])
            expect(kind in ("video", "frames"), w, f"unknown media_kind {checks.show(kind)}")
            n_frames = checks.frame_count(ext["num_frames"], w, f"'{EXT_KEY}.num_frames'")
            fps = checks.fps(ext.get("fps"), w)
        else:
            rel = doc.get("imagePath")
            expect(isinstance(rel, str) and rel != "", w, "'imagePath' should be a non-empty string")
            rel = rel.replace("\\", "/")
            kind, frame, n_frames, fps = "image", 0, 1, 0.0
        media_path = Path(rel) if os.path.isabs(rel) else path.parent / rel
        key = os.path.normcase(os.path.abspath(media_path))
        pi = items.get(key)
        if pi is None:
            if h is None or wd is None:
                from annotator.errors import MediaError
                from annotator.media import image_size

                expect(media_path.exists() and kind == "image", w,
                       f"no imageHeight/imageWidth and the image {rel} is not on disk")
                try:
                    wd, h = image_size(media_path)
                except MediaError as e:
                    raise FormatError(f"{w}: {e}") from None
            checks.media_size(wd, h, w)
            pi = PlannedItem(path=str(media_path), kind=kind, width=int(wd), height=int(h),
                             num_frames=n_frames, fps=fps)
            if ext is not None and isinstance(ext.get("media"), str):
                hint = ext["media"]
            attach_or_check(project, pi, media_path, f"{w} ({rel})", require, hint)
            items[key] = pi
            plan.items.append(pi)
        else:
            expect(h is None or (int(wd), int(h)) == (pi.width, pi.height), w,
                   f"image size {wd}x{h} differs from other frames of {rel} ({pi.width}x{pi.height})")
        H, W = pi.height, pi.width

        groups: dict[tuple, dict] = {}
        for i, s in enumerate(shapes):
            sw = f"{w}: shapes[{i}]"
            expect_type(s, dict, sw, "a shape")
            label = s.get("label")
            expect(isinstance(label, str) and label.strip() != "", sw, "'label' should be a non-empty string")
            stype = s.get("shape_type") or "polygon"
            expect(isinstance(stype, str), sw, "'shape_type' should be a string")
            pts = s.get("points")
            expect(isinstance(pts, list) and all(
                isinstance(p, (list, tuple)) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
                for p in pts), sw, "'points' should be a list of [x, y] numbers")
            # finite and near the frame: bounds what rasterising a polygon or circle costs
            checks.coordinates([v for p in pts for v in p], W, H, sw, "'points'")
            gid = s.get("group_id")
            expect(gid is None or (is_int(gid) and abs(int(gid)) <= checks.MAX_OBJECT_ID), sw,
                   "'group_id' should be an integer or null")
            if stype in THIN_SHAPES and draw_opts["thin"] == "skip":
                plan.summary.note(f"labelme {stype} shapes skipped (thin_shapes=skip)", f"{path.name} shapes[{i}]")
                continue
            m = self._shape_mask(stype, pts, s, H, W, sw, draw_opts)
            if m is None:
                plan.summary.note(f"labelme shapes of unknown type {stype!r} skipped", f"{path.name} shapes[{i}]")
                continue
            if stype in THIN_SHAPES:
                plan.summary.note(f"labelme {stype} shapes drawn as masks the way labelme does "
                                  f"({'radius ' + str(draw_opts['point_size']) if stype == 'point' else str(draw_opts['line_width']) + ' px wide'})",
                                  f"{path.name} shapes[{i}]")
            key = (label.strip(), int(gid)) if gid is not None else (label.strip(), "shape", i)
            # one RLE per shape, united at the end: memory follows the outlines, not shapes x frame
            g = groups.setdefault(key, {"rles": [], "gid": gid})
            g["rles"].append(_rle.encode(m))
            del m
        for (label, *_), g in groups.items():
            r = _rle.union(g["rles"])
            if _rle.is_empty(r):
                continue
            obj = int(g["gid"]) if g["gid"] is not None and int(g["gid"]) > 0 else None
            existing = next((t for t in pi.tracks if ext is not None and t.category == label and
                             t.obj_id == obj and obj is not None), None)
            if existing is not None:  # the same object on another frame of this video
                expect(frame not in existing.masks, w, f"object {label}/{obj} appears twice on frame {frame}")
                existing.masks[frame] = r
                continue
            pt = PlannedTrack(category=label, obj_id=obj)
            pt.masks[frame] = r
            pi.tracks.append(pt)
            plan.want_category(label)

    @staticmethod
    def _shape_mask(stype: str, pts, s: dict, H: int, W: int, where: str, draw_opts: dict) -> np.ndarray | None:
        """The shape's pixels as labelme draws them (module docstring); None: not a shape we draw."""
        from PIL import Image, ImageDraw

        if stype == "mask":
            expect(len(pts) == 2, where, "a mask shape needs exactly 2 points (its box corners)")
            expect(isinstance(s.get("mask"), str), where, "a mask shape needs a base64 'mask'")
            patch = _png_from_b64(s["mask"], where, W, H)
            x0, y0 = (int(round(float(v))) for v in pts[0])  # labelme: the first point, rounded
            full = np.zeros((H, W), bool)
            ys, xs = max(0, y0), max(0, x0)
            ye, xe = min(H, y0 + patch.shape[0]), min(W, x0 + patch.shape[1])
            if ye > ys and xe > xs:
                full[ys:ye, xs:xe] = patch[ys - y0:ye - y0, xs - x0:xe - x0]
            return full
        need = {"polygon": (3, None), "oriented_rectangle": (4, 4), "rectangle": (2, 2), "circle": (2, 2),
                "line": (2, 2), "linestrip": (2, None), "point": (1, 1)}
        if stype not in need:
            return None
        lo, hi = need[stype]
        expect(len(pts) >= lo and (hi is None or len(pts) <= hi), where,
               f"a {stype} needs {lo if lo == hi else f'at least {lo}'} point{'s' if lo > 1 else ''}, "
               f"got {len(pts)}")
        xy = [(float(x), float(y)) for x, y in pts]
        img = Image.new("L", (W, H), 0)
        d = ImageDraw.Draw(img)
        if stype in ("polygon", "oriented_rectangle"):
            d.polygon(xy, outline=1, fill=1)
        elif stype == "rectangle":
            (x0, y0), (x1, y1) = xy
            d.rectangle(((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), outline=1, fill=1)
        elif stype in ("circle", "point"):
            (cx, cy) = xy[0]
            r = math.hypot(xy[1][0] - cx, xy[1][1] - cy) if stype == "circle" else draw_opts["point_size"]
            d.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
        elif stype == "line":
            d.line(xy, fill=1, width=draw_opts["line_width"])
        else:  # linestrip: rounded joints, as labelme draws it
            d.line(xy, fill=1, width=draw_opts["line_width"], joint="curve")
        return np.asarray(img, bool)


FORMAT = LabelmeFormat()
