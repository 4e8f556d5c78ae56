"""Reviewing automatic objects (segment everything, find by text): which objects are still
unaccepted, and accepting or rejecting them, each one undo step. No Qt.

An object is "auto" on a frame while its mask there has source "auto" (the generator made it
and nobody confirmed it). Accepting turns all its auto masks into "manual" ones, so the
object counts as made by a person (exports, propagation's keep-rule treat it so); rejecting
deletes the object. The GUI's review keys and the find-by-text panel both call these.
"""
from __future__ import annotations

from annotator.core.model import MaskRecord

AUTO = "auto"
ACCEPTED = "manual"


def is_auto(project, track_id: int, frame: int | None = None) -> bool:
    """On `frame`: its mask there is auto. frame None: any of its masks is auto."""
    if frame is None:
        return AUTO in project.mask_frames(track_id).values()
    return project.mask_frames(track_id).get(int(frame)) == AUTO


def auto_tracks(project, item_id: int, frame: int | None = None) -> list[int]:
    """Track ids of the item's unaccepted auto objects (on `frame`, or on any frame), in object order."""
    return [t.id for t in project.tracks(item_id) if is_auto(project, t.id, frame)]


def next_auto(project, item_id: int, frame: int | None, after: int | None = None, step: int = 1) -> int | None:
    """The auto object after (step=1) or before (step=-1) track `after` in object order,
    wrapping round; the first (last) when `after` is None or not an auto object."""
    ids = auto_tracks(project, item_id, frame)
    if not ids:
        return None
    if after in ids:
        return ids[(ids.index(after) + step) % len(ids)]
    if after is not None:  # the selected object is not auto: continue from where it sits
        order = [t.id for t in project.tracks(item_id)]
        if after in order:
            pos = order.index(after)
            later = [i for i in ids if (order.index(i) > pos if step > 0 else order.index(i) < pos)]
            if later:
                return later[0] if step > 0 else later[-1]
    return ids[0] if step > 0 else ids[-1]


def _auto_masks(project, track_id: int) -> list[MaskRecord]:
    return [m for m in project.masks(track_id=track_id) if m.source == AUTO]


def accept(project, track_id: int) -> int:
    """The object's auto masks become manual (one undo step); returns how many changed."""
    return accept_many(project, [track_id], f"Accept object {project.track(track_id).obj_id}")


def accept_many(project, track_ids, label: str | None = None) -> int:
    entries = [{"track_id": m.track_id, "frame": m.frame, "rle": m.rle, "source": ACCEPTED, "prompts": m.prompts,
                "model": m.model, "score": m.score}
               for tid in track_ids for m in _auto_masks(project, tid)]
    if entries:
        project.set_masks(entries, label or f"Accept {len(track_ids)} auto objects")
    return len(entries)


def reject(project, track_id: int) -> None:
    """Delete the object (one undo step)."""
    project.delete_track(track_id)


def reject_many(project, track_ids, label: str | None = None) -> int:
    ids = list(track_ids)
    if not ids:
        return 0
    with project.atomic(label or f"Reject {len(ids)} auto objects"):
        for tid in ids:
            project.delete_track(tid)
    return len(ids)


def accept_all(project, item_id: int, frame: int | None = None) -> list[int]:
    """Accept every auto object of the item on `frame` (any frame when None); one undo step."""
    ids = auto_tracks(project, item_id, frame)
    if ids:
        accept_many(project, ids, f"Accept {len(ids)} auto objects")
    return ids


def reject_all(project, item_id: int, frame: int | None = None) -> list[int]:
    """Delete every auto object of the item on `frame` (any frame when None); one undo step."""
    ids = auto_tracks(project, item_id, frame)
    reject_many(project, ids)
    return ids
