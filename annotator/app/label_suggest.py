"""Label suggestions: for one mask, the project's categories ranked with scores.

Two signals, both from CLIP (a ClipSession):
- zero-shot: the mask's embedding against each category name (prompt-ensembled), softmax at
  CLIP's logit scale;
- few-shot: the same embedding against prototypes, the mean embedding of the objects already
  labelled with each category in this project (softmax at the same scale over the categories
  that have examples).
The mask's embedding is `pooled` (MaskCLIP dense features pooled inside the mask), `crop` (the
image tower on the masked box crop), or `both` (their normalised sum); `annotator eval labels`
measures which ranks better. Once a category has examples the two signals are mixed,
`few_shot_weight` going to the prototypes. No Qt; torch only through the session.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

METHODS = ("pooled", "crop", "both")


@dataclass
class Suggestion:
    label: str
    score: float  # the ranking: mixed probability
    zero_shot: float
    few_shot: float | None  # None: no examples of this category yet


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


class LabelSuggester:
    def __init__(self, clip_session, categories: Sequence[str], method: str = "pooled",
                 few_shot_weight: float = 0.5):
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        self.session = clip_session
        self.categories = list(dict.fromkeys(c for c in categories if c))
        self.method = method
        self.few_shot_weight = float(few_shot_weight)
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}
        self._text = clip_session.text_embeddings(self.categories) if self.categories else None

    # ---------------------------------------------------------------- embeddings

    def embed(self, rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The mask's unit embedding by this suggester's method."""
        mask = np.asarray(mask, bool)
        parts = []
        if self.method in ("pooled", "both"):
            self.session.set_image(rgb)  # cached per image
            parts.append(self.session.mask_embedding(mask))
        if self.method in ("crop", "both"):
            parts.append(self.session.crop_embeddings(rgb, [mask])[0])
        v = np.sum(parts, axis=0)
        n = np.linalg.norm(v)
        return (v / n).astype(np.float32) if n > 0 else v.astype(np.float32)

    # ---------------------------------------------------------------- few-shot

    def add_example(self, category: str, embedding: np.ndarray) -> None:
        if category not in self.categories:
            return
        self._sums[category] = self._sums.get(category, 0) + np.asarray(embedding, np.float32)
        self._counts[category] = self._counts.get(category, 0) + 1

    def examples(self) -> dict[str, int]:
        return dict(self._counts)

    def clear_examples(self) -> None:
        self._sums.clear()
        self._counts.clear()

    # ---------------------------------------------------------------- ranking

    def rank_embedding(self, v: np.ndarray, top: int | None = None) -> list[Suggestion]:
        if not self.categories:
            return []
        scale = self.session.logit_scale
        zs = _softmax(scale * (self._text @ v))
        fs = np.full(len(self.categories), np.nan)
        have = [i for i, c in enumerate(self.categories) if c in self._sums]
        score = zs.copy()
        if have:
            protos = np.stack([self._sums[self.categories[i]] for i in have])
            protos /= np.maximum(np.linalg.norm(protos, axis=1, keepdims=True), 1e-12)
            p = _softmax(scale * (protos @ v))
            fs[have] = p
            w = self.few_shot_weight
            score = (1 - w) * zs
            score[have] += w * p
        order = np.argsort(-score, kind="stable")
        if top is not None:
            order = order[:top]
        return [Suggestion(self.categories[i], float(score[i]), float(zs[i]),
                           None if np.isnan(fs[i]) else float(fs[i])) for i in order]

    def suggest(self, rgb: np.ndarray, mask: np.ndarray, top: int | None = 5) -> list[Suggestion]:
        return self.rank_embedding(self.embed(rgb, mask), top)


# -------------------------------------------------------------------- from a project


def item_frame(item, frame: int = 0) -> np.ndarray:
    """RGB of one frame of a project item (image, frame folder or video)."""
    from annotator.media import read_frame

    return read_frame(item.abspath, frame)


def labelled_records(project, exclude_track: int | None = None, per_category: int = 20) -> list[tuple]:
    """(category name, item, mask record) of objects that have a category, at most
    `per_category` per category, one mask per object (its first frame). Reads the store only
    (the GUI gathers these on its thread and embeds them in the worker)."""
    names = {c.id: c.name for c in project.categories()}
    seen: dict[str, int] = {}
    items = {it.id: it for it in project.items()}
    out = []
    for t in project.tracks():
        if t.category_id is None or t.id == exclude_track:
            continue
        name = names.get(t.category_id)
        if name is None or seen.get(name, 0) >= per_category:
            continue
        recs = project.masks(track_id=t.id)
        if not recs:
            continue
        seen[name] = seen.get(name, 0) + 1
        out.append((name, items[t.item_id], recs[0]))
    return out


def labelled_objects(project, exclude_track: int | None = None, per_category: int = 20) -> Iterable[tuple]:
    """(category name, item, frame, bool mask) of labelled_records."""
    from annotator.core import rle

    for name, item, rec in labelled_records(project, exclude_track, per_category):
        yield name, item, rec.frame, rle.decode(rec.rle).astype(bool)


def learn_from_records(suggester: LabelSuggester, records: Iterable[tuple], cache: dict | None = None,
                       load=item_frame) -> int:
    """Add (name, item, mask record) examples; returns how many. `cache` (kept by the caller
    across calls) maps an example's identity (media, track, frame, mask, method) to its embedding, so
    objects already embedded are not embedded again; load(item, frame) gives the RGB frame."""
    from annotator.core import rle

    n = 0
    frames: dict[tuple, np.ndarray] = {}
    for name, item, rec in records:
        counts = rec.rle["counts"]
        key = (str(item.abspath), rec.track_id, rec.frame, counts if isinstance(counts, str) else bytes(counts),
               suggester.method)
        v = None if cache is None else cache.get(key)
        if v is None:
            fkey = (item.id, rec.frame)
            if fkey not in frames:
                frames.clear()  # one frame decoded at a time; objects come grouped by track order
                frames[fkey] = load(item, rec.frame)
            v = suggester.embed(frames[fkey], rle.decode(rec.rle).astype(bool))
            if cache is not None:
                cache[key] = v
        suggester.add_example(name, v)
        n += 1
    return n


def learn_from_project(suggester: LabelSuggester, project, exclude_track: int | None = None,
                       per_category: int = 20) -> int:
    """Add every labelled object of the project as a few-shot example; returns how many."""
    return learn_from_records(suggester, labelled_records(project, exclude_track, per_category))
