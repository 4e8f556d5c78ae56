import pytest

from media_synth import write_video


@pytest.fixture(scope="session")
def long_video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("long") / "long.mp4", 10_000, gop=250)
