"""Label-suggestion accuracy on a labelled set (`annotator eval labels --data DIR`).

Every object with a category and a mask is one sample. Each sample is embedded once per mask
embedding (`pooled`, `crop`; `both` is their normalised sum) and ranked the way the app ranks
(LabelSuggester): zero-shot over the set's category names, then with k labelled examples per
category as prototypes (k = 1, 5: the examples are drawn per category with a fixed seed and
left out of the scoring). Top-1 and top-5 accuracy per method and setting.
With synthetic weights the numbers mean nothing; with the real checkpoint this is how a user
measures which embedding is better on their own data.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

import numpy as np

from annotator.engines.label_suggest import LabelSuggester, item_frame, labelled_objects

METHODS = ("pooled", "crop", "both")


def embed_samples(project, clip_session, per_category: int = 1000, progress=None):
    """[(category, {"pooled": v, "crop": v, "both": v})] for every labelled object."""
    out = []
    frame_key, rgb = None, None
    for n, (name, item, frame, mask) in enumerate(labelled_objects(project, per_category=per_category)):
        if (item.id, frame) != frame_key:
            frame_key, rgb = (item.id, frame), item_frame(item, frame)
            clip_session.set_image(rgb)
        pooled = clip_session.mask_embedding(mask)
        crop = clip_session.crop_embeddings(rgb, [mask])[0]
        both = pooled + crop
        both = both / max(float(np.linalg.norm(both)), 1e-12)
        out.append((name, {"pooled": pooled, "crop": crop, "both": both.astype(np.float32)}))
        if progress:
            progress(n + 1)
    return out


def _accuracy(suggester: LabelSuggester, samples, method: str, skip: set[int]) -> dict:
    top1 = top5 = n = 0
    for i, (name, emb) in enumerate(samples):
        if i in skip:
            continue
        ranked = [s.label for s in suggester.rank_embedding(emb[method], top=5)]
        top1 += ranked[:1] == [name]
        top5 += name in ranked
        n += 1
    return {"top1": top1 / n if n else None, "top5": top5 / n if n else None, "n": n}


def evaluate(samples, categories: Sequence[str], clip_session, ks: Sequence[int] = (1, 5),
             methods: Sequence[str] = METHODS, seed: int = 0, few_shot_weight: float = 0.5) -> dict:
    """{method: {"zero_shot": acc, "k1": acc, "k5": acc}} with acc = {top1, top5, n}."""
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, (name, _) in enumerate(samples):
        by_cat[name].append(i)
    res: dict = {}
    for method in methods:
        sg = LabelSuggester(clip_session, categories, method=method, few_shot_weight=few_shot_weight)
        row = {"zero_shot": _accuracy(sg, samples, method, set())}
        for k in ks:
            rng = random.Random(seed * 1000 + k)
            sg.clear_examples()
            skip: set[int] = set()
            for name in sorted(by_cat):
                idx = by_cat[name]
                if len(idx) <= k:  # too few to leave any to score: no prototype for this one
                    continue
                for i in rng.sample(idx, k):
                    sg.add_example(name, samples[i][1][method])
                    skip.add(i)
            acc = _accuracy(sg, samples, method, skip)
            acc["categories_with_examples"] = len(sg.examples())
            row[f"k{k}"] = acc
        res[method] = row
    return res
