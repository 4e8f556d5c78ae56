"""The fuzz harness in the suite: every importer (COCO, YouTube-VIS, SA-V JSON and PNG
layouts, DAVIS, labelme) and the prompt validator (prompts and propagate's prompts files) over a generated corpus of hostile and
damaged inputs (fuzz_corpus: the issue's reproductions, their family, and seeded random
mutations). Each input must end in success or one clear line naming the file, never a
traceback, a crash, a hang (30 s per case), memory over the cap (RLIMIT_AS 2 GiB in the child
that runs it), or a change to the project after a rejection.

scripts/fuzz_report.py runs the same corpus with more random cases and prints the figures.
"""
import math

import fuzz_harness
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.core.prompts import PromptError, check_prompt

N_RANDOM = 40  # random mutations per area
SYSTEMATIC_EVERY = 4  # every 4th every-node substitution; ~1300 inputs in all, ~1 minute


def test_every_importer_and_the_prompt_validator_end_in_success_or_one_clear_line(tmp_path):
    cases, results = fuzz_harness.run_corpus(n_random=N_RANDOM, work=tmp_path, systematic_every=SYSTEMATIC_EVERY)
    table = fuzz_harness.tally(cases, results)
    print("\n" + fuzz_harness.format_table(table))
    assert set(table) == {"coco", "ytvis", "sav", "davis", "labelme", "prompt", "all"}
    fails = fuzz_harness.failures(cases, results)
    assert not fails, "\n".join(fails[:30])
    # the corpus reaches past the first checks: some inputs import, most are refused
    for area, row in table.items():
        assert row["ok"] >= 1 and row["clear"] >= 10, (area, row)
    # the named reproductions are refused, not imported
    for cid in ("coco/poly_nan", "coco/poly_1e+308", "coco/poly_million", "coco/size_100000x100000",
                "coco/frames_1000000000000", "coco/rle_counts_[4294967297]", "coco/nested_100000",
                "ytvis/num_frames_1000000000000", "sav/frame_count_1000000000000", "sav/png_frame_1e12",
                "davis/frame_999999999999", "davis/bomb_header", "labelme/point_1e+308", "labelme/circle_1e9",
                "labelme/nested_100000", "labelme/mask_bomb", "prompt/file_nested", "prompt/file_frame_inf",
                "prompt/file_labels_[inf, 1]"):
        assert results[cid]["outcome"] == "clear", (cid, results[cid])


def test_the_harness_tells_every_failure_apart(tmp_path):
    """Its self-test: importers that write then refuse, segfault, loop, go over the memory cap,
    raise a bug or a vague error are each counted as such, and the batch goes on after them."""
    inp = tmp_path / "input.json"
    inp.write_text("{}")
    hows = ["fine", "writes_then_refuses", "segfault", "fine", "loops", "hogs", "bug", "vague", "fine"]
    cases = [{"id": f"self/{k}_{h}", "area": "self", "kind": "import", "fmt": f"bad:{h}", "input": str(inp),
              "opts": {}} for k, h in enumerate(hows)]
    results = fuzz_harness.run(cases, tmp_path / "run", case_timeout=3)
    got = {c["id"].split("_", 1)[1]: results[c["id"]] for c in cases}
    assert [results[c["id"]]["outcome"] for c in cases] == [
        "ok", "clear", "crash", "ok", "hang", "memory", "traceback", "vague", "ok"]
    assert got["writes_then_refuses"].get("lost") and not got["fine"].get("lost")
    row = fuzz_harness.tally(cases, results)["self"]
    assert (row["tried"], row["ok"], row["lost"], row["crash"], row["hang"]) == (9, 3, 1, 1, 1)


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 ** 70, 2 ** 70),
                    st.sampled_from([True, None, "1", "nan", [], 0.0, -0.0]))
pairs = st.lists(st.one_of(st.lists(numbers, min_size=0, max_size=3), numbers), max_size=5)


@given(points=st.one_of(st.none(), pairs), labels=st.one_of(st.none(), st.lists(numbers, max_size=5)),
       box=st.one_of(st.none(), st.lists(numbers, min_size=0, max_size=5)),
       w=st.integers(1, 4096), h=st.integers(1, 4096))
@settings(max_examples=400, derandomize=True, deadline=None)
def test_prompt_validator_accepts_only_what_it_promises(points, labels, box, w, h):
    try:
        got = check_prompt(points, labels, box, width=w, height=h, where="fuzz")
    except PromptError as e:
        msg = str(e)
        assert msg.startswith("fuzz: ") and "\n" not in msg
        return
    for x, y in got.points or []:
        assert math.isfinite(x) and math.isfinite(y) and 0 <= x < w and 0 <= y < h
    assert got.labels is None or (len(got.labels) == len(got.points) and set(got.labels) <= {0, 1})
    if got.box is not None:
        x0, y0, x1, y1 = got.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert got.points or got.box is not None
