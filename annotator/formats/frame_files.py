"""The image files an export references: frames of a video written as images, photos copied,
or files already on disk referenced by relative path, so every file_name/imagePath a
trainer follows exists and has the annotated size.

Options shared by the image-based exporters (COCO, YouTube-VIS, labelme, YOLO):
  images      auto (default): reference an image file already on disk when it lies under the
              reference root (image_root), else write a copy under the export;
              write: always write a copy; reference: never write, refuse what cannot be
              referenced (frames of a video file, files outside image_root).
  image_format  jpg (default) or png, for frames decoded from a video (and re-encoded photos)
  jpeg_quality  1..100 (default 95)
Frames are decoded one at a time in frame order from one open source: memory stays bounded
by a frame, whatever the video's length. Long runs report progress through `progress_hook`
(the CLI prints it).
"""
from __future__ import annotations

import contextvars
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from annotator.errors import FormatError
from annotator.formats.base import AtomicFolder, atomic_write_json
from annotator.formats.export_paths import inside, portable_ref

FRAME_OPTIONS = {
    "images": "auto (default: reference image files already under image_root, write the others), write "
              "(always write the referenced images under the export) or reference (never write; refuse "
              "frames of video files and files outside image_root)",
    "image_format": "jpg (default) or png: the format of frames written from a video",
    "jpeg_quality": "JPEG quality of written frames, 1..100 (default 95)",
    "image_root": "folder the image paths in the file are relative to (default: the layout's own root); "
                  "written images must lie under it",
}

# progress(done, total, what) while images are written; None: silent.
progress_hook: contextvars.ContextVar[Callable[[int, int, str], None] | None] = \
    contextvars.ContextVar("annotator_export_progress", default=None)


@dataclass
class _Job:
    item: object
    frame: int
    rel: tuple[str, ...]     # under the images folder
    source: Path | None      # an existing image file to copy, else decode the frame


class FrameFiles:
    """Collects which image each annotation entry references, then writes the copies."""

    def __init__(self, where: str, o, images_dir: Path, ref_root: Path):
        self.where = where
        self.mode = o.choice("images", "auto", ("auto", "write", "reference"))
        self.ext = o.choice("image_format", "jpg", ("jpg", "jpeg", "png"))
        self.ext = "jpg" if self.ext == "jpeg" else self.ext
        self.quality = o.int("jpeg_quality", 95, minimum=1)
        if self.quality > 100:
            raise FormatError(f"{where}: option jpeg_quality={self.quality} is not 1..100")
        self.images_dir = Path(images_dir)
        self.ref_root = Path(ref_root)
        self.jobs: list[_Job] = []
        self.referenced = 0

    def _existing(self, item, frame: int, names: list[str] | None) -> Path | None:
        if item.kind == "image":
            return Path(item.abspath) if item.exists else None
        if item.kind == "frames" and names is not None:
            f = Path(item.abspath) / names[frame]
            return f if f.exists() else None
        return None

    def ref(self, item, frame: int, rel: tuple[str, ...], names: list[str] | None = None,
            ref_root: Path | None = None) -> str:
        """The path to write into the annotation file for this image. `rel` is where a copy goes
        under images_dir (safe components; its last one without extension)."""
        root = Path(ref_root) if ref_root is not None else self.ref_root
        existing = self._existing(item, frame, names)
        if self.mode != "write" and existing is not None:
            ref = portable_ref(existing, root)
            if ref is not None:
                self.referenced += 1
                return ref
        if self.mode == "reference":
            why = ("its frames are not image files on disk" if existing is None
                   else f"{existing} is not under the image root {root}")
            raise FormatError(f"{self.where}: images=reference cannot reference {item.name} frame {frame}: {why} "
                              "(use images=auto or images=write, or set image_root)")
        ext = self.ext
        copy = existing is not None and _copyable(existing, item)
        if copy:
            ext = existing.suffix.lower().lstrip(".") or ext
        elif item.kind == "image" and existing is None:  # not on disk: name the copy it would be
            ext = Path(str(item.path)).suffix.lower().lstrip(".") or ext
        parts = (*rel[:-1], f"{rel[-1]}.{ext}")
        target = inside(self.images_dir, *parts)
        ref = portable_ref(target, root)
        if ref is None:
            raise FormatError(f"{self.where}: written images go to {self.images_dir}, which is not under the "
                              f"image root {root}; choose an image_root that contains the export")
        self.jobs.append(_Job(item, frame, parts, existing if copy else None))
        return ref

    def write(self, tmp_images_dir: Path, summary=None) -> int:
        """Write every collected copy under tmp_images_dir (which becomes images_dir), one
        export_work payload per media item (`annotator batch export` hands them to workers).
        Frames of media that is not on disk cannot be written: counted in the summary, named."""
        from annotator.formats import export_work

        report = progress_hook.get()
        total = len(self.jobs)
        groups: dict[int, tuple[object, list[_Job]]] = {}
        for job in sorted(self.jobs, key=lambda j: (j.item.id, j.frame)):
            if job.source is None and not job.item.exists:
                if summary is not None:
                    summary.note("referenced images not written (media not on disk; relink it)",
                                 "/".join(job.rel))
                continue
            groups.setdefault(job.item.id, (job.item, []))[1].append(job)
        folder = str(Path(tmp_images_dir).resolve())  # workers may not share our working folder
        payloads = [{"item_id": item.id, "name": item.name, "path": str(item.abspath), "width": item.width,
                     "height": item.height, "dir": folder, "ext": self.ext, "quality": self.quality,
                     "where": self.where, "units": len(jobs),
                     "files": [[j.frame, list(j.rel), None if j.source is None else str(j.source)] for j in jobs]}
                    for item, jobs in groups.values()]

        def progress(done: int, n: int) -> None:
            if report is not None and (done == n or done % 10 == 0):
                report(done, n, "images")

        export_work.run_all("frame-files", payloads, progress)
        if summary is not None and total:
            summary.fact(f"{sum(1 for j in self.jobs if j.source is not None or j.item.exists)} images written "
                         f"under {self.images_dir}")
        return total

    def note(self, summary) -> None:
        if self.referenced:
            summary.fact(f"{self.referenced} images referenced where they are (under {self.ref_root})")

    def save(self, out: Path, doc, summary, indent: int | None = None) -> None:
        """Write the annotation file `out` and the image copies it references; the copies
        appear only once the file is written too (a failure leaves neither)."""
        self.note(summary)
        if not self.jobs:
            atomic_write_json(out, doc, indent=indent)
            return
        with AtomicFolder(self.images_dir) as tmp:
            self.write(tmp, summary)
            atomic_write_json(out, doc, indent=indent)

    def missing_media(self) -> list[str]:
        """Names of items whose frames must be written but whose media is not on disk."""
        seen, out = set(), []
        for j in self.jobs:
            if j.source is None and not j.item.exists and j.item.id not in seen:
                seen.add(j.item.id)
                out.append(j.item.name)
        return out


