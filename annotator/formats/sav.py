"""SA-V (Segment Anything Video) per-video JSON: `masklet[annotated_frame][object]` RLEs.

Annotated frame k is video frame k * stride (SA-V: stride 4, i.e. 6 fps of a 24 fps video).
Objects are masklet_id j -> our obj_id j + 1 (obj_id 0 would read as background elsewhere).

Import keeps everything the store does not model, so a file round-trips exactly:
  * top-level fields (video_id, video_environment, ...) and the original key order -> item
    meta["sav"]; per-masklet fields (masklet_type, masklet_edited_frame_count, ...) -> track
    attributes["sav"]; stability scores -> each mask's score;
  * masks are stored with their original RLE strings; absent objects (all-zero RLEs) are not
    stored as masks but written back as zero RLEs on every annotated frame.
Export recomputes every derived statistic (sizes, bucket, visibility changes, first
appearance, counts) from the masks, and writes the stored original value only where it agrees
with the recomputed one (so int-vs-float and rounding of the original file survive, and stale
numbers after an edit do not). A stride other than 4 is recorded as `masklet_stride`.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from annotator.core import rle as _rle
from annotator.core import limits
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
    check_rle,
    expect,
    expect_type,
    find_item,
    is_int,
    read_json,
    select_items,
)
from annotator.formats.export_paths import NameSet, inside, safe_name
from annotator.formats.summary import Summary

log = logging.getLogger(__name__)

SAV_STRIDE = 4
# Fields we derive from the masks (export recomputes them).
_DERIVED_TOP = {"video_frame_count", "video_height", "video_width", "video_resolution", "video_duration",
                "masklet_num"}
_DERIVED_PER = {"masklet_size_rel", "masklet_size_abs", "masklet_size_bucket", "masklet_visibility_changes",
                "masklet_first_appeared_frame", "masklet_frame_count"}
_STRUCTURAL = {"masklet", "masklet_id", "masklet_stability_score", "masklet_stride"}
_ORDER = ["video_id", "video_duration", "video_frame_count", "video_height", "video_width", "video_resolution",
          "video_environment", "video_split", "masklet", "masklet_id", "masklet_size_rel", "masklet_size_abs",
          "masklet_size_bucket", "masklet_visibility_changes", "masklet_first_appeared_frame",
          "masklet_frame_count", "masklet_edited_frame_count", "masklet_type", "masklet_stability_score",
          "masklet_num"]


def _same(stored, computed) -> bool:
    if isinstance(stored, bool) or isinstance(computed, bool):
        return stored == computed
    if isinstance(stored, (int, float)) and isinstance(computed, (int, float)):
        return math.isclose(float(stored), float(computed), rel_tol=1e-7, abs_tol=1e-9)
    return stored == computed


def _prefer(stored, computed):
    """The original value when it says the same as ours (keeps its type and rounding)."""
    return stored if stored is not None and _same(stored, computed) else computed


def _bucket(area: float) -> str:
    # SA-V uses the COCO cut points: small < 32^2 <= medium < 96^2 <= large
    return "small" if area < 32 ** 2 else "medium" if area < 96 ** 2 else "large"


class SavFormat(Format):
    name = "sav"
    description = "SA-V per-video JSON (masklets of COCO RLEs), e.g. sav_000001_manual.json"
    extensions = ("_manual.json", "_auto.json")
    export_options = {
        "stride": "video frames per annotated frame (default: the imported file's, else 1 = every frame; "
                  "SA-V itself uses 4)",
        "indent": "JSON indentation (default none: compact)",
        "layout": "json (default: <video_id>_manual.json) or png (SA-V val/test style "
                  "<out>/<video_id>/<masklet_id:03d>/<frame:05d>.png, 0/255, every annotated frame)",
    }
    import_options = {
        "media": "the video file or frame folder the annotations belong to (default: <video_id>.mp4 beside "
                 "the JSON, JPEGImages_24fps/<video_id> for PNG folders, or a project item of that name; "
                 "missing media is allowed and can be relinked)",
        "stride": "video frames per annotated frame (default: masklet_stride in the file, else 4)",
        "num_frames": "PNG folders only: the video's frame count when its frames are not on disk and no project "
                      "item of that name has it (the PNGs end at the last annotated frame, e.g. 480 of 483)",
    }

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        media = o.path("media", must_exist=True)
        stride = o.int("stride", None, minimum=1)
        n_frames = o.int("num_frames", None, minimum=1)
        if not path.exists():
            raise FormatError(f"{path}: file not found")
        png_videos = _png_video_dirs(path) if path.is_dir() else []
        if png_videos:
            if media is not None and len(png_videos) > 1:
                raise FormatError(f"{path}: option media needs a single video, found {len(png_videos)}")
            plan = ImportPlan(path)
            for vdir in png_videos:
                plan.items.append(self._plan_png_video(project, vdir, media, n_frames, plan.summary))
            return apply_plan(project, plan, f"Import SA-V {path.name}")
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        if not files:
            raise FormatError(f"{path}: no .json files in folder")
        if media is not None and len(files) > 1:
            raise FormatError(f"{path}: option media needs a single JSON file, the folder has {len(files)}")
        plan = ImportPlan(path)
        for f in files:
            plan.items.append(self._plan_file(project, f, media, stride))
        return apply_plan(project, plan, f"Import SA-V {path.name}")

    def _plan_file(self, project, path: Path, media: Path | None, stride_opt: int | None) -> PlannedItem:
        w = str(path)
        doc = read_json(path)
        expect_type(doc, dict, w, "the top level")
        for key in ("masklet", "masklet_id"):
            expect(key in doc, w, f"missing '{key}'")
        masklet = expect_type(doc["masklet"], list, w, "'masklet'")
        ids = expect_type(doc["masklet_id"], list, w, "'masklet_id'")
        expect(all(is_int(i) and int(i) >= 0 for i in ids), w, "'masklet_id' should hold non-negative integers")
        ids = [checks.object_id(int(i) + 1, w, "'masklet_id' + 1") - 1 for i in ids]
        expect(len(set(ids)) == len(ids), w, "'masklet_id' has duplicates")
        n_obj = len(ids)
        stride = stride_opt or doc.get("masklet_stride", SAV_STRIDE)
        expect(is_int(stride) and int(stride) >= 1, w, "'masklet_stride' should be a positive integer")
        stride = int(stride)
        expect(stride <= limits.max_frames(), w, f"'masklet_stride' {stride:,} is over the frame limit")

        def num(key):
            v = doc.get(key)
            if v is None:
                return None
            expect(isinstance(v, (int, float)) and not isinstance(v, bool), w, f"'{key}' should be a number")
            return v

        h, wd = num("video_height"), num("video_width")
        if h is None or wd is None:
            first = next((r for fr in masklet if isinstance(fr, list) for r in fr if isinstance(r, dict)), None)
            expect(first is not None and isinstance(first.get("size"), list) and len(first["size"]) == 2, w,
                   "no video_height/video_width and no RLE to take the size from")
            h, wd = first["size"]
        expect(is_int(h) and is_int(wd) and h > 0 and wd > 0, w, "video_height/video_width should be positive "
               "whole numbers")
        wd, h = checks.media_size(wd, h, w)
        n_frames = num("video_frame_count")
        if n_frames is None:
            n_frames = max(1, (len(masklet) - 1) * stride + 1)
        expect(is_int(n_frames) and n_frames > 0, w, "'video_frame_count' should be a positive whole number")
        n_frames = checks.frame_count(n_frames, w, "'video_frame_count'")
        expect((len(masklet) - 1) * stride < n_frames or not masklet, w,
               f"{len(masklet)} annotated frames at stride {stride} do not fit in {n_frames} video frames")
        duration = num("video_duration")
        fps = checks.fps(n_frames / duration if duration else 0.0, f"{w}: 'video_duration' {checks.show(duration)} gives")
        video_id = doc.get("video_id", path.stem.rsplit("_", 1)[0])
        expect(isinstance(video_id, str) and video_id != "", w, "'video_id' should be a non-empty string")

        # stability scores: SA-V manual files hold [null] * n; auto files a frame-major matrix
        stab = doc.get("masklet_stability_score")
        stab_form = None
        if stab is not None:
            expect_type(stab, list, w, "'masklet_stability_score'")
            if masklet and len(stab) == len(masklet) and all(isinstance(r, list) and len(r) == n_obj for r in stab):
                stab_form = "frame_major"  # auto files: [annotated frame][object]
                for r in stab:
                    expect(all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in r),
                           w, "'masklet_stability_score' entries should be numbers or null")
            else:
                expect(len(stab) == n_obj, w,
                       f"'masklet_stability_score' has {len(stab)} entries for {n_obj} masklets")
                stab_form = "per_object"  # manual files: [null] * n

        tracks = [PlannedTrack(obj_id=i + 1, attributes={"sav": {"masklet_id": i}}) for i in ids]
        empty_scores: dict[str, float | None] = {}
        for k, frame in enumerate(masklet):
            expect(isinstance(frame, list) and len(frame) == n_obj, w,
                   f"masklet[{k}] should be a list of {n_obj} RLEs (one per masklet_id)")
            for j, r in enumerate(frame):
                checked = check_rle(r, h, wd, f"{w}: masklet[{k}][{j}]")
                score = stab[k][j] if stab_form == "frame_major" else None
                if _rle.is_empty(checked):
                    if stab_form == "frame_major" and score != 1.0:
                        empty_scores[f"{k},{j}"] = score  # the rare empty entry not scored 1.0
                    continue
                tracks[j].masks[k * stride] = checked
                if score is not None:
                    tracks[j].scores[k * stride] = float(score)

        # per-masklet fields: any list with one value per masklet
        for key, val in doc.items():
            if key in _STRUCTURAL or not key.startswith("masklet_") or not isinstance(val, list):
                continue
            expect(len(val) == n_obj, w, f"'{key}' has {len(val)} entries for {n_obj} masklets")
            for j, v in enumerate(val):
                tracks[j].attributes["sav"][key] = checks.storable(v, w, f"'{key}'")
        if stab_form == "per_object":
            for j, v in enumerate(stab):
                tracks[j].attributes["sav"]["masklet_stability_score"] = checks.storable(
                    v, w, "'masklet_stability_score'")

        fields = {k: checks.storable(v, w, f"'{k}'") for k, v in doc.items()
                  if k not in ("masklet", "masklet_id", "masklet_stability_score")
                  and not (k.startswith("masklet_") and isinstance(v, list))}
        meta = {"sav": {"stride": stride, "annotated_frames": len(masklet), "fields": fields,
                        "key_order": list(doc.keys()), "stability": stab_form, "empty_scores": empty_scores,
                        "file_name": path.name}}

        pi = PlannedItem(path="", kind="video", width=wd, height=h, num_frames=n_frames, fps=fps,
                         meta=meta, tracks=[t for t in tracks])
        # video_id comes from the file: one safe name beside it, never a path of its choosing
        media_path = media or path.parent / f"{safe_name(video_id, 'video', 251)}.mp4"
        existing = find_item(project, media_path) if media_path.exists() or media else None
        if existing is None and media is None:
            existing = find_item(project, None, f"{video_id}.mp4", (wd, h)) or \
                find_item(project, None, video_id, (wd, h))
        if existing is not None:
            expect((existing.width, existing.height, existing.num_frames) == (wd, h, n_frames), w,
                   f"video is {wd}x{h} with {n_frames} frames but project item #{existing.id} is "
                   f"{existing.width}x{existing.height} with {existing.num_frames}")
            pi.existing_id = existing.id
            return pi
        pi.path = str(media_path)
        pi.name = media_path.name
        if media_path.exists():
            from annotator.errors import MediaError
            from annotator.media import probe

            try:
                info = probe(media_path)
            except MediaError as e:
                raise FormatError(f"{w}: {e}") from None
            expect((info.width, info.height, info.num_frames) == (wd, h, n_frames), w,
                   f"annotations are for {wd}x{h} with {n_frames} frames but {media_path.name} is "
                   f"{info.width}x{info.height} with {info.num_frames}")
            pi.kind, pi.fps = info.kind, info.fps or fps
        return pi

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> None:
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        stride_opt = o.int("stride", None, minimum=1)
        indent = o.int("indent", None, minimum=0)
        layout = o.choice("layout", "json", ("json", "png"))
        summary = Summary()
        items = []
        for it in select_items(project, item_ids, str(out)):
            if it.kind == "image":
                summary.note("image items skipped (SA-V holds videos only)", it.name)
            elif not project.tracks(it.id):
                summary.note("videos without objects skipped", it.name)
            else:
                items.append(it)
        if not items:
            raise FormatError(f"{out}: no annotated video in the selection (SA-V holds videos only)")
        names = NameSet()
        docs = [(names.take(_strip_json(self._file_name(it)), f"item{it.id}", ".json") + ".json",
                 self.document(project, it, stride_opt, summary)) for it in items]
        for name, doc in docs:
            n_annot, n_obj = len(doc["masklet"]), len(doc["masklet_id"])
            summary.fact(f"{name}: {n_obj} masklets on {n_annot} annotated frames (stride "
                         f"{doc.get('masklet_stride', SAV_STRIDE)})")
        if layout == "png":
            self._write_pngs(out, docs)
            return summary
        if out.suffix.lower() == ".json":
            if len(docs) != 1:
                raise FormatError(f"{out}: {len(docs)} videos need a folder, not one .json file")
            atomic_write_json(out, docs[0][1], indent=indent)
            return summary
        with AtomicFolder(out) as tmp:
            for name, doc in docs:
                atomic_write_json(inside(tmp, name), doc, indent=indent)
        return summary

    @staticmethod
    def _write_pngs(out: Path, docs) -> None:
        from PIL import Image

        if out.suffix:
            raise FormatError(f"{out}: layout=png writes a folder; give a folder name")
        stride_of = lambda d: d.get("masklet_stride", SAV_STRIDE)  # noqa: E731
        videos = NameSet()
        with AtomicFolder(out) as tmp:
            for _, doc in docs:
                vdir = videos.take(doc["video_id"], "video")  # a name from a file: one safe component
                for j, mid in enumerate(doc["masklet_id"]):
                    folder = inside(tmp, vdir, f"{int(mid):03d}")
                    folder.mkdir(parents=True, exist_ok=True)
                    for k, frame in enumerate(doc["masklet"]):
                        m = _rle.decode(frame[j]).astype(np.uint8) * 255
                        Image.fromarray(m, mode="L").save(folder / f"{k * stride_of(doc):05d}.png", compress_level=1)

    def _plan_png_video(self, project, vdir: Path, media: Path | None, n_frames: int | None = None,
                        summary=None) -> PlannedItem:
        from annotator.errors import MediaError
        from annotator.formats.davis import read_png
        from annotator.media import probe

        w = str(vdir)
        vid = vdir.name
        tracks: list[PlannedTrack] = []
        size = None
        all_frames: set[int] = set()
        for odir in sorted((d for d in vdir.iterdir() if d.is_dir() and d.name.isdecimal()), key=lambda d: int(d.name)):
            mid = checks.object_id(int(odir.name) + 1, str(odir), "masklet folder number + 1") - 1
            pt = PlannedTrack(obj_id=mid + 1, attributes={"sav": {"masklet_id": mid}})
            for png in sorted(odir.glob("*.png")):
                expect(png.stem.isdecimal(), str(png), "PNG names should be frame numbers (00000.png)")
                ids = read_png(png)
                size = size or ids.shape
                expect(ids.shape == size, str(png), f"size {ids.shape[1]}x{ids.shape[0]} differs from "
                       f"{size[1]}x{size[0]}")
                f = checks.frame_index(int(png.stem), str(png))
                all_frames.add(f)
                if ids.any():
                    pt.masks[f] = _rle.encode(ids > 0)
            tracks.append(pt)
        expect(size is not None, w, "no object folders with PNG masks")
        h, wd = size
        frames = sorted(all_frames)
        stride = math.gcd(*[b - a for a, b in zip(frames, frames[1:])]) if len(frames) > 1 else SAV_STRIDE
        stride = stride or SAV_STRIDE
        if media is None:
            parts = list(vdir.parts)
            if "Annotations_6fps" in parts:
                parts[len(parts) - 1 - parts[::-1].index("Annotations_6fps")] = "JPEGImages_24fps"
                media = Path(*parts)
            else:
                media = vdir.parent / "JPEGImages_24fps" / vid
        kind, n, fps = "frames", n_frames or frames[-1] + 1, 24.0
        expect(n > frames[-1], w, f"num_frames={n} but masks go up to frame {frames[-1]}")
        existing = find_item(project, media) if media.exists() else None
        if existing is None:  # the same video imported before (from its JSON, or this folder)
            existing = find_item(project, None, f"{vid}.mp4", (wd, h)) or find_item(project, None, vid, (wd, h))
        if existing is not None:
            expect((existing.width, existing.height) == (wd, h) and frames[-1] < existing.num_frames, w,
                   f"does not fit project item #{existing.id}")
            meta = {"sav": {"stride": stride, "annotated_frames": frames[-1] // stride + 1,
                            "fields": {"video_id": vid}}}
            if (existing.meta or {}).get("sav"):
                meta = {}  # keep what the item's own SA-V file recorded
            tracks = [pt for pt in tracks if not _already_there(project, existing.id, pt, vid, summary)]
            return PlannedItem(path=existing.path, kind=existing.kind, width=wd, height=h,
                               num_frames=existing.num_frames, fps=existing.fps, meta=meta, tracks=tracks,
                               existing_id=existing.id)
        if media.exists():
            try:
                info = probe(media)
            except MediaError as e:
                raise FormatError(f"{w}: {e}") from None
            expect((info.width, info.height) == (wd, h) and frames[-1] < info.num_frames, w,
                   f"masks are {wd}x{h} up to frame {frames[-1]} but {media.name} is {info.width}x{info.height} "
                   f"with {info.num_frames} frames")
            kind, n, fps = info.kind, info.num_frames, info.fps or fps
        elif n_frames is None and summary is not None:
            summary.note("videos whose frame count is a guess (frames not on disk: it ends at the last annotated "
                         "frame; option num_frames sets it)", f"{vid}: {n}")
        meta = {"sav": {"stride": stride, "annotated_frames": frames[-1] // stride + 1,
                        "fields": {"video_id": vid}}}
        pi = PlannedItem(path=str(media), kind=kind, width=wd, height=h, num_frames=n, fps=fps, meta=meta,
                         tracks=tracks)
        return pi

    @staticmethod
    def _file_name(item) -> str:
        sav = item.meta.get("sav") or {}
        if sav.get("file_name"):
            return sav["file_name"]
        vid = (sav.get("fields") or {}).get("video_id") or Path(item.name).stem
        return f"{vid}_manual.json"

    def document(self, project, item, stride_opt: int | None = None, summary=None) -> dict:
        sav = item.meta.get("sav") or {}
        fields = dict(sav.get("fields") or {})
        stride = stride_opt or sav.get("stride") or 1
        h, w = item.height, item.width
        n_annot = math.ceil(item.num_frames / stride)
        if sav.get("annotated_frames") and sav.get("stride") == stride:
            n_annot = int(sav["annotated_frames"])
        frames = [k * stride for k in range(n_annot)]

        tracks = sorted(project.tracks(item.id),
                        key=lambda t: (t.attributes.get("sav", {}).get("masklet_id", t.obj_id - 1), t.obj_id))
        tracks = [t for t in tracks if project.mask_frames(t.id)]
        zero = _rle.encode(np.zeros((h, w), bool))
        masklet = [[zero] * len(tracks) for _ in frames]
        areas = np.zeros((len(frames), len(tracks)), np.int64)
        scores: list[list[float | None]] = [[None] * len(tracks) for _ in frames]
        sources = [[None] * len(tracks) for _ in frames]
        off_grid = 0
        for j, t in enumerate(tracks):
            for m in project.masks(track_id=t.id):
                if m.frame % stride or m.frame // stride >= n_annot:
                    off_grid += 1
                    continue
                k = m.frame // stride
                masklet[k][j] = {"size": [h, w], "counts": m.rle["counts"]}
                areas[k, j] = m.area
                scores[k][j] = m.score
                sources[k][j] = m.source
        if off_grid:
            log.warning("%s: %d masks are not on the stride-%d grid and were not exported", item.name,
                        off_grid, stride)
            if summary is not None:
                summary.note("masks off the stride grid not exported", item.name, n=off_grid)
        if summary is not None:
            # SA-V has no "unknown": an annotated frame where an object has no mask is an empty RLE
            blank = sum(1 for k in range(len(frames)) if all(s is None for s in sources[k]))
            summary.note("annotated-grid frames with no mask for any object written as empty (SA-V lists every "
                         "grid frame)", item.name, n=blank)

        attrs = [t.attributes.get("sav", {}) for t in tracks]
        per: dict[str, list] = {}
        per["masklet_id"] = [a.get("masklet_id", t.obj_id - 1) for a, t in zip(attrs, tracks)]
        visible = areas > 0
        abs_, rel, bucket, changes, first, fcount = [], [], [], [], [], []
        for j in range(len(tracks)):
            vis = visible[:, j]
            a = float(areas[vis, j].mean()) if vis.any() else 0.0
            abs_.append(_prefer(attrs[j].get("masklet_size_abs"), a))
            rel.append(_prefer(attrs[j].get("masklet_size_rel"), a / (h * w)))
            bucket.append(_prefer(attrs[j].get("masklet_size_bucket"), _bucket(a)))
            f0 = int(np.argmax(vis)) if vis.any() else 0
            ch = int(np.count_nonzero(vis[f0 + 1:] != vis[f0:-1])) if vis.any() else 0
            changes.append(_prefer(attrs[j].get("masklet_visibility_changes"), ch))
            first.append(_prefer(attrs[j].get("masklet_first_appeared_frame"), f0))
            fcount.append(_prefer(attrs[j].get("masklet_frame_count"), len(frames)))
        per.update({"masklet_size_rel": rel, "masklet_size_abs": abs_, "masklet_size_bucket": bucket,
                    "masklet_visibility_changes": changes, "masklet_first_appeared_frame": first,
                    "masklet_frame_count": fcount})
        edited = []
        for j, a in enumerate(attrs):
            n_manual = sum(1 for k in range(len(frames)) if sources[k][j] == "manual")
            edited.append(a["masklet_edited_frame_count"] if "masklet_edited_frame_count" in a else n_manual)
        per["masklet_edited_frame_count"] = edited
        per["masklet_type"] = [a.get("masklet_type", "manual") for a in attrs]
        # any other per-masklet field the original file had
        for a in attrs:
            for key in a:
                if key.startswith("masklet_") and key not in per and key != "masklet_stability_score":
                    per[key] = [b.get(key) for b in attrs]

        form = sav.get("stability")
        if form is None:
            form = "frame_major" if any(s is not None for row in scores for s in row) else "per_object"
        if form == "frame_major":
            empties = sav.get("empty_scores") or {}
            stab = [[(scores[k][j] if areas[k, j] else empties.get(f"{k},{j}", 1.0))
                     for j in range(len(tracks))] for k in range(len(frames))]
        else:
            stab = [a.get("masklet_stability_score") for a in attrs]

        fps = item.fps or (item.num_frames / fields["video_duration"] if fields.get("video_duration") else 0)
        top = {
            "video_id": fields.get("video_id") or Path(item.name).stem,
            "video_duration": _prefer(fields.get("video_duration"), item.num_frames / fps) if fps else
            fields.get("video_duration"),
            "video_frame_count": _prefer(fields.get("video_frame_count"), item.num_frames),
            "video_height": _prefer(fields.get("video_height"), h),
            "video_width": _prefer(fields.get("video_width"), w),
            "video_resolution": _prefer(fields.get("video_resolution"), h * w),
            "masklet_num": _prefer(fields.get("masklet_num"), len(tracks)),
        }
        values = dict(fields)
        values.update({k: v for k, v in top.items() if v is not None})
        values["masklet"] = masklet
        values.update(per)
        values["masklet_stability_score"] = stab
        if stride != SAV_STRIDE:
            values["masklet_stride"] = stride
        order = list(sav.get("key_order") or [])
        order += [k for k in _ORDER if k not in order]
        order += [k for k in values if k not in order]
        return {k: values[k] for k in order if k in values}


def _already_there(project, item_id: int, pt: PlannedTrack, vid: str, summary) -> bool:
    """An object of this masklet id with exactly these masks is already on the item (the same
    video imported before, from its JSON or these PNGs): not added a second time."""
    mid = pt.attributes.get("sav", {}).get("masklet_id")
    for t in project.tracks(item_id):
        if t.attributes.get("sav", {}).get("masklet_id") != mid:
            continue
        have = {m.frame: m.rle["counts"] for m in project.masks(track_id=t.id) if m.area > 0}
        if have == {f: r["counts"] for f, r in pt.masks.items()}:
            if summary is not None:
                summary.note("objects already in the project with the same masks not added again",
                             f"{vid} masklet {mid}")
            return True
    return False


def _strip_json(name: str) -> str:
    return name[:-5] if name.lower().endswith(".json") else name


def _png_video_dirs(path: Path) -> list[Path]:
    """SA-V val/test PNG layout: <video>/<obj:03d>/<frame:05d>.png; `path` is one video folder or
    a folder of them."""
    def is_video(d: Path) -> bool:
        subs = [s for s in d.iterdir() if s.is_dir()]
        return bool(subs) and all(s.name.isdecimal() for s in subs) and any(any(s.glob("*.png")) for s in subs)

    if is_video(path):
        return [path]
    return [d for d in sorted(path.iterdir()) if d.is_dir() and is_video(d)]


FORMAT = SavFormat()
