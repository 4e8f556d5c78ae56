import os
import subprocess
import sys

from annotator import __version__
from annotator.cli import main
from annotator.core.store import Project


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "annotator", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0 and __version__ in r.stdout


def test_new_add_info(tmp_path, shared_data, capsys):
    proj = tmp_path / "p.annotator"
    assert main(["new", str(proj), "--category", "dog"]) == 0
    seq = shared_data / "davis2016/JPEGImages/480p/blackswan"
    assert main(["add", str(proj), str(seq), str(shared_data / "images_truck.jpg")]) == 0
    assert main(["info", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "frames" in out and "854x480 50 frames" in out and "1800x1200" in out
    with Project.open(proj) as p:
        kinds = [(i.kind, i.num_frames) for i in p.items()]
    assert kinds == [("frames", 50), ("image", 1)]


def test_user_errors_are_one_line_without_traceback(tmp_path):
    proj = tmp_path / "p.annotator"
    assert run_cli("new", proj).returncode == 0
    r = run_cli("add", proj, tmp_path / "missing.mp4")
    assert r.returncode == 2
    assert "missing.mp4" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    r = run_cli("add", proj, bad)
    assert r.returncode == 2 and "bad.jpg" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("info", tmp_path / "nope.annotator")
    assert r.returncode == 2 and "nope.annotator" in r.stderr
    # nothing half-added
    with Project.open(proj) as p:
        assert p.items() == []


def test_project_open_elsewhere_is_reported(tmp_path, shared_data):
    proj = tmp_path / "p.annotator"
    with Project.create(proj):
        r = run_cli("add", proj, shared_data / "images_truck.jpg")  # project is held by this process
        assert r.returncode == 2 and "open elsewhere" in r.stderr


def test_internal_errors_go_to_log(tmp_path, monkeypatch, capsys):
    import annotator.commands.project as project_cmds

    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(project_cmds, "cmd_info", boom)
    # rebuild the parser so the patched function is bound
    assert main(["info", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "internal error" in err and "kaboom" in err
    from annotator.paths import log_dir

    log = (log_dir() / "annotator.log").read_text()
    assert "Traceback" in log and "kaboom" in log


def test_import_export_roundtrip_via_cli(tmp_path, shared_data, capsys):
    import json

    proj = tmp_path / "p.annotator"
    assert main(["new", str(proj)]) == 0
    src = shared_data / "sav/sav_000001_manual.json"
    assert main(["import", str(proj), str(src), "--format", "sav"]) == 0
    for fmt, out in [("sav", "out.json"), ("coco", "coco.json"), ("ytvis", "yt.json"), ("davis", "davis")]:
        assert main(["export", str(proj), "--format", fmt, "-o", str(tmp_path / out)]) == 0
    assert json.loads((tmp_path / "out.json").read_text())["masklet_id"] == json.loads(src.read_text())["masklet_id"]
    assert main(["info", str(proj)]) == 0
    assert "MISSING" in capsys.readouterr().out  # the SA-V video is not shipped: kept, shown missing
    # bad input: one line, project untouched
    bad = tmp_path / "bad.json"
    bad.write_text('{"masklet": [')
    with Project.open(proj) as p:
        before = p.counts()
    r = run_cli("import", proj, bad, "--format", "sav")
    assert r.returncode == 2 and "bad.json" in r.stderr and "Traceback" not in r.stderr
    with Project.open(proj) as p:
        assert p.counts() == before
    r = run_cli("export", proj, "--format", "nosuch", "-o", tmp_path / "x")
    assert r.returncode == 2 and "nosuch" in r.stderr
