import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # clip_synth


@pytest.fixture(scope="session")
def clip_vocab(tmp_path_factory):
    """(vocab.json, merges.txt) of a small synthetic CLIP vocabulary (clip_synth)."""
    import clip_synth

    return clip_synth.write_vocab(tmp_path_factory.mktemp("clip_vocab"))


ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("ANNOTATOR_SHARED", ROOT.parent / "shared")).resolve() / "data"


@pytest.fixture(scope="session")
def clip_photos():
    """The shared photos as RGB uint8 arrays."""
    from annotator.media.image import load_image

    files = sorted(DATA.glob("images_*.jpg"))
    if not files:
        pytest.skip(f"shared photos not found in {DATA}")
    return [load_image(p) for p in files]
