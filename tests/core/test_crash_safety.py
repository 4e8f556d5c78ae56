"""SIGKILL a writer at random moments: the file stays sound and every acknowledged edit is there."""
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from annotator.core.store import Project
from annotator.errors import ProjectLockedError

sys.path.insert(0, str(Path(__file__).parent))
from crash_child import mask_for  # noqa: E402

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 24


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_sigkill_never_loses_acknowledged_edits(tmp_path):
    path = tmp_path / "crash.annotator"
    with Project.create(path) as p:
        p.add_item(tmp_path / "v.mp4", "video", 64, 48, num_frames=1_000_000, fps=24)
    rng = random.Random(1234)
    total_acked = 0
    for rnd in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, str(CHILD), str(path), str(rnd)], stdout=subprocess.PIPE,
                                text=True, bufsize=1)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
        reader.start()
        # wait until it is writing, then kill it at a random moment
        deadline = time.time() + 30
        while not any(ln.startswith("ack") for ln in list(lines)) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(5)
        track_id = int(lines[0].split()[1])
        acked = [int(ln.split()[1]) for ln in lines[1:] if ln.startswith("ack ") and ln.endswith("\n")]
        assert acked, f"round {rnd}: child never acknowledged an edit"
        total_acked += len(acked)
        with Project.open(path) as p:  # the lock died with the child
            assert p.integrity_ok()
            frames = p.mask_frames(track_id)
            for i in acked:
                assert i in frames, f"round {rnd}: acknowledged edit {i} lost"
                assert np.array_equal(p.mask(track_id, i).mask(), mask_for(rnd, i))
            assert p.track(track_id).attributes == {"round": rnd}
    assert total_acked >= ROUNDS


def test_second_process_gets_clear_error(tmp_path):
    path = tmp_path / "p.annotator"
    Project.create(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from annotator.core.store import Project; p=Project.open(sys.argv[1]); "
         "p.add_category('held'); print('ready', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(ProjectLockedError, match="open elsewhere"):
            Project.open(path)
        with Project.open(path, readonly=True) as ro:  # reading is still allowed
            assert [c.name for c in ro.categories()] == ["held"]
            assert ro.integrity_ok()
    finally:
        holder.kill()
        holder.wait()
    with Project.open(path) as p:
        assert p.integrity_ok() and [c.name for c in p.categories()] == ["held"]
