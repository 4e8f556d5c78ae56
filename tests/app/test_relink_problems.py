"""The relink rule (app.media.relink_problems): kind, frame size and frame count must match."""
from annotator.app.media import relink_problems
from annotator.core.model import MediaItem
from annotator.media import MediaInfo


def _item(kind="video", w=854, h=480, n=50):
    return MediaItem(1, "clip.mp4", kind, w, h, n, 25.0, "clip.mp4")


def test_same_media_has_no_problems():
    assert relink_problems(_item(), MediaInfo("video", 854, 480, 50, 30.0)) == []


def test_each_difference_is_named():
    probs = relink_problems(_item(), MediaInfo("frames", 640, 360, 49, 0.0))
    assert len(probs) == 3
    assert "a frame folder" in probs[0] and "640x360" in probs[1] and "49 frame(s)" in probs[2]


def test_unknown_sizes_are_not_compared():
    assert relink_problems(_item(w=0, h=0, n=0), MediaInfo("video", 640, 360, 10, 30.0)) == []
