"""CLIP's byte-level BPE tokenizer, read from the `vocab.json` + `merges.txt` that ship beside
the weights (Hugging Face layout), run by the `tokenizers` library.

The pipeline is CLIP's: NFC, runs of whitespace -> one space, lower case; words are split into
special tokens, English contractions, letter runs, single digits and runs of other symbols; each
piece is mapped to byte-level characters and merged with the BPE ranks, the last sub-word of a
word carrying the `</w>` suffix. A text becomes `<|startoftext|> ... <|endoftext|>`, cut to the
context length (77) with the end token kept, padded with the end token. The text tower pools at
the first end token, so the padding id never matters to it.

No torch here (engines layer rule); the ids come back as numpy int64.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from annotator.errors import AnnotatorError

START = "<|startoftext|>"
END = "<|endoftext|>"
CONTEXT_LENGTH = 77
# CLIP's word splitter: specials, contractions, letter runs, one digit at a time, symbol runs.
_SPLIT = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
MERGES_HEADER = "#version"


class TokenizerFilesError(AnnotatorError):
    """vocab.json / merges.txt missing or malformed."""


def _read_vocab(path: Path) -> dict[str, int]:
    try:
        vocab = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TokenizerFilesError(f"{path}: cannot read the CLIP vocabulary ({e})") from None
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()):
        raise TokenizerFilesError(f"{path}: a CLIP vocabulary must map token strings to integer ids")
    for special in (START, END):
        if special not in vocab:
            raise TokenizerFilesError(f"{path}: the vocabulary lacks the special token {special}")
    return vocab


def _read_merges(path: Path, vocab: dict[str, int]) -> list[tuple[str, str]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TokenizerFilesError(f"{path}: cannot read the CLIP merges ({e})") from None
    merges = []
    for n, line in enumerate(lines, 1):
        if not line or (n == 1 and line.startswith(MERGES_HEADER)):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise TokenizerFilesError(f"{path}:{n}: a merge line holds two tokens separated by one space")
        if parts[0] + parts[1] not in vocab:
            raise TokenizerFilesError(f"{path}:{n}: merge result {parts[0] + parts[1]!r} is not in the vocabulary")
        merges.append((parts[0], parts[1]))
    return merges


class ClipTokenizer:
    """`encode(texts) -> int64 [n, context_length]`; `ids(text)` without padding."""

    def __init__(self, vocab_file: str | Path, merges_file: str | Path, context_length: int = CONTEXT_LENGTH):
        vocab = _read_vocab(Path(vocab_file))
        self._setup(vocab, _read_merges(Path(merges_file), vocab), context_length)

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], merges: list[tuple[str, str]],
                   context_length: int = CONTEXT_LENGTH) -> "ClipTokenizer":
        self = cls.__new__(cls)
        self._setup(dict(vocab), list(merges), context_length)
        return self

    @classmethod
    def bytes_only(cls, end_id: int, context_length: int = CONTEXT_LENGTH) -> "ClipTokenizer":
        """No merges: one token per byte (and per end-of-word byte), the specials at the ids the
        model expects. For synthetic weights when no vocabulary is installed (benchmarks)."""
        from tokenizers import pre_tokenizers

        chars = sorted(pre_tokenizers.ByteLevel.alphabet())
        vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
        vocab[START], vocab[END] = end_id - 1, end_id
        return cls.from_vocab(vocab, [], context_length)

    def _setup(self, vocab: dict[str, int], merges: list[tuple[str, str]], context_length: int) -> None:
        from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
        from tokenizers.models import BPE

        tok = Tokenizer(BPE(vocab=vocab, merges=merges, end_of_word_suffix="</w>", continuing_subword_prefix="",
                            unk_token=END, fuse_unk=False, dropout=None))
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            # keep the matches, drop what lies between them (the spaces)
            pre_tokenizers.Split(Regex(_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ])
        # the specials are matched in the raw text, before normalisation, and never merged
        tok.add_special_tokens([START, END])
        self._tok = tok
        self.start_id = vocab[START]
        self.end_id = vocab[END]
        self.pad_id = self.end_id
        self.vocab_size = max(vocab.values()) + 1
        self.context_length = int(context_length)
        # what the ids depend on, for caches of text embeddings
        h = hashlib.sha256(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode("utf-8"))
        h.update("\n".join(f"{a} {b}" for a, b in merges).encode("utf-8"))
        h.update(str(self.context_length).encode())
        self.identity = h.hexdigest()[:16]

    @classmethod
    def from_folder(cls, folder: str | Path, vocab: str = "vocab.json", merges: str = "merges.txt") -> "ClipTokenizer":
        folder = Path(folder)
        return cls(folder / vocab, folder / merges)

    def ids(self, text: str) -> list[int]:
        """Token ids of one text: start, the BPE tokens, end; cut to the context length."""
        body = self._tok.encode(text, add_special_tokens=False).ids
        body = body[: self.context_length - 2]
        return [self.start_id, *body, self.end_id]

    def encode(self, texts: str | Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        out = np.full((len(texts), self.context_length), self.pad_id, dtype=np.int64)
        bodies = self._tok.encode_batch(list(texts), add_special_tokens=False)
        for i, enc in enumerate(bodies):
            row = [self.start_id, *enc.ids[: self.context_length - 2], self.end_id]
            out[i, : len(row)] = row
        return out

    def end_positions(self, ids: np.ndarray) -> np.ndarray:
        """Index of the first end token in each row (where the text tower pools)."""
        return np.argmax(np.asarray(ids) == self.end_id, axis=1)
