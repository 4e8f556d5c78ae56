"""Test material for CLIP: a small synthetic BPE vocabulary in CLIP's file layout, a fixed list of
varied strings, and small CLIP configurations.

No real CLIP vocabulary can be downloaded here, so the vocabulary is trained (tokenizers' BPE
trainer, CLIP's word splitting, `</w>` end-of-word suffix) on the strings themselves and laid
out the way CLIP's files are: the 256 byte characters, the same with `</w>`, one token per
merge in merge order, then <|startoftext|> and <|endoftext|> (the end token is the largest id,
as in CLIP).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = (
    "a photo of the car dog cat person bicycle tree sky road building window red blue green small "
    "large cropped blurry bright dark close-up picture sculpture painting rendering toy plastic "
    "there is one two three many in on under with and or not it's they're we've I'm you'll he'd "
    "annotation mask segment object label category zebra giraffe motorbike traffic light stop sign"
).split()
UNICODE = [
    "café", "naïve", "Crème brûlée", "cafe\u0301", "Ångström", "straße", "ＡＢＣ full width", "東京タワー",
    "北京", "한국어 문장", "русский текст", "ελληνικά", "עברית", "العربية", "हिन्दी", "ภาษาไทย",
    "emoji 🐶🚗✨", "👨‍👩‍👧 family", "ﬁ ligature", "Ⅻ roman", "½ half", "x² squared", "\u00a0nbsp",
    "tab\there", "new\nline", "  many   spaces  ", "\u3000ideographic space", "zero\u200bwidth",
]
PUNCT = ["!", "?", "...", "--", "(", ")", "[x]", "{y}", "\"quoted\"", "'single'", "#tag", "@user",
         "a/b", "c\\d", "100%", "$5.99", "3.14159", "1,000,000", "e-mail", "<tag>", "&amp;", "→", "©"]


def strings(n: int = 1200, seed: int = 17) -> list[str]:
    """`n` fixed strings: words, cases, contractions, unicode, punctuation, digits, long texts."""
    rng = random.Random(seed)
    out = ["", " ", "a", "A", "<|startoftext|>", "<|endoftext|>", "a photo of a <|endoftext|> car"]
    out += UNICODE + PUNCT
    while len(out) < n:
        kind = rng.random()
        k = rng.randint(1, 12)
        parts = []
        for _ in range(k):
            r = rng.random()
            if r < 0.6:
                w = rng.choice(WORDS)
                parts.append(w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.2 else w)
            elif r < 0.75:
                parts.append(rng.choice(UNICODE))
            elif r < 0.9:
                parts.append(rng.choice(PUNCT))
            else:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 8))))
        sep = rng.choice([" ", " ", " ", "", "  ", "\t", ", "])
        text = sep.join(parts)
        if kind < 0.05:  # long texts, past the 77-token context
            text = " ".join([text] * rng.randint(8, 20))
        out.append(text)
    return out[:n]


def write_vocab(folder: Path, n_merges: int = 1500) -> tuple[Path, Path]:
    """Train merges on `strings()` and write vocab.json + merges.txt in CLIP's layout."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    from annotator.engines.clip_tokenizer import _SPLIT

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    assert len(alphabet) == 256
    tok = Tokenizer(BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(_SPLIT), "removed", invert=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    trainer = trainers.BpeTrainer(vocab_size=512 + n_merges, initial_alphabet=alphabet, end_of_word_suffix="</w>",
                                  show_progress=False, min_frequency=1)
    tok.train_from_iterator(strings() * 2, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]
    vocab_list = alphabet + [c + "</w>" for c in alphabet]
    seen = set(vocab_list)
    kept = []
    for a, b in merges:
        if a + b not in seen:
            vocab_list.append(a + b)
            seen.add(a + b)
        kept.append((a, b))
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps({t: i for i, t in enumerate(vocab_list)}, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in kept) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def small_arch(vocab_size: int, end_id: int, image_size: int = 224, embed_dim: int = 32) -> dict:
    """A CLIP with the real structure but 2-3 layers and small widths (fast on a CPU)."""
    return dict(family="clip", embed_dim=embed_dim, act="quick_gelu", layer_norm_eps=1e-5,
                vision=dict(width=64, layers=3, heads=4, patch_size=16, image_size=image_size),
                text=dict(width=48, layers=2, heads=4, vocab_size=vocab_size, context_length=77, end_id=end_id))


def small_card(arch: dict, dense_size: int = 96):
    from annotator.engines.registry import Card

    return Card(
        name="clip_small", title="small CLIP (tests)", kind="clip", arch=arch,
        input=dict(image_size=arch["vision"]["image_size"], resize="shortest_side_center_crop",
                   pixel_mean=[0.48145466, 0.4578275, 0.40821073], pixel_std=[0.26862954, 0.26130258, 0.27577711],
                   pixel_scale=1, dense_size=dense_size),
        checkpoint={"file": "clip_small.safetensors", "urls": [], "container": "state_dict"},
        licence={"name": "test", "commercial": True}, schema=None, params=None, path=Path("clip_small.yaml"))


def install_small_clip(monkeypatch, tmp_path: Path, clip_model, vocab: Path, merges: Path) -> str:
    """Make `clip_small` an installed CLIP card: a cards folder with the repository's cards plus
    its card, and a models folder with its weights (safetensors) and tokenizer files."""
    import shutil

    import yaml
    from safetensors.torch import save_file

    from annotator import paths

    cards, models = tmp_path / "cards", tmp_path / "models"
    shutil.copytree(paths.cards_dir(), cards)
    models.mkdir()
    card = clip_model.card
    doc = {"name": card.name, "title": card.title, "kind": "clip", "arch": card.arch, "input": card.input,
           "checkpoint": dict(card.checkpoint, sha256=None, size=None, extra_files=[
               {"file": "small-vocab.json", "role": "vocab"}, {"file": "small-merges.txt", "role": "merges"}]),
           "licence": card.licence, "schema": None, "params": None}
    (cards / f"{card.name}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    shutil.copy(vocab, models / "small-vocab.json")
    shutil.copy(merges, models / "small-merges.txt")
    save_file({k: v.contiguous() for k, v in clip_model.model.state_dict().items()}, str(models / card.file))
    monkeypatch.setenv("ANNOTATOR_CARDS_DIR", str(cards))
    monkeypatch.setenv("ANNOTATOR_MODELS_DIR", str(models))
    return card.name
