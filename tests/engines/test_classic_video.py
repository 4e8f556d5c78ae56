"""Classic engine, video: flow-warp + re-fit propagation, forward and backward, two objects."""
import numpy as np
import pytest

from annotator.engines.baselines import FlowWarpVideoSession
from annotator.engines.classic import ClassicVideoSession, FolderFrames
from annotator.engines.protocols import VideoSession
from annotator.errors import AnnotatorError
from annotator.eval.davis import list_sequences
from annotator.eval.metrics import j_measure


class MovingDiscs:
    """Synthetic FrameSource: two coloured discs moving in opposite directions over texture."""

    def __init__(self, n=12, h=120, w=160):
        self.num_frames, self.height, self.width, self.fps = n, h, w, 10.0
        rng = np.random.default_rng(3)
        import cv2

        tex = rng.integers(60, 160, (h // 4, w // 4, 3)).astype(np.uint8)
        self._bg = cv2.resize(tex, (w, h), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[0:h, 0:w]
        self._yy, self._xx = yy, xx

    def centres(self, i):
        return (40 + 3 * i, 45), (120 - 3 * i, 80)

    def masks(self, i):
        (ax, ay), (bx, by) = self.centres(i)
        a = (self._xx - ax) ** 2 + (self._yy - ay) ** 2 <= 15**2
        b = (self._xx - bx) ** 2 + (self._yy - by) ** 2 <= 18**2
        return a, b & ~a

    def frame(self, i):
        img = self._bg.copy()
        a, b = self.masks(i)
        img[a] = (220, 40, 40)
        img[b] = (40, 60, 220)
        return img


def test_two_objects_forward_and_backward():
    src = MovingDiscs()
    s = ClassicVideoSession()
    assert isinstance(s, VideoSession)
    s.open(src)
    assert s.num_frames == 12
    a0, b0 = src.masks(0)
    out = s.add_prompt(0, 1, mask=a0)
    assert set(out) == {1}
    out = s.add_prompt(0, 2, mask=b0)
    assert set(out) == {1, 2}
    seen = []
    for f, masks in s.propagate(0, "forward"):
        seen.append(f)
        a, b = src.masks(f)
        assert j_measure(masks[1], a) > 0.85, f
        assert j_measure(masks[2], b) > 0.85, f
    assert seen == list(range(12))

    # Backward from the last frame, prompted there.
    s.reset()
    aN, bN = src.masks(11)
    s.add_prompt(11, 1, mask=aN)
    s.add_prompt(11, 2, mask=bN)
    seen = [f for f, m in s.propagate(11, "backward", stop=4) if j_measure(m[1], src.masks(f)[0]) > 0.85 and j_measure(m[2], src.masks(f)[1]) > 0.85]
    assert seen == list(range(11, 3, -1))


def test_both_directions_and_user_frames_win():
    src = MovingDiscs()
    s = ClassicVideoSession()
    s.open(src)
    a5, _ = src.masks(5)
    s.add_prompt(5, 1, mask=a5)
    frames = [f for f, _ in s.propagate(5, "both")]
    assert frames[0] == 5 and sorted(frames) == list(range(12))
    # A user mask on frame 8 replaces what propagation would give there.
    odd = np.zeros_like(a5)
    odd[:10, :10] = True
    s.add_prompt(8, 1, mask=odd)
    got = dict(s.propagate(5, "forward", stop=9))
    assert np.array_equal(got[8][1], odd)
    assert set(got) == {5, 6, 7, 8, 9}
    s.remove_object(1)
    assert s.masks_at(5) == {}


def test_clicks_prompt_and_refine_on_a_video_frame():
    src = MovingDiscs()
    s = ClassicVideoSession()
    s.open(src)
    a, _ = src.masks(0)
    out = s.add_prompt(0, 1, points=np.array([[40.0, 45.0]]), labels=np.array([1]))
    assert j_measure(out[1], a) > 0.8


def test_davis_forward_backward(shared_data):
    seq = list_sequences(shared_data / "davis2016", ["blackswan"])[0]
    frames = seq.frames()
    s = ClassicVideoSession()
    s.open(frames)
    s.add_prompt(0, 1, mask=seq.labels(0) == 1)
    res = {f: m[1] for f, m in s.propagate(0, "forward", stop=10)}
    assert j_measure(res[10], seq.labels(10) == 1) > 0.8
    s.reset()
    s.add_prompt(10, 1, mask=seq.labels(10) == 1)
    res = {f: m[1] for f, m in s.propagate(10, "backward", stop=0)}
    assert j_measure(res[0], seq.labels(0) == 1) > 0.8
    # The plain warp baseline runs through the same protocol.
    fw = FlowWarpVideoSession()
    fw.open(frames)
    fw.add_prompt(0, 1, mask=seq.labels(0) == 1)
    assert len(list(fw.propagate(0, "forward", stop=3))) == 4


def test_open_folder_path_and_errors(shared_data, tmp_path):
    folder = shared_data / "davis2016" / "JPEGImages" / "480p" / "car-shadow"
    s = ClassicVideoSession()
    s.open(str(folder))
    assert s.num_frames == 40
    with pytest.raises(AnnotatorError):
        s.add_prompt(99, 1, mask=np.zeros((480, 854), bool))
    with pytest.raises(AnnotatorError):
        s.add_prompt(0, 1, mask=np.zeros((10, 10), bool))
    with pytest.raises(AnnotatorError):
        s.add_prompt(0, 1)
    with pytest.raises(AnnotatorError):
        FolderFrames(tmp_path)
