import os
import time

import numpy as np
import pytest

from annotator.errors import MediaError
from annotator.media import open_video, probe
from annotator.media.video import VideoFileSource

from media_synth import digit_frame, read_digit_frame, write_video


def _reference_frames(path, wanted):
    """Plain sequential PyAV decoding, independent of our seeking code."""
    import av

    out = {}
    with av.open(str(path)) as c:
        for i, fr in enumerate(c.decode(c.streams.video[0])):
            if i in wanted:
                out[i] = fr.to_ndarray(format="rgb24")
        count = i + 1
    return out, count


@pytest.mark.parametrize("name", ["01_dog.mp4", "02_hummingbird.mp4"])
def test_random_access_matches_sequential_decoding(shared_data, name):
    path = shared_data / "videos" / name
    with open_video(path, cache_frames=2) as v:
        n = v.num_frames
        keys = v.keyframes
        # both sides of every keyframe, the ends, and a scattered backwards/forwards order
        wanted = {0, 1, 2, n - 2, n - 1, n // 2, n // 3}
        for k in keys:
            wanted |= {max(0, k - 1), k, min(n - 1, k + 1)}
        ref, count = _reference_frames(path, wanted)
        assert n == count
        # backwards jumps force seeks; forwards ones mostly decode on
        order = sorted(wanted, reverse=True)[:8] + sorted(wanted)
        for i in order:
            got = v.frame(i)
            assert got.shape == (v.height, v.width, 3) and got.dtype == np.uint8
            assert np.array_equal(got, ref[i]), f"frame {i} differs from sequential decoding"


def test_sequential_reads_do_not_seek(shared_data):
    with open_video(shared_data / "videos" / "02_hummingbird.mp4", cache_frames=4) as v:
        v.frame(40)
        seeks = v.seek_count
        t = time.perf_counter()
        for i in range(41, 80):
            v.frame(i)
        dt = time.perf_counter() - t
        assert v.seek_count == seeks
        assert len(v.cached_frames) <= 4
    # 39 frames of 1280x720 H.264; generous bound for a loaded 2-core machine
    assert dt < 10


def test_long_video_opens_lazily(long_video):
    import av  # noqa: F401  (import cost is not part of what we measure)
    import psutil

    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    t = time.perf_counter()
    v = VideoFileSource(long_video, cache_frames=8)
    dt = time.perf_counter() - t
    grown = proc.memory_info().rss - rss0
    try:
        assert v.num_frames == 10_000
        assert dt < 5.0, f"open took {dt:.2f}s"
        assert grown < 60e6, f"open grew RSS by {grown / 1e6:.0f} MB"
        assert v.cached_frames == [0]  # only the probe frame was decoded
        for i in [9999, 5000, 1234, 1235, 251, 249, 0, 7777]:
            assert read_digit_frame(v.frame(i)) == i
        assert len(v.cached_frames) <= 8
    finally:
        v.close()
    # the demux index is cached on disk: reopening does not re-read the file
    t = time.perf_counter()
    with open_video(long_video) as v2:
        assert v2.num_frames == 10_000
    assert time.perf_counter() - t < dt + 0.5


@pytest.mark.parametrize("ext,codec", [("mkv", "mpeg4"), ("avi", "mpeg4"), ("mov", "mpeg4"),
                                       ("webm", "libvpx"), ("mp4", "libx264")])
def test_containers(tmp_path, ext, codec):
    path = write_video(tmp_path / f"clip.{ext}", 60, codec=codec, gop=12)
    info = probe(path)
    assert (info.kind, info.width, info.height, info.num_frames) == ("video", 32, 32, 60)
    if ext in ("mkv", "webm"):
        import av

        with av.open(str(path)) as c:  # these headers carry no frame count: we count packets
            assert c.streams.video[0].frames == 0
    assert info.fps == pytest.approx(25, abs=0.01)
    ref, count = _reference_frames(path, set(range(60)))
    assert count == 60
    with open_video(path, cache_frames=3) as v:
        for i in [59, 0, 30, 13, 12, 11, 31, 32, 45]:
            assert np.array_equal(v.frame(i), ref[i])
            assert read_digit_frame(v.frame(i)) == i


@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_display_rotation_is_applied(tmp_path, degrees):
    import av

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        s.set_display_rotation(degrees)
        for i in range(3):
            a = np.zeros((32, 48, 3), np.uint8)
            a[:16, :24] = 255  # bright top-left quadrant as stored
            for p in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    # counter-clockwise display rotation, as players show it
    stored = np.zeros((32, 48), bool)
    stored[:16, :24] = True
    want = np.rot90(stored, degrees // 90)
    info = probe(path)
    assert (info.height, info.width) == want.shape
    with open_video(path) as v:
        got = v.frame(2)[..., 0] > 128
        assert got.shape == want.shape and (got == want).mean() > 0.97


def test_frame_folder_numeric_order(tmp_path):
    from PIL import Image

    for i in range(12):  # unpadded names: lexical order would put 10 before 2
        Image.fromarray(digit_frame(i)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    info = probe(tmp_path)
    assert (info.kind, info.num_frames, info.width, info.height) == ("frames", 12, 32, 32)
    with open_video(tmp_path) as v:
        assert [read_digit_frame(v.frame(i)) for i in range(12)] == list(range(12))
        assert v.files[10].name == "10.png"


def test_frame_folder_davis_style(shared_data):
    seq = shared_data / "davis2016" / "JPEGImages" / "480p" / "blackswan"
    names = sorted(p.name for p in seq.glob("*.jpg"))
    with open_video(seq) as v:
        assert v.num_frames == len(names)
        assert (v.width, v.height) == (854, 480)
        assert [p.name for p in v.files] == names
        assert v.frame(len(names) - 1).shape == (480, 854, 3)


def test_frame_folder_size_mismatch(tmp_path):
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "00000.png")
    Image.new("RGB", (16, 32)).save(tmp_path / "00001.png")
    with open_video(tmp_path) as v:
        with pytest.raises(MediaError, match="00001.png"):
            v.frame(1)


def _one_line(err):
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_video_errors(tmp_path, shared_data):
    with pytest.raises(MediaError) as e:
        open_video(tmp_path / "missing.mp4")
    assert "missing.mp4" in _one_line(e)

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(MediaError) as e:
        open_video(junk)
    assert "junk.mp4" in _one_line(e)

    cut = tmp_path / "cut.mp4"
    data = (shared_data / "videos" / "02_hummingbird.mp4").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError) as e:
        with open_video(cut) as v:  # may open (moov first) but must not return wrong frames
            for i in range(v.num_frames):
                v.frame(i)
    assert "cut.mp4" in _one_line(e)

    with pytest.raises(MediaError) as e:
        open_video(tmp_path / "empty_dir")
    assert "empty_dir" in _one_line(e)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(MediaError) as e:
        open_video(tmp_path / "empty_dir")
    assert "no image frames" in _one_line(e)

    (tmp_path / "a.xyz").write_text("x")
    with pytest.raises(MediaError) as e:
        probe(tmp_path / "a.xyz")
    assert "a.xyz" in _one_line(e)


def test_closed_source_and_bounds(shared_data):
    v = open_video(shared_data / "videos" / "02_hummingbird.mp4")
    with pytest.raises(IndexError):
        v.frame(v.num_frames)
    with pytest.raises(IndexError):
        v.frame(-1)
    v.close()
    with pytest.raises(MediaError):
        v.frame(1)
