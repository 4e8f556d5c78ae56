"""Faults against the store: SIGKILL during an import, a full disk, a second writer through a
hard link or a symlink, outputs aimed at the project, damaged files. After each: the file is
sound, nothing acknowledged is lost, and no half import is visible."""
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from annotator.core.store import Project
from annotator.errors import AnnotatorError, FormatError, OutputError, ProjectError, ProjectLockedError

sys.path.insert(0, str(Path(__file__).parent))
import import_child  # noqa: E402

CHILD = Path(__file__).with_name("import_child.py")
IMPORTED = import_child.N_TRACKS * import_child.N_FRAMES
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX signals, mounts and links")


def _project(path: Path, frames: int = import_child.N_FRAMES) -> None:
    with Project.create(path) as p:
        p.add_item(path.parent / "v.mp4", "video", 64, 48, num_frames=frames, fps=24)


def _imported(p: Project) -> tuple[int, int]:
    tracks = [t for t in p.tracks() if t.attributes.get("imported")]
    return len(tracks), sum(len(p.mask_frames(t.id)) for t in tracks)


@posix_only
def test_sigkill_during_import_leaves_all_or_nothing(tmp_path):
    path = tmp_path / "crash.annotator"
    _project(path)
    rng = random.Random(20240611)
    calib = tmp_path / "calib.annotator"  # how long the import takes on this machine now
    _project(calib)
    (tmp_path / "c.json").write_text("{}")
    with Project.open(calib) as p:
        t0 = time.perf_counter()
        import_child.apply_plan(p, import_child.plan_for(tmp_path / "c.json", 1), "calibrate")
        took = time.perf_counter() - t0
    outcomes = {"nothing": 0, "all": 0}
    expected_imports = 0
    for rnd in range(22):
        source = tmp_path / f"import{rnd}.json"
        source.write_text(json.dumps({"round": rnd}))
        proc = subprocess.Popen([sys.executable, str(CHILD), str(path), str(source), str(rnd)],
                                stdout=subprocess.PIPE, text=True, bufsize=1)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        deadline = time.time() + 60
        while "importing\n" not in list(lines) and time.time() < deadline and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 1.3 * took))  # mostly inside the import, sometimes after it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(5)
        track_id = int(lines[0].split()[1])
        acked = [int(ln.split()[1]) for ln in lines if ln.startswith("ack ") and ln.endswith("\n")]
        assert len(acked) == 3, f"round {rnd}: {lines}"
        with Project.open(path) as p:
            assert p.integrity_ok()
            assert sorted(p.mask_frames(track_id)) == acked  # nothing acknowledged lost
            n_tracks, n_masks = _imported(p)
            done = (n_tracks, n_masks) == (import_child.N_TRACKS * (expected_imports + 1),
                                           IMPORTED * (expected_imports + 1))
            assert done or (n_tracks, n_masks) == (import_child.N_TRACKS * expected_imports,
                                                   IMPORTED * expected_imports), \
                f"round {rnd}: half an import is visible: {n_tracks} tracks, {n_masks} masks"
            if "imported\n" in lines:
                assert done
            if done:
                expected_imports += 1
                outcomes["all"] += 1
                with pytest.raises(FormatError, match="already imported"):  # the retry does not duplicate
                    import_child.apply_plan(p, import_child.plan_for(source, p.items()[0].id), "Import again")
                assert _imported(p) == (import_child.N_TRACKS * expected_imports, IMPORTED * expected_imports)
            else:
                outcomes["nothing"] += 1
    assert outcomes["nothing"] >= 3 and outcomes["all"] >= 1, outcomes  # both sides were hit


