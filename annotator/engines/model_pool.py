"""One built model per (card, weights) in memory, shared by the sessions that use it.

The image and the video session of one SAM 2 family card run the same network; building it
twice doubles the memory (hundreds of MB for the larger cards) and the load time. Sessions
hold the model; the pool only remembers it while some session does (weak references).
Models shared here are used for inference only: nothing may change their weights or modules
after the pool hands them out; a reduced-precision copy is its own entry (precision is in the key).
"""
from __future__ import annotations

import threading
import weakref
from pathlib import Path

import yaml

from annotator.engines import cards

_lock = threading.Lock()
_models: "weakref.WeakValueDictionary[tuple, object]" = weakref.WeakValueDictionary()


def _key(card, weights) -> tuple | None:
    arch = yaml.safe_dump(dict(cards.value(card, "arch") or {}), sort_keys=True)
    name = str(cards.value(card, "name", ""))
    if isinstance(weights, str) and weights == "random":
        return (name, arch, "random")
    if isinstance(weights, (str, Path)):
        from annotator.engines.checkpoint import file_identity

        return (name, arch, "file-" + file_identity(weights))
    return None  # a state dict in memory: not worth hashing to share


def shared_model(card, weights, precision: str = "fp32"):
    """(model in eval mode, weights identity) for `card`, built and loaded once while in use.
    precision: a resolved setting (nn/precision.py); the SAM 2 modules it concerns are converted
    once, here, before any session sees the model."""
    from annotator.engines.checkpoint import load_model

    key = _key(card, weights)
    key = None if key is None else key + (precision,)
    with _lock:  # one build at a time: a second caller waits for the first one's model
        model = _models.get(key) if key is not None else None
        if model is None:
            model = load_model(card, weights)
            if precision != "fp32":
                from annotator.nn import precision as prec

                prec.apply_sam2(model, precision)
            model._annotator_weights_id = key[2] if key is not None else None
            if key is not None:
                _models[key] = model
    ident = model._annotator_weights_id
    if ident is None:
        from annotator.nn.fill import state_digest

        ident = "sd-" + state_digest(weights)[:16]
    return model, ident
