"""Which frames of a video an export lists, i.e. where it may claim "object absent".

An unlisted frame says nothing; a listed frame where an object has no mask says the object is
absent there, and trainers take that as a true negative. So by default only frames a person
(or a propagation run) actually annotated are listed:
  annotated (default): frames where some object has a mask record (an empty mask is an
                       explicit "absent") or a person marked some object reviewed;
  known:               frames where EVERY object of the video has a mask record or a
                       reviewed mark (nothing on the frame is guessed);
  all:                 every frame of the video (unannotated frames become "absent" for every
                       object: say so only when the video really was annotated throughout).
"""
from __future__ import annotations

ABSENT_OPTION = ("frames", "annotated (default: frames that carry annotation or a reviewed mark; only they may say "
                           "'absent'), known (frames where every object is annotated or reviewed) or all (every "
                           "frame; unannotated frames are written as 'absent')")
CHOICES = ("annotated", "known", "all")


def listed_frames(project, item, tracks, masks_by_track: dict[int, dict], rule: str, summary=None) -> list[int]:
    """Sorted frame numbers to list for `item`. masks_by_track: track id -> {frame: mask}."""
    if item.kind == "image":
        return [0]
    reviewed = project.reviewed_marks(item.id) if hasattr(project, "reviewed_marks") else {}
    known = {t.id: set(masks_by_track.get(t.id, {})) | set(reviewed.get(t.id, ())) for t in tracks}
    known = {k: {f for f in v if 0 <= f < item.num_frames} for k, v in known.items()}
    if rule == "all":
        frames = list(range(item.num_frames))
        carry = set().union(*known.values()) if known else set()
        if summary is not None:
            summary.note("unannotated frames written as 'absent' (frames=all)", item.name,
                         n=item.num_frames - len(carry))
        return frames
    if rule == "known":
        sets = list(known.values())
        frames = sorted(set.intersection(*sets)) if sets else []
        if summary is not None:
            union = set().union(*sets) if sets else set()
            summary.note("annotated frames left out: not every object is annotated or reviewed there "
                         "(frames=known)", item.name, n=len(union) - len(frames))
        return frames
    return sorted(set().union(*known.values())) if known else []