def test_undone_import_may_be_imported_again(tmp_path):
    path = tmp_path / "p.annotator"
    _project(path)
    source = tmp_path / "a.json"
    source.write_text("{}")
    with Project.open(path) as p:
        plan = import_child.plan_for(source, p.items()[0].id)
        import_child.apply_plan(p, plan, "Import a")
        assert len(p.imports()) == 1
        assert p.undo() == "Import a"
        assert _imported(p) == (0, 0) and p.imports() == []
        import_child.apply_plan(p, plan, "Import a")
        assert _imported(p) == (import_child.N_TRACKS, IMPORTED)


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str):
    """A tmpfs of `size` (we run as root in CI); None where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(folder: Path) -> None:
    with open(folder / "filler", "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()


@posix_only
def test_disk_full_during_import_leaves_nothing_and_names_the_cause(tmp_path):
    with small_disk(tmp_path, "3m") as mnt:
        folder = mnt or tmp_path
        path = folder / "p.annotator"
        _project(path)
        source = tmp_path / "big.json"
        source.write_text("{}")
        with Project.open(path) as p:
            p.add_category("kept")
            before = p.counts()
            if mnt is not None:
                _fill(mnt)  # the real thing: the file system has no room left
            else:  # fault injection where mounting is not allowed: SQLite's own page ceiling
                pages = p._conn.execute("PRAGMA page_count").fetchone()[0]
                p._conn.execute(f"PRAGMA max_page_count={pages + 20}")
            plan = import_child.plan_for(source, p.items()[0].id)
            with pytest.raises(FormatError) as err:
                import_child.apply_plan(p, plan, "Import big")
            msg = str(err.value)
            assert "full" in msg and "cannot rollback" not in msg and "\n" not in msg
            assert p.counts() == before and _imported(p) == (0, 0)
            assert p.undo_label == "Add category kept"
            if mnt is not None:
                os.unlink(mnt / "filler")
            else:
                p._conn.execute("PRAGMA max_page_count=1073741823")
            import_child.apply_plan(p, plan, "Import big")  # with room again it goes through whole
            assert _imported(p) == (import_child.N_TRACKS, IMPORTED)
        with Project.open(path) as p:
            assert p.integrity_ok() and [c.name for c in p.categories()] == ["kept", "imported"]


@posix_only
def test_new_add_on_full_or_readonly_disk_is_one_line_and_leaves_no_stray_files(tmp_path):
    with small_disk(tmp_path, "1m") as mnt:
        if mnt is None:
            pytest.skip("cannot mount a tmpfs here")
        _fill(mnt)
        r = _cli("new", mnt / "p.annotator")
        assert r.returncode == 2 and "full" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert [f.name for f in mnt.iterdir()] == ["filler"]  # no stray project, lock or journal
        os.unlink(mnt / "filler")
        assert _cli("new", mnt / "p.annotator").returncode == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        r = _cli("new", mnt / "q.annotator")
        assert r.returncode == 2 and "read-only" in r.stderr and "Traceback" not in r.stderr, r.stderr
        r = _cli("add", mnt / "p.annotator", tmp_path / "nothing.png")
        assert r.returncode == 2 and "Traceback" not in r.stderr
        with pytest.raises(ProjectError, match="read-only"):
            Project.open(mnt / "p.annotator")
        with Project.open(mnt / "p.annotator", readonly=True) as p:
            assert p.items() == []


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "annotator", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


_HOLDER = ("import sys,time; from annotator.core.store import Project; p=Project.open(sys.argv[1]); "
           "print('ready', flush=True); time.sleep(60)")


@posix_only
@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_second_writer_through_another_name_is_refused(tmp_path, how):
    path = tmp_path / "p.annotator"
    _project(path)
    other = tmp_path / "sub" / "other.annotator"
    other.parent.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        if how == "hardlink":  # made while the first writer holds the project
            os.link(path, other)
        else:
            os.symlink(path, other)
        second = subprocess.run(
            [sys.executable, "-c", "import sys; from annotator.core.store import Project\n"
             "try:\n    Project.open(sys.argv[1]).add_category('x')\nexcept Exception as e:\n"
             "    print(type(e).__name__, e); sys.exit(3)", str(other)],
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 3, second.stdout + second.stderr
        assert ("open elsewhere" if how == "symlink" else "hard links") in second.stdout
    finally:
        holder.kill()
        holder.wait()
    if how == "hardlink":  # even with nobody else: two names mean two journals
        with pytest.raises(ProjectError, match="hard links"):
            Project.open(other)
        os.unlink(other)
    with Project.open(path) as p:
        assert p.integrity_ok() and p.categories() == []


def test_symlink_shares_the_lock_in_process(tmp_path):
    path = tmp_path / "p.annotator"
    _project(path)
    link = tmp_path / "link.annotator"
    link.symlink_to(path)
    with Project.open(path):
        with pytest.raises(ProjectLockedError):
            Project.open(link)


# -- outputs aimed at the project ------------------------------------------------------------

def test_export_onto_the_project_is_refused(tmp_path):
    path = tmp_path / "p.annotator"
    _project(path)
    with Project.open(path) as p:
        t = p.add_track(p.items()[0].id)
        p.set_mask(t.id, 0, np.eye(48, 64, dtype=bool))
    other = tmp_path / "other.annotator"
    Project.create(other).close()
    alias = tmp_path / "alias.json"
    alias.symlink_to(path)
    hard = tmp_path / "hard.json"
    os.link(other, hard)
    size = path.stat().st_size
    for target in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm"), Path(str(path) + ".lock"),
                   other, alias, hard):
        r = _cli("export", path, "-f", "coco", "-o", target)
        assert r.returncode == 2 and "refusing to write" in r.stderr and "Traceback" not in r.stderr, (target, r.stderr)
    os.unlink(hard)
    with Project.open(path) as p:
        assert p.integrity_ok() and p.counts()["masks"] == 1
    assert path.stat().st_size == size
    from annotator.formats.base import AtomicFolder, atomic_write_json

    with Project.open(path, readonly=True):  # in-process: the open project and its journal
        for target in (path, Path(str(path) + "-wal")):
            with pytest.raises(OutputError, match="open project"):
                atomic_write_json(target, {})
        with pytest.raises(OutputError):
            AtomicFolder(path)


def test_output_that_is_a_folder_or_an_impossible_name(tmp_path):
    from annotator.core.outputs import check_output
    from annotator.formats.base import atomic_write_bytes

    with pytest.raises(OutputError, match="is a folder"):
        atomic_write_bytes(tmp_path, b"x")
    with pytest.raises(OutputError, match="255-byte"):
        atomic_write_bytes(tmp_path / ("é" * 200 + ".json"), b"x")
    assert check_output(tmp_path / "fine.json") == tmp_path / "fine.json"
    assert not list(tmp_path.glob(".*tmp"))


def test_exports_follow_the_umask(tmp_path):
    from annotator.formats.base import AtomicFolder, atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        with AtomicFolder(tmp_path / "out") as d:
            (d / "x.png").write_bytes(b"x")
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "b.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600


# -- damaged files ---------------------------------------------------------------------------

def _damage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = 4096
    for off in range(2 * page, len(data), page):  # leave the header page alone
        data[off + 10:off + 200] = os.urandom(190)
    path.write_bytes(bytes(data))


def _filled(path: Path, n: int = 300) -> None:
    _project(path)
    with Project.open(path) as p:
        t = p.add_track(p.items()[0].id)
        p.set_masks([{"track_id": t.id, "frame": f, "mask": np.eye(48, 64, k=f % 40, dtype=bool)} for f in range(n)])


def test_writes_to_a_damaged_project_are_refused(tmp_path):
    path = tmp_path / "p.annotator"
    _filled(path)
    _damage_pages(path)
    with pytest.raises(ProjectError, match="damaged"):
        with Project.open(path) as p:
            p.add_category("x")
    r = _cli("add", path, tmp_path / "x.png")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli("info", path)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr


def test_bad_json_row_dropped_table_and_misfit_rle_are_one_line(tmp_path):
    path = tmp_path / "p.annotator"
    _filled(path, 3)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE items SET meta='{not json'")
    conn.commit()
    conn.close()
    with Project.open(path, readonly=True) as p:
        with pytest.raises(ProjectError, match="damaged: items row 1"):
            p.items()
    r = _cli("export", path, "-f", "coco", "-o", tmp_path / "o.json")
    assert r.returncode == 2 and "damaged" in r.stderr and "Traceback" not in r.stderr, r.stderr

    path2 = tmp_path / "q.annotator"
    _filled(path2, 3)
    conn = sqlite3.connect(path2)
    conn.execute("UPDATE masks SET h=10, w=10 WHERE frame=1")
    conn.execute("UPDATE masks SET counts='0000' WHERE frame=2")
    conn.commit()
    conn.close()
    with Project.open(path2, readonly=True) as p:
        with pytest.raises(ProjectError, match="10x10 but the media is 64x48"):
            p.masks()
        assert p.mask(1, 0) is not None
        with pytest.raises(ProjectError, match="cover"):
            p.mask(1, 2)
    r = _cli("export", path2, "-f", "sav", "-o", tmp_path / "o.sav.json")
    assert r.returncode == 2 and "does not fit its item" in r.stderr and not (tmp_path / "o.sav.json").exists()

    conn = sqlite3.connect(path2)
    conn.execute("DROP TABLE tracks")
    conn.commit()
    conn.close()
    for ro in (True, False):
        with pytest.raises(ProjectError, match="table 'tracks' is missing"):
            Project.open(path2, readonly=ro)


def test_declared_sizes_over_the_media_limits_are_refused(tmp_path, monkeypatch):
    with Project.create(tmp_path / "p.annotator") as p:
        with pytest.raises(ProjectError, match="pixels is over the limit"):
            p.add_item("big.png", "image", 100_000, 100_000)
        with pytest.raises(ProjectError, match="frames is over the limit"):
            p.add_item("long.mp4", "video", 64, 48, num_frames=10**12)
        monkeypatch.setenv("ANNOTATOR_MAX_FRAMES", "100")
        with pytest.raises(ProjectError, match="101 frames"):
            p.add_item("v.mp4", "video", 64, 48, num_frames=101)
        assert p.add_item("v.mp4", "video", 64, 48, num_frames=100).num_frames == 100
        assert p.items()[0].width == 64


def test_errors_are_annotator_errors():
    assert issubclass(OutputError, AnnotatorError)
