"""The classic engine on degenerate images: uniform (black, blank), 1x1, 1x20000 strips, and a
video whose first frame is black. Crash fixes only: any mask of the right shape will do."""
import numpy as np
import pytest

from annotator.engines.classic import ClassicImageSession, ClassicVideoSession

rng = np.random.default_rng(7)
IMAGES = {
    "black": np.zeros((64, 64, 3), np.uint8),
    "blank": np.full((48, 80, 3), 255, np.uint8),
    "1x1": np.zeros((1, 1, 3), np.uint8),
    "2x2": np.zeros((2, 2, 3), np.uint8),
    "1x20000": rng.integers(0, 255, (1, 20000, 3), dtype=np.uint8),
    "20000x1": rng.integers(0, 255, (20000, 1, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(IMAGES))
@pytest.mark.parametrize("prompt", ["point", "box", "pos+neg"])
def test_degenerate_images_give_a_mask(name, prompt):
    img = IMAGES[name]
    h, w = img.shape[:2]
    kw = {"point": dict(points=np.array([[w // 2, h // 2]], np.float32), labels=np.array([1])),
          "box": dict(box=np.array([0, 0, w, h], np.float32)),
          "pos+neg": dict(points=np.array([[w // 2, h // 2], [0, 0]], np.float32), labels=np.array([1, 0]))}[prompt]
    s = ClassicImageSession()
    s.set_image(img)
    pred = s.predict(**kw)
    assert pred.mask.shape == (h, w) and pred.mask.dtype == bool
    assert np.isfinite(np.asarray(pred.scores, float)).all()


class _Frames:
    def __init__(self, frames):
        self.frames = frames
        self.num_frames = len(frames)
        self.height, self.width = frames[0].shape[:2]
        self.fps = 0.0

    def frame(self, i):
        return self.frames[i]


@pytest.mark.parametrize("shape", [(48, 64), (1, 1), (1, 300), (5, 5)])
@pytest.mark.parametrize("first", ["black", "all black"])
def test_propagate_from_a_black_frame(shape, first):
    h, w = shape
    frames = [np.zeros((h, w, 3), np.uint8)]
    frames += [np.zeros((h, w, 3), np.uint8) if first == "all black"
               else rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(3)]
    v = ClassicVideoSession()
    v.open(_Frames(frames))
    v.add_prompt(0, 1, points=np.array([[w // 2, h // 2]], np.float32), labels=np.array([1]))
    out = list(v.propagate(0))
    assert [t for t, _ in out][-1] == 3
    assert all(m[1].shape == (h, w) for _, m in out)
