"""DAVIS semi-supervised annotations: one indexed (palette) PNG per frame, pixel value = object
id, 0 = background, the DAVIS/PASCAL-VOC palette.

Export writes `<out>/<sequence>/<frame>.png` for every video (frame names follow the frame
folder's files, else 00000.png ...) and `<out>/<image stem>.png` for images. One PNG holds all
objects, so overlaps must be flattened: the LOWEST object id wins (SAM 2's rule). Object ids
must be 1..254 (255 is DAVIS's "void").

Import reads a sequence folder (or a folder of sequence folders, or one PNG): palette PNGs
(indices), grey 0/255 PNGs (DAVIS 2016: one object), or RGB PNGs in the DAVIS palette. Pixels
of value 255 in palette PNGs are void and ignored.
"""
from __future__ import annotations

import logging
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
    expect,
    find_item,
    select_items,
)
from annotator.formats.export_paths import NameSet, inside, safe_name
from annotator.formats.frame_choice import ABSENT_OPTION, CHOICES, listed_frames
from annotator.formats.summary import Summary

log = logging.getLogger(__name__)

VOID = 255


def davis_palette() -> np.ndarray:
    """The 256-colour PASCAL VOC / DAVIS palette (bit-interleaved colour map), uint8 (256, 3)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


PALETTE = davis_palette()


def label_map(masks_by_obj: dict[int, np.ndarray], h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w), np.uint8)
    for obj in sorted(masks_by_obj, reverse=True):  # paint high ids first: the lowest id wins
        out[masks_by_obj[obj]] = obj
    return out


def write_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.tobytes())
    img.putpalette(PALETTE.reshape(-1).tolist())
    img.save(path, format="PNG")


def write_sequence_pngs(p: dict, report=None) -> dict:
    """One item's PNGs of a DAVIS export (export_work payload: file names with their
    objects' RLE); returns the frames whose overlapping objects were flattened and the
    number of PNGs its folder holds."""
    folder = Path(p["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    h, w = int(p["height"]), int(p["width"])
    flattened = []
    for f, (name, objs) in zip(p["frames"], p["pngs"]):
        masks = {int(o): _rle.decode(r) for o, r in objs.items()}
        labels = label_map(masks, h, w)
        if sum(int(m.sum()) for m in masks.values()) > int(np.count_nonzero(labels)):
            flattened.append(f)
        write_png(inside(folder, name), labels)
        if report is not None:
            report(1)
    return {"flattened": flattened, "pngs": sum(1 for _ in folder.iterdir()), "frames": len(p["pngs"])}


def read_png(path: Path) -> np.ndarray:
    """Object-id map (uint8/uint16 HxW) from an annotation PNG; void (255) becomes 0."""
    from annotator.media.image import open_checked

    try:
        with open_checked(path) as img:  # the pixel limit on the header, before decoding
            img.load()
            mode = img.mode
            if mode == "P":
                a = np.asarray(img).astype(np.int32)
                a[a == VOID] = 0
                return a
            if mode == "1":
                return np.asarray(img).astype(np.int32)
            if mode in ("L", "I", "I;16", "I;16B", "I;16L"):
                a = np.asarray(img).astype(np.int32)
                vals = set(np.unique(a).tolist())
                if vals <= {0, 255}:  # DAVIS 2016 style: one object, 0/255
                    return (a > 0).astype(np.int32)
                return a
            if mode in ("RGB", "RGBA"):
                rgb = np.asarray(img.convert("RGB")).astype(np.int32)
                key = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
                pal_key = (PALETTE[:, 0].astype(np.int32) << 16) | (PALETTE[:, 1].astype(np.int32) << 8) | PALETTE[:, 2]
                lookup = {int(k): i for i, k in enumerate(pal_key)}
                uniq = np.unique(key)
                bad = [u for u in uniq.tolist() if u not in lookup]
                if bad:
                    u = bad[0]
                    raise FormatError(f"{path}: colour ({u >> 16}, {(u >> 8) & 255}, {u & 255}) is not a DAVIS "
                                      "palette colour")
                ids = np.zeros_like(key)
                for u in uniq.tolist():
                    ids[key == u] = lookup[u]
                ids[ids == VOID] = 0
                return ids
            raise FormatError(f"{path}: unsupported PNG mode {mode}")
    except FormatError:
        raise
    except Exception as e:
        raise FormatError(f"{path}: not a readable PNG ({type(e).__name__}: {e})") from None


class DavisFormat(Format):
    name = "davis"
    description = "DAVIS indexed palette PNGs, one per frame (object id = palette index)"
    extensions = ()
    export_options = {
        "frames": ABSENT_OPTION[1] + "; an empty PNG says 'no object here'",
    }
    import_options = {
        "media": "the video file / frame folder / image the annotations belong to (single sequence only; "
                 "default: the matching JPEGImages folder when the path contains 'Annotations')",
    }

    # ------------------------------------------------------------------------------ export
    def export(self, project, out, item_ids=None, **opts) -> None:
        out = Path(out)
        o = Options(self.name, str(out), opts, self.export_options)
        rule = o.choice("frames", "annotated", CHOICES)
        summary = Summary()
        items = select_items(project, item_ids, str(out))
        if not items:
            raise FormatError(f"{out}: nothing to export")
        # check everything before writing anything
        for it in items:
            for t in project.tracks(it.id):
                if not 1 <= t.obj_id <= 254:
                    raise FormatError(f"{out}: object id {t.obj_id} of {it.name} does not fit a DAVIS palette "
                                      "index (1..254)")
        seq_names: dict[int, str] = {}
        used = NameSet()
        for it in items:
            stem = Path(it.name).stem if it.kind != "frames" else Path(it.name).name
            seq_names[it.id] = used.take(stem, f"item{it.id}", ".png" if it.kind == "image" else "")
        from annotator.formats.base import frame_names

        from annotator.formats import export_work

        with AtomicFolder(out) as tmp:
            root = Path(tmp).resolve()  # workers may not share our working folder
            jobs = []  # (item, payload): one per item, its PNGs written by export_work
            for it in items:
                tracks = project.tracks(it.id)
                per_frame: dict[int, dict[int, dict]] = {}
                by_track: dict[int, dict] = {}
                for t in tracks:
                    for m in project.masks(track_id=t.id):
                        per_frame.setdefault(m.frame, {})[t.obj_id] = m.rle
                        by_track.setdefault(t.id, {})[m.frame] = m
                frames = listed_frames(project, it, tracks, by_track, rule, summary)
                if it.kind == "image":
                    if not frames:
                        summary.note("photos nobody annotated or reviewed skipped (an empty PNG would say "
                                     "'nothing here')", it.name)
                        continue
                    pngs, folder, frames = [[f"{seq_names[it.id]}.png", per_frame.get(0, {})]], root, [0]
                else:
                    if not frames:
                        summary.note("videos with no annotated frame skipped", it.name)
                        continue
                    names = frame_names(it)
                    folder = inside(root, seq_names[it.id])
                    pngs = [[f"{safe_name(Path(names[f]).stem, f'{f:05d}') if names else f'{f:05d}'}.png",
                             per_frame.get(f, {})] for f in frames]
                jobs.append((it, {"item_id": it.id, "dir": str(folder), "height": it.height, "width": it.width,
                                  "frames": frames, "units": len(pngs),
                                  "pngs": [[n, {str(o): r for o, r in objs.items()}] for n, objs in pngs]}))
            results = export_work.run_all("davis-pngs", [p for _, p in jobs])
            for (it, _), res in zip(jobs, results):
                for f in res["flattened"]:
                    summary.note("frames where overlapping objects were flattened (lowest id wins)",
                                 f"{it.name} frame {f}")
                if it.kind != "image":
                    summary.fact(f"{it.name}: {res['pngs']} PNGs")
        return summary

    # ------------------------------------------------------------------------------ import
    def load(self, project, path, **opts):
        path = Path(path)
        o = Options(self.name, str(path), opts, self.import_options)
        media = o.path("media", must_exist=True)
        if not path.exists():
            raise FormatError(f"{path}: not found")
        # (folder, pngs, is a single image)
        if path.is_file():
            seqs = [(path.parent, [path], True)]
        else:
            subs = [(d, sorted(d.glob("*.png"))) for d in sorted(path.iterdir()) if d.is_dir()]
            subs = [(d, p, False) for d, p in subs if p]
            top = sorted(path.glob("*.png"))
            if subs:  # a folder of sequences (as we export): loose PNGs beside them are images
                seqs = subs + [(path, [p], True) for p in top]
            elif top and (media is not None or all(p.stem.isdigit() for p in top)
                          or (path.parent / "JPEGImages" / path.name).is_dir()
                          or "Annotations" in path.parts):
                seqs = [(path, top, False)]  # one sequence folder
            else:     # loose PNGs not named as frames: each one an image (as we export images)
                seqs = [(path, [p], True) for p in top]
        if not seqs:
            raise FormatError(f"{path}: no PNG annotations found")
        if media is not None and len(seqs) > 1:
            raise FormatError(f"{path}: option media needs a single sequence, found {len(seqs)}")
        plan = ImportPlan(path)
        for seq_dir, pngs, single in seqs:
            plan.items.append(self._plan_sequence(project, seq_dir, pngs, media, single_file=single))
        return apply_plan(project, plan, f"Import DAVIS {path.name}")

    def _plan_sequence(self, project, seq_dir: Path, pngs: list[Path], media: Path | None,
                       single_file: bool) -> PlannedItem:
        from annotator.media import list_frame_files, probe
        from annotator.errors import MediaError

        where = str(pngs[0] if single_file else seq_dir)
        if media is None:
            parts = list(seq_dir.parts)
            if "Annotations" in parts:
                i = len(parts) - 1 - parts[::-1].index("Annotations")
                parts[i] = "JPEGImages"
                guess = Path(*parts)
                media = guess / f"{pngs[0].stem}.jpg" if single_file else guess
            else:
                media = seq_dir.parent / (pngs[0].stem + ".jpg") if single_file else \
                    seq_dir.parent / "JPEGImages" / seq_dir.name
        info = None
        if media.exists():
            try:
                info = probe(media)
            except MediaError as e:
                raise FormatError(f"{where}: {e}") from None

        # frame index of every PNG
        if info is not None and info.kind == "frames":
            stems = {f.stem: i for i, f in enumerate(list_frame_files(media))}
            missing = [p.name for p in pngs if p.stem not in stems]
            expect(not missing, where, f"{missing[0] if missing else ''} has no frame of that name in {media}")
            frames = [stems[p.stem] for p in pngs]
        elif single_file:
            frames = [0]
        elif all(p.stem.isdecimal() for p in pngs):
            frames = [checks.frame_index(int(p.stem), str(p)) for p in pngs]
        else:
            frames = list(range(len(pngs)))

        tracks: dict[int, PlannedTrack] = {}
        size = None
        for p, f in zip(pngs, frames):
            ids = read_png(p)
            if size is None:
                size = ids.shape
            expect(ids.shape == size, str(p), f"size {ids.shape[1]}x{ids.shape[0]} differs from the first "
                   f"frame's {size[1]}x{size[0]}")
            objs = [o for o in np.unique(ids).tolist() if o != 0]
            checks.object_ids(objs, str(p))
            for obj in objs:
                pt = tracks.setdefault(obj, PlannedTrack(obj_id=int(obj)))
                pt.masks[f] = _rle.encode(ids == obj)
        h, w = size
        if single_file and (info is None or info.kind == "image"):
            kind, n = "image", 1
        elif info is not None:
            kind, n = info.kind, info.num_frames
        else:
            kind, n = "frames", max(frames) + 1
        if info is not None:
            expect((info.width, info.height) == (w, h), where,
                   f"annotations are {w}x{h} but {media.name} is {info.width}x{info.height}")
            expect(max(frames) < info.num_frames, where,
                   f"annotation frame {max(frames)} is beyond the {info.num_frames} frames of {media.name}")
        pi = PlannedItem(path=str(media), kind=kind, width=w, height=h, num_frames=n,
                         fps=info.fps if info is not None else 0.0,
                         tracks=[tracks[k] for k in sorted(tracks)])
        existing = find_item(project, media)
        if existing is not None:
            expect((existing.width, existing.height) == (w, h) and max(frames) < existing.num_frames, where,
                   f"does not fit project item #{existing.id} ({existing.width}x{existing.height}, "
                   f"{existing.num_frames} frames)")
            pi.existing_id = existing.id
        return pi


FORMAT = DavisFormat()
