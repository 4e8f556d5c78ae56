"""labelme JSON, shipped as a plugin to prove the plugin mechanism (see
annotator/formats/registry.py): this folder is discovered like any third-party plugin.

Export: one labelme JSON per image (`<out>/<image stem>.json`) and per annotated video frame
(`<out>/<video>/<frame>.json`). Each object becomes polygon shapes sharing its `group_id`
(labelme unions shapes with the same label and group_id into one instance); polygons follow
pixel edges, so they rasterise back to the same pixels unless the mask has holes. With
shapes=mask each object is one labelme `mask` shape instead (exact, holes included).
Video frames carry an extra top-level `annotator` key (labelme keeps unknown keys) so they
import back onto their video.

Import: a JSON file or a folder of them. Images must be on disk unless require_media=false
(then they become missing media items, to relink later). Polygon, rectangle, circle and mask
shapes are read (point/line shapes carry no area and are skipped). Polygons are rasterised with pycocotools (pixel (x, y) covers [x, x+1) x [y, y+1));
labelme itself draws with PIL, which differs by at most one pixel along the outline.
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
    relative_or_absolute,
    select_items,
)
from annotator.formats.coco import attach_or_check
from annotator.formats.polygons import mask_to_polygons

log = logging.getLogger(__name__)

LABELME_VERSION = "5.5.0"
EXT_KEY = "annotator"


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
        "shapes": "polygon (default: pixel-edge polygons, holes are lost) or mask (labelme mask shapes, exact)",
        "tolerance": "polygon simplification in pixels; 0 (default) keeps pixel-exact outlines",
    }
    import_options = {
        "require_media": "true (default): refuse JSON files whose image is not on disk; false: import them as "
                         "missing media (relink later)",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> None:
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        shapes_mode = o.choice("shapes", "polygon", ("polygon", "mask"))
        tol = o.float("tolerance", 0.0, minimum=0.0)
        if out.suffix.lower() == ".json":
            raise FormatError(f"{out}: labelme writes one JSON per image; give a folder")
        items = select_items(project, item_ids, str(out))
        cats = {c.id: c.name for c in project.categories()}
        docs: list[tuple[str, dict]] = []
        used: set[str] = set()
        for it in items:
            by_frame: dict[int, list] = {}
            for t in project.tracks(it.id):
                for m in project.masks(track_id=t.id):
                    by_frame.setdefault(m.frame, []).append((t, m))
            stem = Path(it.name).stem if it.kind != "frames" else Path(it.name).name
            stem = stem if stem not in used else f"{stem}_{it.id}"
            used.add(stem)
            if it.kind == "image":
                if not by_frame:
                    continue
                rel = f"{stem}.json"
                doc = self._doc(relative_or_absolute(it.abspath, out), it, by_frame.get(0, []), cats,
                                shapes_mode, tol)
                docs.append((rel, doc))
                continue
            names = frame_names(it)
            for f in sorted(by_frame):
                fstem = Path(names[f]).stem if names else f"{f:05d}"
                rel = f"{stem}/{fstem}.json"
                if names:
                    image = relative_or_absolute(Path(it.abspath) / names[f], out / stem)
                else:
                    image = f"{fstem}.jpg"  # frames of a video file are not on disk as images
                doc = self._doc(image, it, by_frame[f], cats, shapes_mode, tol)
                doc[EXT_KEY] = {"media": relative_or_absolute(it.abspath, out / stem), "media_kind": it.kind,
                                "num_frames": it.num_frames, "fps": it.fps, "frame_index": f}
                docs.append((rel, doc))
        if not docs:
            raise FormatError(f"{out}: no annotated images or frames in the selection")
        with AtomicFolder(out) as tmp:
            for rel, doc in docs:
                atomic_write_json(tmp / rel, doc, indent=2)

    def _doc(self, image_path: str, item, pairs, cats, mode: str, tol: float) -> dict:
        shapes = []
        for t, m in sorted(pairs, key=lambda tm: tm[0].obj_id):
            mask = m.mask()
            if not mask.any():
                continue
            label = cats.get(t.category_id, "object")
            common = {"label": label, "group_id": t.obj_id, "description": "", "flags": {}}
            if mode == "mask":
                ys, xs = np.nonzero(mask)
                y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
                shapes.append({**common, "shape_type": "mask", "points": [[x0, y0], [x1, y1]],
                               "mask": _png_b64(mask[y0:y1 + 1, x0:x1 + 1])})
            else:
                for poly in mask_to_polygons(mask, tol):
                    pts = [[poly[i], poly[i + 1]] for i in range(0, len(poly), 2)]
                    shapes.append({**common, "shape_type": "polygon", "points": pts, "mask": None})
        return {"version": LABELME_VERSION, "flags": {}, "shapes": shapes, "imagePath": image_path,
                "imageData": None, "imageHeight": item.height, "imageWidth": item.width}

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        require = o.bool("require_media", True)
        if not path.exists():
            raise FormatError(f"{path}: not found")
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        if not files:
            raise FormatError(f"{path}: no labelme .json files in folder")
        plan = ImportPlan(path)
        items: dict[str, PlannedItem] = {}
        for f in files:
            self._plan_file(project, f, plan, items, require)
        return apply_plan(project, plan, f"Import labelme {path.name}")

    def _plan_file(self, project, path: Path, plan: ImportPlan, items: dict, require: bool) -> None:
        w = str(path)
        doc = read_json(path)
        expect_type(doc, dict, w, "the top level")
        shapes = expect_type(doc.get("shapes"), list, w, "'shapes'")
        ext = doc.get(EXT_KEY) if isinstance(doc.get(EXT_KEY), dict) else None
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
            attach_or_check(project, pi, media_path, f"{w} ({rel})", require)
            items[key] = pi
            plan.items.append(pi)
        else:
            expect(h is None or (int(wd), int(h)) == (pi.width, pi.height), w,
                   f"image size {wd}x{h} differs from other frames of {rel} ({pi.width}x{pi.height})")
        H, W = pi.height, pi.width

        groups: dict[tuple, dict] = {}
        skipped = 0
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
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
                for p in pts), sw, "'points' should be a list of [x, y] numbers")
            # finite and near the frame: bounds what rasterising a polygon or circle costs
            checks.coordinates([v for p in pts for v in p], W, H, sw, "'points'")
            gid = s.get("group_id")
            expect(gid is None or (is_int(gid) and abs(int(gid)) <= checks.MAX_OBJECT_ID), sw,
                   "'group_id' should be an integer or null")
            m = self._shape_mask(stype, pts, s, H, W, sw)
            if m is None:
                skipped += 1
                continue
            key = (label.strip(), int(gid)) if gid is not None else (label.strip(), "shape", i)
            # one RLE per shape, united at the end: memory follows the outlines, not shapes x frame
            g = groups.setdefault(key, {"rles": [], "gid": gid})
            g["rles"].append(_rle.encode(m))
            del m
        if skipped:
            log.info("%s: %d point/line shapes skipped (no area)", path, skipped)
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
    def _shape_mask(stype: str, pts, s: dict, H: int, W: int, where: str) -> np.ndarray | None:
        if stype == "polygon":
            expect(len(pts) >= 3, where, "a polygon needs at least 3 points")
            flat = [float(v) for p in pts for v in p]
            return _rle.decode(_rle.from_polygons([flat], H, W))
        if stype == "rectangle":
            expect(len(pts) == 2, where, "a rectangle needs exactly 2 points")
            (x1, y1), (x2, y2) = pts
            x1, x2 = sorted((float(x1), float(x2)))
            y1, y2 = sorted((float(y1), float(y2)))
            return _rle.decode(_rle.from_polygons([[x1, y1, x2, y1, x2, y2, x1, y2]], H, W))
        if stype == "circle":
            expect(len(pts) == 2, where, "a circle needs exactly 2 points (centre, point on the rim)")
            (cx, cy), (px, py) = pts
            r = math.hypot(px - cx, py - cy)
            n = max(16, int(2 * math.pi * r))  # about one vertex per pixel of circumference
            ring = [v for k in range(n) for v in (cx + r * math.cos(2 * math.pi * k / n),
                                                  cy + r * math.sin(2 * math.pi * k / n))]
            return _rle.decode(_rle.from_polygons([ring], H, W))
        if stype == "mask":
            expect(len(pts) == 2, where, "a mask shape needs exactly 2 points (its box corners)")
            expect(isinstance(s.get("mask"), str), where, "a mask shape needs a base64 'mask'")
            patch = _png_from_b64(s["mask"], where, W, H)
            x0, y0 = int(math.floor(min(pts[0][0], pts[1][0]))), int(math.floor(min(pts[0][1], pts[1][1])))
            full = np.zeros((H, W), bool)
            ys, xs = max(0, y0), max(0, x0)
            ye, xe = min(H, y0 + patch.shape[0]), min(W, x0 + patch.shape[1])
            if ye > ys and xe > xs:
                full[ys:ye, xs:xe] = patch[ys - y0:ye - y0, xs - x0:xe - x0]
            return full
        return None  # point, line, linestrip, points: no area


FORMAT = LabelmeFormat()