def media_hint(item, root: Path) -> str:
    """Where an item's media is, for our own re-import: relative to root when under it, else
    just its file name (matched by name and size on import). Never absolute."""
    return portable_ref(Path(item.abspath), root) or Path(str(item.path).replace("\\", "/")).name or item.name


def frame_stem(item, frame: int, names: list[str] | None) -> str:
    """The file stem of a frame: the frame folder's own file name, else 00000, 00001 ..."""
    from annotator.formats.export_paths import safe_name

    return safe_name(Path(names[frame]).stem, f"{frame:05d}") if names else f"{frame:05d}"


def _copyable(path: Path, item) -> bool:
    """A file can be copied byte for byte when a plain reader sees the annotated size (no EXIF
    rotation our reader applies)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            orient = img.getexif().get(0x0112, 1)
            return img.size == (item.width, item.height) and orient in (1, None)
    except Exception:
        return False


def write_item_frames(p: dict, report=None) -> dict:
    """One item's image files of an export: copies of files on disk, or frames decoded in
    frame order from one open source (memory: one frame) and encoded as p["ext"]."""
    from PIL import Image

    from annotator.media import open_video

    src = None
    written = 0
    try:
        for frame, rel, source in p["files"]:
            target = inside(Path(p["dir"]), *rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source is not None:
                shutil.copyfile(source, target)
            else:
                if src is None:
                    src = open_video(p["path"], cache_frames=1)
                rgb = src.frame(int(frame))
                if rgb.shape[:2] != (p["height"], p["width"]):
                    raise FormatError(f"{p['where']}: {p['name']} frame {frame} is {rgb.shape[1]}x{rgb.shape[0]}, "
                                      f"annotated as {p['width']}x{p['height']}")
                img = Image.fromarray(rgb)
                if p["ext"] == "png":
                    img.save(target, format="PNG", compress_level=1)
                else:
                    img.save(target, format="JPEG", quality=p["quality"])
            written += 1
            if report is not None:
                report(1)
    finally:
        if src is not None:
            src.close()
    return {"written": written, "frames": written}
