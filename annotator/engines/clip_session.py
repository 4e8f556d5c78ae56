"""ClipSession: CLIP over one image at a time, cached per image like the SAM embedding.

`set_image` computes MaskCLIP dense features once per image (content hash; memory LRU and the
user cache dir); label embeddings are cached the same way (per weights, vocabulary, templates). Then, for any list of words:

- `text_embeddings(labels)`: prompt ensembling, the mean of the normalised embeddings of each
  label in every template ("a photo of a {}.", ...), normalised again; cached per label.
- `dense_scores(labels)`: per-patch cosine similarities and probabilities (softmax over the
  labels plus a small background vocabulary, at CLIP's logit scale), with MaskCLIP's two
  refinements as options: prompt denoising (a label that no patch gives at least
  `denoise_threshold` is dropped: it is probably not in the image) and key smoothing (each
  patch's probabilities averaged over the patches, weighted by how alike their last-block keys
  are).
- `mask_embedding(mask)`: dense features pooled inside a mask; `crop_embedding(rgb, mask)`: the
  image tower on the mask's box crop with the background greyed (Open-Vocabulary SAM's two naive
  baselines).
torch is imported lazily (engines layer rule).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from annotator.engines.clip_model import ClipModel, crop_view, dense_view
from annotator.engines.feature_cache import FeatureCache


# Prompt-ensembling templates: CLIP's zero-shot recipe, a short list of the usual phrasings.
TEMPLATES = (
    "a photo of a {}.", "a photo of the {}.", "a photo of one {}.", "a photo of a small {}.",
    "a photo of a large {}.", "a cropped photo of a {}.", "a close-up photo of a {}.",
    "a bright photo of a {}.", "a dark photo of a {}.", "a blurry photo of a {}.",
    "there is a {} in the scene.", "a picture of a {}.",
)
# Words that compete with the query for "not the object" patches, so one query still gives a
# probability map (a label equal to one of these is not doubled).
BACKGROUND = ("background", "sky", "wall", "floor", "ground", "grass", "tree", "building", "road", "water")
GREY = np.array([122, 116, 104], np.uint8)  # about CLIP's mean colour: "nothing here"


@dataclass
class DenseScores:
    """Per-patch scores for `labels` on a gh x gw grid over the whole image.
    similarity: cosine [n, gh, gw]; probs: [n, gh, gw] (softmax over labels + background);
    kept: bool [n] (False where prompt denoising dropped the label)."""

    labels: list[str]
    similarity: np.ndarray
    probs: np.ndarray
    kept: np.ndarray
    image_hw: tuple[int, int]

    def upsampled(self, i: int) -> np.ndarray:
        """Label i's probability map at image size (bilinear), float32 HxW."""
        import cv2

        h, w = self.image_hw
        return cv2.resize(self.probs[i].astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


class ClipSession:
    def __init__(self, clip: ClipModel, residual: bool = True, dense_size: int | None = None,
                 templates: Sequence[str] = TEMPLATES, disk_cache: bool = True):
        self.clip = clip
        self.name = clip.name
        self.residual = residual
        self.dense_size = int(dense_size or clip.dense_size)
        self.templates = tuple(templates)
        self.cache = FeatureCache("clip_dense", self.name, disk=disk_cache)
        self.text_cache = FeatureCache("clip_text", self.name, disk=disk_cache)  # disk only: _text is the memory
        self._text: dict[tuple, np.ndarray] = {}
        self.dense_runs = 0
        self.text_runs = 0  # text-tower batches run (cache misses)
        self.features: np.ndarray | None = None  # [gh, gw, D], unit length
        self.keys: np.ndarray | None = None  # [gh*gw, C], unit length
        self.image_hw: tuple[int, int] | None = None

    @property
    def logit_scale(self) -> float:
        return float(self.clip.model.logit_scale.detach().exp())

    # ------------------------------------------------------------------ image side

    @property
    def disk_cache(self) -> bool:
        return self.cache.disk

    @disk_cache.setter
    def disk_cache(self, on: bool) -> None:
        self.cache.disk = self.text_cache.disk = bool(on)

    def _cache_key(self, rgb: np.ndarray) -> str:
        return self.cache.key(f"clip|{self.name}|{self.clip.weights_id}|{self.dense_size}|{self.residual}", rgb)

    def set_image(self, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")
        rgb = rgb[..., :3]

        def compute():
            features, keys = self.dense_uncached(rgb)
            return {"features": features, "keys": keys}

        hit = self.cache.get(self._cache_key(rgb), compute)
        self.features, self.keys = hit["features"], hit["keys"]
        self.image_hw = rgb.shape[:2]

    def dense_uncached(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F

        view = dense_view(rgb, self.dense_size, self.clip.patch)
        with torch.inference_mode():
            feats, keys = self.clip.model.dense(self.clip.pixels([view]), residual=self.residual)
            feats = F.normalize(feats[0], dim=-1)
            keys = F.normalize(keys[0], dim=-1)
        self.dense_runs += 1
        return feats.numpy().astype(np.float32), keys.numpy().astype(np.float32)

    def _need_image(self):
        if self.features is None:
            raise RuntimeError("call set_image first")

    def image_embeddings(self, views: list[np.ndarray]) -> np.ndarray:
        """The image tower on CLIP's own view of each image: unit vectors [n, D]."""
        import torch
        import torch.nn.functional as F

        s = self.clip.image_size
        with torch.inference_mode():
            e = self.clip.model.encode_image(self.clip.pixels([crop_view(v, s) for v in views]))
        return F.normalize(e, dim=-1).numpy()

    # ------------------------------------------------------------------ text side

    def text_embeddings(self, labels: Sequence[str], ensemble: bool = True) -> np.ndarray:
        """Unit vectors [n, D], one per label (prompt-ensembled unless ensemble=False)."""
        import torch
        import torch.nn.functional as F

        templates = self.templates if ensemble else ("{}",)
        todo = [lb for lb in dict.fromkeys(labels) if (lb, templates) not in self._text]
        for lb in list(todo):  # a label seen by an earlier run (background words always are)
            v = self._load_text(lb, templates)
            if v is not None:
                self._text[(lb, templates)] = v
                todo.remove(lb)
        if todo:
            texts = [t.format(lb) for lb in todo for t in templates]
            self.text_runs += 1
            with torch.inference_mode():
                e = F.normalize(self.clip.model.encode_text(torch.from_numpy(self.clip.tokenizer.encode(texts))), dim=-1)
            e = F.normalize(e.view(len(todo), len(templates), -1).mean(1), dim=-1).numpy()
            for lb, v in zip(todo, e):
                self._text[(lb, templates)] = v
                self._save_text(lb, templates, v)
        return np.stack([self._text[(lb, templates)] for lb in labels]) if labels else np.zeros((0, 1), np.float32)

    def _text_key(self, label: str, templates: tuple) -> str:
        import json

        return hashlib.sha256(json.dumps([self.clip.weights_id, self.clip.tokenizer.identity,
                                          sorted(self.clip.card.arch.items(), key=str), list(templates), label],
                                         default=str).encode("utf-8")).hexdigest()

    def _load_text(self, label: str, templates: tuple):
        hit = self.text_cache.load(self._text_key(label, templates))
        v = None if hit is None else hit.get("embedding")
        return v if v is not None and v.ndim == 1 else None

    def _save_text(self, label: str, templates: tuple, v: np.ndarray) -> None:
        self.text_cache.save(self._text_key(label, templates), {"embedding": v.astype(np.float32)})

    # ------------------------------------------------------------------ dense scores

    def dense_scores(self, labels: Sequence[str], background: Sequence[str] = BACKGROUND,
                     key_smoothing: bool = False, smooth_k: int | None = None, smooth_threshold: float = 1.0,
                     prompt_denoising: bool = False, denoise_threshold: float = 0.5) -> DenseScores:
        """MaskCLIP's order: prompt denoising on the raw scores, then key smoothing of the
        probabilities of the patches less sure than `smooth_threshold` (1.0: all of them)."""
        self._need_image()
        labels = list(labels)
        bg = [b for b in background if b not in labels]
        t = self.text_embeddings(labels + bg)
        gh, gw, d = self.features.shape
        sim = self.features.reshape(-1, d) @ t.T  # [N, n + nb]
        logits = self.logit_scale * sim
        probs = _softmax(logits)
        n = len(labels)
        kept = np.ones(n, bool)
        if prompt_denoising and n:
            kept = probs[:, :n].max(0) >= denoise_threshold
            cols = np.concatenate([np.flatnonzero(kept), np.arange(n, n + len(bg))]).astype(int)
            probs = np.zeros_like(probs)
            probs[:, cols] = _softmax(logits[:, cols])  # the dropped labels no longer compete
        if key_smoothing:
            probs = self._smooth(probs, smooth_k, smooth_threshold)
        return DenseScores(labels, sim[:, :n].T.reshape(n, gh, gw).astype(np.float32),
                           probs[:, :n].T.reshape(n, gh, gw).astype(np.float32), kept, self.image_hw)

    def _smooth(self, probs: np.ndarray, k: int | None, threshold: float = 1.0) -> np.ndarray:
        """Key smoothing: a patch's probabilities become the average over the patches (all, or
        its k most alike) weighted by the cosine similarity of their last-block keys. Negative
        similarities are dropped here so the result stays a probability; only patches whose
        top probability is below `threshold` change."""
        sim = self.keys @ self.keys.T
        w = np.clip(sim, 0, None)
        if k is not None:
            k = max(1, min(int(k), sim.shape[0]))
            idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            mask = np.zeros_like(w, dtype=bool)
            np.put_along_axis(mask, idx, True, axis=1)
            w = np.where(mask, w, 0.0)
        w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
        smoothed = w @ probs
        unsure = probs.max(1) < threshold
        return np.where(unsure[:, None], smoothed, probs)

    # ------------------------------------------------------------------ masks

    def mask_embedding(self, mask: np.ndarray) -> np.ndarray:
        """Dense features pooled inside a bool HxW mask (each patch weighted by the part of it
        the mask covers): a unit vector [D]."""
        import cv2

        self._need_image()
        gh, gw, d = self.features.shape
        m = np.asarray(mask, np.float32)
        if m.shape != tuple(self.image_hw):
            raise ValueError(f"mask {m.shape} does not match the image {self.image_hw}")
        cover = cv2.resize(m, (gw, gh), interpolation=cv2.INTER_AREA)
        if cover.sum() <= 0:
            cover = cv2.resize(m, (gw, gh), interpolation=cv2.INTER_LINEAR)
        if cover.sum() <= 0:
            return np.zeros(d, np.float32)
        v = (cover.reshape(-1, 1) * self.features.reshape(-1, d)).sum(0)
        return (v / max(np.linalg.norm(v), 1e-12)).astype(np.float32)

    def crop_embeddings(self, rgb: np.ndarray, masks: Sequence[np.ndarray], margin: float = 0.1) -> np.ndarray:
        """Image tower on each mask's box (with a margin), pixels outside the mask grey: [n, D]."""
        views = [masked_crop(rgb, m, margin) for m in masks]
        return self.image_embeddings(views) if views else np.zeros((0, 1), np.float32)


def masked_crop(rgb: np.ndarray, mask: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """The square around a mask's box (plus margin), outside the mask painted grey."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    if len(xs) == 0:
        return np.broadcast_to(GREY, (16, 16, 3)).copy()
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = int(max(x1 - x0, y1 - y0) * (1 + 2 * margin)) + 1
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    out = np.broadcast_to(GREY, (side, side, 3)).copy()
    sx0, sy0 = cx - side // 2, cy - side // 2
    ix0, iy0, ix1, iy1 = max(sx0, 0), max(sy0, 0), min(sx0 + side, w), min(sy0 + side, h)
    patch = rgb[iy0:iy1, ix0:ix1].copy()
    patch[~mask[iy0:iy1, ix0:ix1]] = GREY
    out[iy0 - sy0: iy1 - sy0, ix0 - sx0: ix1 - sx0] = patch
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def create_clip_session(name: str | None = None, weights=None, **kw) -> ClipSession:
    """A session over an installed CLIP card (the first installed of clip_b16, clip_l14, ...)."""
    from annotator.engines import registry
    from annotator.engines.clip_model import load_clip

    card = registry.get_card(name) if name else default_clip_card()
    w = registry.resolve_weights(card, weights)
    return ClipSession(load_clip(card, w), **kw)


CLIP_PREFERENCE = ("clip_b16", "clip_l14", "clip_l14_336")


def default_clip_card():
    from annotator.engines import registry
    from annotator.errors import ModelNotAvailableError

    cards = registry.load_cards()
    for name in CLIP_PREFERENCE + tuple(sorted(n for n, c in cards.items() if c.kind == "clip")):
        c = cards.get(name)
        if c is not None and c.kind == "clip" and registry.installed_path(c) is not None:
            return c
    raise ModelNotAvailableError("no CLIP model is installed; `annotator models download clip_b16` gets one")
