"""Opening and adding media, for the GUI and the CLI alike.

One classifier decides what a folder is: a frame folder (one video) when every image in it has
a number for a name (00000.jpg, 1.png, ...), else a set of separate images; `folder_as` forces
either reading ("frames" / "images"). Files count as images the way a frame folder lists its
frames (media.frames.list_frame_files): plain files, not hidden, with an image extension.
"""
from __future__ import annotations

import re
from pathlib import Path

from annotator.errors import MediaError

FOLDER_AS = ("auto", "frames", "images")
_NUMBER = re.compile(r"^[0-9]+$")  # ASCII digits only: int() must read the name back


def folder_images(folder: Path) -> list[Path]:
    from annotator.media import IMAGE_EXTENSIONS

    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)


def is_frame_folder(folder: Path) -> bool:
    imgs = folder_images(folder)
    return bool(imgs) and all(_NUMBER.match(p.stem) for p in imgs)


def expand(paths, folder_as: str = "auto") -> list[Path]:
    """The media the paths name: files as they are, folders as one frame folder or as their
    images. Raises MediaError naming the first path that does not exist or holds nothing."""
    if folder_as not in FOLDER_AS:
        raise ValueError(f"folder_as must be one of {FOLDER_AS}")
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise MediaError(f"{p}: file not found")
        if not p.is_dir():
            out.append(p)
            continue
        imgs = folder_images(p)
        if folder_as == "frames" or (folder_as == "auto" and is_frame_folder(p)):
            out.append(p)
        elif imgs:
            out.extend(imgs)
        else:
            raise MediaError(f"{p}: folder has no images")
    return out


def add_probed(project, probed, skip_existing: bool = True) -> tuple[list[int], list[tuple[str, Exception]]]:
    """Add media already probed (pairs of path and media.MediaInfo, or of path and the error
    probing it raised) in one undo step. Returns the new item ids and the failures; media the
    project already holds are skipped unless skip_existing is False."""
    existing = {str(Path(i.abspath).resolve()) for i in project.items()} if skip_existing else set()
    failed = [(str(p), info) for p, info in probed if isinstance(info, Exception)]
    new = [(p, info) for p, info in probed if not isinstance(info, Exception)
           and str(Path(p).resolve()) not in existing]
    added: list[int] = []
    if new:
        with project.group(f"Add {len(new)} media"):
            for p, info in new:
                added.append(project.add_item(p, info.kind, info.width, info.height, info.num_frames, info.fps).id)
    return added, failed


def relink_problems(item, info) -> list[str]:
    """What relinking `item` to media probed as `info` would change, worded for the person:
    kind, frame size or frame count. Masks are stored per frame at the item's size, so any of
    these would leave them on the wrong pixels or frames. Sizes the project never knew (0,
    e.g. imported without media) are not compared."""
    problems = []
    if info.kind != item.kind:
        problems.append(f"it is {_a(info.kind)}, the project holds {_a(item.kind)}")
    if item.width and item.height and (info.width, info.height) != (item.width, item.height):
        problems.append(f"its frames are {info.width}x{info.height}, the project's are {item.width}x{item.height}")
    if item.num_frames and info.num_frames != item.num_frames:
        problems.append(f"it has {info.num_frames} frame(s), the project's has {item.num_frames}")
    return problems


def check_relink(item, new_path) -> None:
    """Raise MediaError (one line naming the file) unless `new_path` can stand in for `item`:
    the same kind of media, frame size and frame count. Nothing in the project changes here."""
    from annotator import media

    p = Path(new_path)
    if not p.exists():
        raise MediaError(f"{p}: file not found")
    info = media.probe(p)
    problems = relink_problems(item, info)
    if problems:
        raise MediaError(f"{p}: cannot stand in for {item.name}: " + "; ".join(problems)
                         + " (its masks would land on the wrong pixels or frames)")


def _a(kind: str) -> str:
    return {"image": "an image", "video": "a video", "frames": "a frame folder"}.get(kind, kind)


def _project_suffix() -> str:
    from annotator.core.store import Project

    return Project.SUFFIX


def split_projects(paths, folder_as: str = "auto") -> tuple[list[str], list[str]]:
    """Which of the opened paths are project files, and the media the others name (expand)."""
    suffix = _project_suffix()
    projects = [str(p) for p in paths if str(p).endswith(suffix)]
    media = [str(p) for p in expand([p for p in paths if not str(p).endswith(suffix)], folder_as)]
    return projects, media


def default_project_path(media: Path) -> Path:
    """Where a project for media opened without one goes: beside the media when that folder
    is writable, else in the user data dir."""
    import os

    suffix = _project_suffix()
    media = Path(media)
    folder = media.parent  # a file's folder, or the folder holding a frame folder
    name = (media.name if media.is_dir() else media.parent.name) or "project"
    if os.access(folder, os.W_OK):
        return folder / f"{name}{suffix}"
    from annotator.paths import data_dir

    d = data_dir() / "projects"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{name}{suffix}"


def first_known(project, probed) -> int | None:
    """The item id of the first probed media the project already holds (re-opening a file
    goes to it), else None."""
    for p, info in probed:
        if not isinstance(info, Exception):
            rp = str(Path(p).resolve())
            return next((i.id for i in project.items() if str(Path(i.abspath).resolve()) == rp), None)
    return None
