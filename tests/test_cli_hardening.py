"""One clear line instead of a traceback: outputs that are folders or impossible names,
ANSI escapes in names, concurrent propagations to one output."""
import subprocess
import sys

import numpy as np
from PIL import Image

from annotator.cli import main
from annotator.core.store import Project


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "annotator", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_names_with_terminal_escapes_print_as_text(tmp_path, capsys):
    img = tmp_path / "evil\x1b[2J\x1b]0;owned\x07.png"
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(img)
    proj = tmp_path / "p.annotator"
    assert main(["new", str(proj), "--category", "cat\x1b[31m"]) == 0
    assert main(["add", str(proj), str(img)]) == 0
    assert main(["info", str(proj)]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "\x07" not in captured.out
    assert "evil\\x1b[2J" in captured.out
    with Project.open(proj) as p:  # only the printing changes: the data keeps the real name
        assert p.items()[0].name == img.name


def test_output_that_is_a_folder_is_refused_before_work(tmp_path):
    proj = tmp_path / "p.annotator"
    with Project.create(proj) as p:
        p.add_item(tmp_path / "a.png", "image", 8, 6)
    r = _cli("export", proj, "-f", "coco", "-o", tmp_path)
    assert r.returncode == 2 and "is a folder" in r.stderr and "Traceback" not in r.stderr
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((12, 16, 3), 60 * i, np.uint8)).save(folder / f"{i:05d}.png")
    prompts = tmp_path / "pr.json"
    prompts.write_text('[{"frame": 0, "obj_id": 1, "points": [[8, 6]]}]')
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = _cli("propagate", folder, "--model", "classic", "--prompts", prompts, "-o", outdir, "-q")
    assert r.returncode == 2 and "is a folder" in r.stderr and "frame" not in r.stderr.split("is a folder")[1]
    assert list(tmp_path.glob("*.part")) == [] and list(outdir.iterdir()) == []
    r = _cli("propagate", folder, "--model", "classic", "--prompts", prompts, "-o", proj, "-q")
    assert r.returncode == 2 and "refusing to write" in r.stderr


def test_file_name_over_255_bytes_is_one_line(tmp_path):
    proj = tmp_path / "p.annotator"
    Project.create(proj).close()
    long = tmp_path / ("x" * 300 + ".json")
    r = _cli("export", proj, "-f", "coco", "-o", long)
    assert r.returncode == 2 and "255-byte" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("new", tmp_path / ("y" * 300 + ".annotator"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_failed_propagation_leaves_no_scratch_and_no_output(tmp_path, monkeypatch, capsys):
    import json

    from annotator.engines import classic

    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((24, 32, 3), 40 * i, np.uint8)).save(folder / f"{i:05d}.png")
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps([{"frame": 0, "obj_id": 1, "box": [2, 2, 20, 20]}]))

    def broken(self, *a, **k):
        yield from ()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(classic.ClassicVideoSession, "propagate", broken)
    out = tmp_path / "o.sav.json"
    assert main(["propagate", str(folder), "--model", "classic", "--prompts", str(prompts), "-o", str(out), "-q"]) == 2
    assert "No space left" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "p.json"]  # each run's scratch is its own and goes

