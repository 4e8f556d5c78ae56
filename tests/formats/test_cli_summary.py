"""The CLI prints what an export wrote and what an import skipped or converted, and progress
while frames are written."""
import json

from fmt_synth import blob

from annotator.cli import main
from annotator.core.store import Project
from annotator.media import probe


def test_export_and_import_print_their_summary(tmp_path, shared_data, capsys):
    proj = tmp_path / "p.annotator"
    p = Project.create(proj)
    mp4 = shared_data / "videos" / "01_dog.mp4"
    info = probe(mp4)
    it = p.add_item(mp4, info.kind, info.width, info.height, info.num_frames, info.fps)
    t = p.add_track(it.id, None)
    for f in (0, 10):
        p.set_mask(t.id, f, blob(720, 1280, 10, 10, 200, 300))
    p.close()
    assert main(["export", str(proj), "-f", "coco", "-o", str(tmp_path / "c" / "a.json")]) == 0
    cap = capsys.readouterr()
    assert "2 images written under" in cap.out and "exported as class 'object'" in cap.out
    assert "images: 2/2" in cap.err  # progress on stderr
    doc = {"imagePath": "x.png", "imageHeight": 20, "imageWidth": 30,
           "shapes": [{"label": "a", "points": [[1, 1], [9, 9]], "shape_type": "line"},
                      {"label": "b", "points": [[1, 1]], "shape_type": "weird"}]}
    (tmp_path / "x.json").write_text(json.dumps(doc))
    assert main(["import", str(proj), str(tmp_path / "x.json"), "-f", "labelme",
                 "--option", "require_media=false"]) == 0
    out = capsys.readouterr().out
    assert "1 labelme line shapes drawn as masks the way labelme does (10 px wide) (e.g. x.json shapes[0])" in out
    assert "1 labelme shapes of unknown type 'weird' skipped (e.g. x.json shapes[1])" in out
