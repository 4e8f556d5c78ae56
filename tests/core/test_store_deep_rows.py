"""A project row whose JSON nests past Python's recursion limit is a damaged row (one line),
not a RecursionError."""
import sqlite3

import pytest

from annotator.core.store import Project
from annotator.errors import ProjectError


def test_deeply_nested_json_row_is_one_line(tmp_path):
    path = tmp_path / "p.annotator"
    with Project.create(path) as p:
        p.add_item(tmp_path / "a.png", "image", 8, 6)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE items SET meta=?", ('{"a":' * 100_000 + "1" + "}" * 100_000,))
    conn.commit()
    conn.close()
    with Project.open(path, readonly=True) as p:
        with pytest.raises(ProjectError, match="damaged: items row 1 holds unreadable data"):
            p.items()
