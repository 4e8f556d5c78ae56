"""annotator.app.labels: categories by name, labelling an object, a finished object's label."""
from __future__ import annotations

import pytest

from annotator.app import labels
from annotator.core.store import Project


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.annotator")
    item = p.add_item(str(tmp_path / "a.png"), "image", 10, 8, 1, 0.0)
    yield p, item
    p.close()


def test_category_by_name_created_once(project):
    p, _ = project
    assert labels.category_id(p, "") is None
    assert labels.category_id(p, "cat", create=False) is None and p.categories() == []
    c = labels.category_id(p, "cat")
    assert labels.category_id(p, "cat") == c and [x.name for x in p.categories()] == ["cat"]


def test_labelling_an_object_is_one_undo_step(project):
    p, item = project
    t = p.add_track(item.id).id
    labels.label_object(p, t, "dog")
    assert p.category(p.track(t).category_id).name == "dog"
    assert p.undo() == "Label dog"
    assert p.track(t).category_id is None and p.categories() == []  # the new category went too


def test_a_finished_object_takes_an_existing_label_only(project):
    p, item = project
    t = p.add_track(item.id).id
    labels.finish_object(p, t, "bird")  # no such category: none is made
    assert p.track(t).category_id is None and p.categories() == []
    c = labels.category_id(p, "bird")
    labels.finish_object(p, t, "bird")
    assert p.track(t).category_id == c
    other = labels.category_id(p, "fish")
    labels.finish_object(p, t, "fish")  # it has a label already: kept
    assert p.track(t).category_id == c != other
