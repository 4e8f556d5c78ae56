"""Labels (categories) by name, for the GUI's current label and the objects it is given to."""
from __future__ import annotations


def category_id(project, name: str, create: bool = True) -> int | None:
    """The id of the category called `name` (created when missing and `create`), or None
    for no name."""
    if not name or project is None:
        return None
    c = project.category_by_name(name)
    if c is None and create:
        c = project.add_category(name)
    return c.id if c else None


def label_object(project, track_id: int, name: str) -> None:
    """Give the object the label `name` in one undo step (creating the category inside it)."""
    with project.group(f"Label {name}"):
        cat = category_id(project, name)
        if track_id is not None:
            project.update_track(track_id, category_id=cat)


def finish_object(project, track_id: int, name: str) -> None:
    """An object that is done gets the current label when it has none yet (an existing
    category only: committing never creates one)."""
    cat = category_id(project, name, create=False)
    if cat is not None and project.track(track_id).category_id is None:
        project.update_track(track_id, category_id=cat)
