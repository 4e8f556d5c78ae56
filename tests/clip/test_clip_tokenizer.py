"""Our CLIP tokenizer against the reference (transformers' CLIPTokenizer) on the same files.

The vocabulary is synthetic (clip_synth: trained on the strings, CLIP's file layout); the
1 200 strings cover cases, contractions, unicode (accents, NFD input, CJK, RTL, emoji, zero
width), punctuation, digits and texts past the 77-token context.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import clip_synth

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tokenizers_pair(clip_vocab):
    transformers = pytest.importorskip("transformers", reason="reference tokenizer is a test extra")
    from annotator.engines.clip_tokenizer import ClipTokenizer

    vocab, merges = clip_vocab
    return ClipTokenizer(vocab, merges), transformers.CLIPTokenizer.from_pretrained(str(vocab.parent))


def test_ids_equal_reference_on_1200_strings(tokenizers_pair):
    ours, ref = tokenizers_pair
    texts = clip_synth.strings(1200)
    assert len(set(texts)) > 1100
    differ = [t for t in texts if ours.ids(t) != ref(t, truncation=True, max_length=77)["input_ids"]]
    assert not differ, f"{len(differ)} strings differ, first {differ[0]!r}"
    # the set really exercises merges and truncation
    lengths = [len(ours.ids(t)) for t in texts]
    assert sum(n == 77 for n in lengths) >= 20
    assert max(len(ours._tok.id_to_token(i)) for t in texts[:200] for i in ours.ids(t)[1:-1]) >= 6


def test_padded_batch_equals_reference(tokenizers_pair):
    ours, ref = tokenizers_pair
    texts = clip_synth.strings(300)[-64:]
    got = ours.encode(texts)
    want = ref(texts, padding="max_length", truncation=True, max_length=77, return_tensors="np")["input_ids"]
    assert got.shape == (64, 77) and got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert (ours.end_positions(got) == [len(ours.ids(t)) - 1 for t in texts]).all()


def test_bad_files_are_one_clear_error(tmp_path, clip_vocab):
    from annotator.engines.clip_tokenizer import ClipTokenizer, TokenizerFilesError

    vocab, merges = clip_vocab
    (tmp_path / "v.json").write_text("[1, 2]")
    with pytest.raises(TokenizerFilesError, match="v.json"):
        ClipTokenizer(tmp_path / "v.json", merges)
    (tmp_path / "m.txt").write_text("#version: 0.2\nab cd ef\n")
    with pytest.raises(TokenizerFilesError, match=r"m.txt:2"):
        ClipTokenizer(vocab, tmp_path / "m.txt")
    with pytest.raises(TokenizerFilesError, match="missing.txt"):
        ClipTokenizer(vocab, tmp_path / "missing.txt")
