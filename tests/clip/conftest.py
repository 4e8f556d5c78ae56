import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # clip_synth


@pytest.fixture(scope="session")
def clip_vocab(tmp_path_factory):
    """(vocab.json, merges.txt) of a small synthetic CLIP vocabulary (clip_synth)."""
    import clip_synth

    return clip_synth.write_vocab(tmp_path_factory.mktemp("clip_vocab"))
