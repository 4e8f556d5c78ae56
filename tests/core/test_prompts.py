"""The one prompt validator (core/prompts): fuzzed with hypothesis, and used by segment and
propagate (a negative coordinate is refused, not wrapped; beyond the frame and NaN refused)."""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.prompts import CheckedPrompt, PromptError, check_prompt
from annotator.errors import AnnotatorError

anything = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                     st.text(max_size=5), st.none(), st.booleans())
points = st.one_of(st.none(), st.lists(st.lists(anything, min_size=0, max_size=3), max_size=4),
                   st.lists(st.tuples(st.floats(-50, 150), st.floats(-50, 150)), max_size=4))
labels = st.one_of(st.none(), st.lists(st.one_of(st.sampled_from([0, 1]), anything), max_size=5))
boxes = st.one_of(st.none(), st.lists(anything, max_size=5), st.lists(st.floats(-50, 150), min_size=4, max_size=4))


@settings(max_examples=400, deadline=None)
@given(points, labels, boxes, st.integers(1, 120), st.integers(1, 120))
def test_fuzz_accepts_only_prompts_inside_the_frame(pts, labs, box, w, h):
    try:
        out = check_prompt(pts, labs, box, width=w, height=h, where="fuzz")
    except PromptError as e:
        msg = str(e)
        assert msg.startswith("fuzz: ") and "\n" not in msg and len(msg) < 300
        return
    assert isinstance(out, CheckedPrompt) and (out.points or out.box)
    for x, y in out.points or []:
        assert math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h
    if out.points:
        assert len(out.labels) == len(out.points) and set(out.labels) <= {0, 1}
    if out.box:
        x0, y0, x1, y1 = out.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def test_what_is_refused():
    ok = check_prompt([[1, 2]], None, None, width=10, height=10)
    assert ok.points == [[1.0, 2.0]] and ok.labels == [1]
    for pts, box, needle in [([[-1, 2]], None, "outside"), ([[10, 2]], None, "outside"),
                             ([[float("nan"), 2]], None, "finite"), ([[1e309, 2]], None, "finite"),
                             (None, [-1, 0, 5, 5], "outside"), (None, [0, 0, 11, 5], "outside"),
                             (None, [5, 0, 5, 5], "x0 < x1"), (None, None, "at least one")]:
        with pytest.raises(PromptError, match=needle):
            check_prompt(pts, None, box, width=10, height=10)
    with pytest.raises(PromptError, match="labels"):
        check_prompt([[1, 1]], [2], None, width=10, height=10)
    assert issubclass(PromptError, AnnotatorError)


def test_segment_refuses_negative_and_outside_points(tmp_path, capsys):
    from PIL import Image

    from annotator.cli import main

    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(img)
    for pt in ("-3,4", "30,4", "nan,4"):
        rc = main(["segment", str(img), "--model", "classic", f"--point={pt}", "-o", str(tmp_path / "m.png")])
        err = capsys.readouterr().err
        assert rc == 2 and "a.png" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.png").exists()


def test_propagate_validates_prompts_before_running(tmp_path, capsys):
    from PIL import Image

    from annotator.cli import main

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(folder / f"{i:05d}.png")
    out = tmp_path / "o.json"
    for prompt, needle in [({"points": [[-5, 3]]}, "outside"), ({"points": [[40, 3]]}, "outside"),
                           ({"points": [["nan", 3]]}, "finite"), ({"box": [0, 0, 33, 10]}, "outside")]:
        pf = tmp_path / "p.json"
        pf.write_text(json.dumps([dict(frame=0, obj_id=1, **prompt)]))
        rc = main(["propagate", str(folder), "--model", "classic", "--prompts", str(pf), "-o", str(out), "-q"])
        err = capsys.readouterr().err
        assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
