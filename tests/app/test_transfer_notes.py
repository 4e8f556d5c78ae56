"""The import/export job the GUI runs in its worker hands on the format's summary: what was skipped or
converted reaches the dialog's result text."""
import json
import threading

import numpy as np

from annotator.core.store import Project
from annotator.app.transfer import do_work


def test_import_notes_and_export_summary_reach_the_dialog(tmp_path):
    proj = tmp_path / "p.annotator"
    Project.create(proj).close()
    doc = {"imagePath": "x.png", "imageHeight": 20, "imageWidth": 30,
           "shapes": [{"label": "a", "points": [[1, 1], [9, 9]], "shape_type": "line"},
                      {"label": "b", "points": [[2, 2], [8, 2], [8, 8]], "shape_type": "polygon"}]}
    (tmp_path / "x.json").write_text(json.dumps(doc))
    spec = {"mode": "import", "format": "labelme", "path": str(tmp_path / "x.json"),
            "opts": {"require_media": "false"}}
    with Project.open(proj, readonly=True) as ro:
        _, record = do_work(spec, ro, threading.Event(), lambda d, t: None)
    assert record.tracks == 2
    assert record.notes == ["1 labelme line shapes drawn as masks the way labelme does (10 px wide) "
                            "(e.g. x.json shapes[0])"]
    with Project.open(proj) as p:
        it = p.add_item(tmp_path / "v.mp4", "video", 30, 20, num_frames=5, fps=5)
        t = p.add_track(it.id)
        m = np.zeros((20, 30), bool)
        m[2:5, 2:5] = True
        p.set_mask(t.id, 1, m)
    with Project.open(proj, readonly=True) as ro:
        msg, _ = do_work({"mode": "export", "format": "ytvis", "path": str(tmp_path / "y.json")}, ro,
                         threading.Event(), lambda d, t: None)
    assert msg.startswith(f"Exported ytvis to {tmp_path / 'y.json'}.")
    assert "referenced images not written (media not on disk; relink it)" in msg
