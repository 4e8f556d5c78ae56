"""A CLIP card made usable: the model with its weights (strictly loaded), its tokenizer, and
CLIP's image preprocessing (whole-image crop for embeddings, full view for dense features).

weights: "random" (deterministic fill, salt "random"), a state dict, or a checkpoint path
(safetensors / weights-only torch) in the Hugging Face layout or OpenAI's (converted on load).
OpenAI's released `.pt` files are TorchScript archives, which are not loaded (code, not data). torch is imported
lazily (engines layer rule).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from annotator.engines.clip_tokenizer import ClipTokenizer
from annotator.errors import ModelNotAvailableError

log = logging.getLogger(__name__)


def _pil_resize(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.BICUBIC))


def crop_view(rgb: np.ndarray, size: int) -> np.ndarray:
    """CLIP's own view of an image: shortest side -> size (bicubic), centre size x size crop."""
    h, w = rgb.shape[:2]
    short, long_ = (h, w) if h <= w else (w, h)
    new_long = int(size * long_ / short)
    nh, nw = (size, new_long) if h <= w else (new_long, size)
    small = _pil_resize(rgb, nw, nh) if (nh, nw) != (h, w) else rgb
    top, left = (nh - size) // 2, (nw - size) // 2
    return small[top: top + size, left: left + size]


def dense_view(rgb: np.ndarray, longest: int, patch: int) -> np.ndarray:
    """The whole image for dense features: longest side -> `longest`, both sides a multiple of
    the patch (aspect kept to within one patch)."""
    h, w = rgb.shape[:2]
    s = longest / max(h, w)
    nh = max(patch, int(round(h * s / patch)) * patch)
    nw = max(patch, int(round(w * s / patch)) * patch)
    return _pil_resize(rgb, nw, nh) if (nh, nw) != (h, w) else rgb


@dataclass
class ClipModel:
    card: object
    model: object  # annotator.nn.clip.Clip
    tokenizer: ClipTokenizer
    weights_id: str

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def patch(self) -> int:
        return int(self.card.arch["vision"]["patch_size"])

    @property
    def image_size(self) -> int:
        return int(self.card.input["image_size"])

    @property
    def dense_size(self) -> int:
        return int(self.card.input.get("dense_size") or 2 * self.image_size)

    def pixels(self, views: list[np.ndarray]):
        """uint8 HxWx3 views (all one size) -> normalised float tensor [B,3,H,W]."""
        import torch

        mean = np.asarray(self.card.input["pixel_mean"], np.float32)
        std = np.asarray(self.card.input["pixel_std"], np.float32)
        scale = float(self.card.input.get("pixel_scale", 1))
        a = np.stack([np.asarray(v, np.float32) for v in views]) / (255.0 / scale)
        a = (a - mean) / std
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))


def tokenizer_files(card) -> tuple[Path, Path]:
    from annotator.engines.registry import extra_file_path

    roles = {e.get("role"): extra_file_path(e) for e in card.extra_files}
    if "vocab" not in roles or "merges" not in roles:
        raise ModelNotAvailableError(f"model {card.name}: the card names no vocab/merges tokenizer files")
    missing = [p.name for p in (roles["vocab"], roles["merges"]) if not p.is_file()]
    if missing:
        raise ModelNotAvailableError(
            f"model {card.name}: tokenizer file(s) {', '.join(missing)} missing in {roles['vocab'].parent}; "
            f"`annotator models download {card.name}` fetches them")
    return roles["vocab"], roles["merges"]


def load_clip(card, weights="random", vocab: str | Path | None = None, merges: str | Path | None = None) -> ClipModel:
    """Build the card's CLIP, load `weights` strictly, read its tokenizer files (the card's
    extra files in the models folder unless `vocab`/`merges` are given)."""
    import torch

    from annotator.engines import checkpoint as ck
    from annotator.engines.registry import get_card
    from annotator.nn import factory
    from annotator.nn.fill import fill_model, state_digest

    if isinstance(card, str):
        card = get_card(card)
    if card.kind != "clip":
        raise ModelNotAvailableError(f"model {card.name} is not a CLIP model (kind {card.kind})")
    ctx = int(card.arch["text"]["context_length"])
    if vocab is None or merges is None:
        try:
            vocab, merges = tokenizer_files(card)
        except ModelNotAvailableError:
            if not (isinstance(weights, str) and weights == "random"):
                raise
            vocab = merges = None
    if vocab is None:  # synthetic weights and no vocabulary installed: byte tokens will do
        log.info("model %s: no tokenizer files installed; byte-level tokens for the synthetic weights", card.name)
        tok = ClipTokenizer.bytes_only(int(card.arch["text"]["end_id"]), ctx)
    else:
        tok = ClipTokenizer(vocab, merges, ctx)
    if tok.vocab_size > int(card.arch["text"]["vocab_size"]) or tok.end_id != int(card.arch["text"]["end_id"]):
        raise ModelNotAvailableError(
            f"{vocab}: vocabulary of {tok.vocab_size} tokens (end id {tok.end_id}) does not fit model {card.name} "
            f"({card.arch['text']['vocab_size']} tokens, end id {card.arch['text']['end_id']})")
    with torch.device("cpu"):
        model = factory.build(dict(card.arch))
    if isinstance(weights, str) and weights == "random":
        fill_model(model, "random")
        wid = "random"
    else:
        if isinstance(weights, dict):
            from annotator.nn.clip import standard_layout

            sd, path = standard_layout(dict(weights)), None
        else:
            path = Path(weights)
            sd = ck.load_checkpoint(card, path)  # in our layout (checkpoint.load_checkpoint)
        ck.check_keys(model.state_dict(), sd, card, path)
        model.load_state_dict(sd, strict=True)
        if path is None:
            wid = "sd-" + state_digest(sd)[:16]
        else:
            st = path.stat()
            wid = "file-" + hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    model.eval()
    return ClipModel(card, model, tok, wid)
