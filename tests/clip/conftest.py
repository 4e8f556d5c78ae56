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


@pytest.fixture(scope="session")
def small_clip(clip_vocab):
    """A small CLIP (clip_synth.small_arch) with the parity fill (salt "random") and the synthetic
    vocabulary: a real annotator ClipModel, only narrower and shallower."""
    import clip_synth

    from annotator.engines.clip_model import load_clip
    from annotator.engines.clip_tokenizer import ClipTokenizer

    vocab, merges = clip_vocab
    tok = ClipTokenizer(vocab, merges)
    return load_clip(clip_synth.small_card(clip_synth.small_arch(tok.vocab_size, tok.end_id)), "random", vocab, merges)
