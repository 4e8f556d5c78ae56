"""Model cards (models/*.yaml) and the engines they make.

A card describes one released model variant (format: models/CARDS.md). The registry answers
which variants exist, which of them our nn/ code can build ("implemented"), which have a
checkpoint in the user's models folder ("installed"), which engine the app uses by default,
and creates ImageSession / VideoSession objects by engine name. No torch at import time.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path

from annotator import paths
from annotator.engines.cards import (  # noqa: F401  (re-exported: the registry's public names)
    CARD_KINDS,
    CONTAINERS,
    KINDS,
    Card,
    CardError,
    card_files,
    get_card,
    load_cards,
    parse_card,
)
from annotator.errors import CheckpointError, ModelNotAvailableError

log = logging.getLogger(__name__)

CLASSIC = "classic"
# Engines that need no weights: (module, image session class, video session class); None = the
# engine has no such mode, with the reason in NO_MODE.
BUILTIN_ENGINES = {
    "classic": ("annotator.engines.classic", "ClassicImageSession", "ClassicVideoSession"),
    "grabcut-plain": ("annotator.engines.baselines", "GrabCutPlainImageSession", None),
    "flow-warp": ("annotator.engines.baselines", None, "FlowWarpVideoSession"),
}
NO_MODE = {
    ("flow-warp", "image"): "engine 'flow-warp' only propagates video masks; it has no image mode",
    ("grabcut-plain", "video"): "engine 'grabcut-plain' is an image baseline; it cannot propagate video",
}
LEARNED_SESSIONS = {"image": ("annotator.engines.learned", "LearnedImageSession"),
                    "video": ("annotator.engines.video", "LearnedVideoSession")}
CLASSIC_IMAGE_ENGINES = tuple(n for n, (_m, image, _v) in BUILTIN_ENGINES.items() if image)
CLASSIC_VIDEO_ENGINES = tuple(n for n, (_m, _i, video) in BUILTIN_ENGINES.items() if video)

# --- implemented? ------------------------------------------------------------------------


def not_implemented_reason(card: Card) -> str | None:
    """None when our nn/ code can build this card's architecture, else why not (one line)."""
    if card.container == "pickled_module":
        return "checkpoint is a pickled module that cannot be loaded safely"
    return _arch_reason(card.name, card.family, json.dumps(card.arch, sort_keys=True))


def is_implemented(card: Card) -> bool:
    return not_implemented_reason(card) is None


def _nn_fingerprint() -> str:
    """Changes whenever a file under annotator/nn changes, invalidating the on-disk answers."""
    import annotator.nn as nn_pkg

    h = hashlib.sha1()
    for f in sorted(Path(nn_pkg.__file__).parent.glob("*.py")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()


def _probe_cache_path() -> Path:
    return paths.cache_dir() / "implemented.json"


@lru_cache(maxsize=None)
def _arch_reason(name: str, family: str, arch_json: str) -> str | None:
    from annotator.nn import factory

    if not factory.family_implemented(family):
        return "not implemented yet"
    known = factory.supports(json.loads(arch_json))
    if known is not None:  # answered without torch
        return None if known else "not implemented yet"
    # Building a model to find out takes ~0.3 s per card; remember answers across runs.
    key = hashlib.sha1(f"{_nn_fingerprint()}|{family}|{arch_json}".encode()).hexdigest()
    cache_file = _probe_cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    reason = _probe_arch(name, family, arch_json)
    cache[key] = reason
    try:
        tmp = cache_file.with_name(cache_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:  # a read-only cache dir only costs speed
        pass
    return reason


def _probe_arch(name: str, family: str, arch_json: str) -> str | None:
    from annotator.nn import factory

    arch = json.loads(arch_json)
    try:
        mod = importlib.import_module(factory.FAMILY_MODULES[family])
    except Exception as e:  # a half-written family module must not break the model list
        log.warning("cannot import the %s family module: %r", family, e)
        return "not implemented yet"
    # No torch-free answer (factory.supports): build it on the meta device (no memory, no weights).
    try:
        import torch

        with torch.device("meta"):
            factory.build(arch)
    except Exception as e:
        log.info("model %s cannot be built yet: %r", name, e)
        return "not implemented yet"
    return None


# --- installed? --------------------------------------------------------------------------


def installed_path(card: Card) -> Path | None:
    """The checkpoint in the models folder, if there is one (the card's file name, or the
    same stem as .safetensors for people who converted it)."""
    folder = paths.models_dir()
    for name in (card.file, Path(card.file).stem + ".safetensors"):
        p = folder / name
        if p.is_file():
            return p
    return None


def target_path(card: Card) -> Path:
    return paths.models_dir() / card.file


def extra_file_path(entry: dict) -> Path:
    return paths.models_dir() / entry["file"]


def missing_extra_files(card: Card) -> list[str]:
    """Names of the card's extra files (tokenizer) not yet in the models folder."""
    return [e["file"] for e in card.extra_files if not extra_file_path(e).is_file()]


# --- engine choice -----------------------------------------------------------------------


def _rank(card: Card, kind: str) -> tuple:
    rank = card.preference.get(kind)
    return (0 if rank is not None else 1, rank or 0, card.params or 0, card.name)


def learned_engines(kind: str) -> list[Card]:
    """Installed and implemented cards usable as `kind` engines, best first."""
    cards = [
        c for c in load_cards().values()
        if c.segments_kind(kind) and installed_path(c) is not None and is_implemented(c)
    ]
    return sorted(cards, key=lambda c: _rank(c, kind))


def plugin_engines(kind: str | None = None) -> dict[str, object]:
    """Engines plugins contribute (engines/plugins.py), those with a `kind` mode if given."""
    from annotator.engines import plugins

    found = plugins.collect(set(BUILTIN_ENGINES) | set(load_cards()))
    return {n: s for n, s in found.items() if kind is None or kind in plugins.kinds(s)}


def engine_names(kind: str) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return [CLASSIC] + [c.name for c in learned_engines(kind)] + list(plugin_engines(kind))


def default_engine_name(kind: str) -> str:
    """'classic' until a learned checkpoint is installed, then the best installed one."""
    learned = learned_engines(kind)
    return learned[0].name if learned else CLASSIC


def describe_engine_choice(kind: str, name: str | None = None) -> str:
    """One line for the status bar / CLI saying which engine runs and why."""
    name = name or default_engine_name(kind)
    if name == CLASSIC:
        hint = "edgetam" if kind == "video" else "edgesam"
        return (
            f"using the classic {kind} engine (OpenCV, no learned weights): no learned checkpoint is installed; "
            f"`annotator models download {hint}` or `annotator models import NAME FILE` adds one"
        )
    if name in CLASSIC_IMAGE_ENGINES + CLASSIC_VIDEO_ENGINES:
        return f"using the {name} {kind} engine (no learned weights)"
    if name in plugin_engines():
        return f"using the plugin {kind} engine {name}"
    card = get_card(name)
    where = installed_path(card)
    return f"using the {card.title} {kind} engine ({name}, checkpoint {where})"


def preload_runtime(engine: str) -> None:
    """Import torch now when `engine` ("" = the default image engine) is a learned one.

    Importing torch initialises its C extension while holding the GIL (~0.4 s measured on a
    2-core VM), during which no other Python code in the process runs. A front end calls this
    at start-up, where it only lengthens a start that waits for the model anyway, instead of
    letting the first use in a worker thread freeze its event loop."""
    import importlib.util
    import sys

    if "torch" in sys.modules or engine in CLASSIC_IMAGE_ENGINES + CLASSIC_VIDEO_ENGINES:
        return
    if not engine:
        try:
            engine = default_engine_name("image")
        except Exception as e:  # the worker reports registry problems
            log.debug("cannot tell the default engine: %s", e)
            return
        if engine == CLASSIC:
            return
    if engine not in load_cards():
        return  # a plugin engine (its own business), or an unknown name the worker reports
    if importlib.util.find_spec("torch") is not None:
        import torch  # noqa: F401


# --- sessions ----------------------------------------------------------------------------


def resolve_weights(card: Card, weights=None) -> Path | str:
    """An explicit file, "random", or the installed checkpoint; a clear error otherwise."""
    if isinstance(weights, dict):  # an in-memory state dict (tests, converters)
        return weights
    if weights is not None:
        if str(weights) == "random":
            return "random"
        p = Path(weights).expanduser()
        if not p.is_file():
            raise CheckpointError(f"{p}: checkpoint file not found")
        return p
    p = installed_path(card)
    if p is None:
        how = (
            f"`annotator models download {card.name}`" if card.urls else "download it by hand"
        ) + f" or `annotator models import {card.name} FILE`"
        raise ModelNotAvailableError(
            f"model {card.name}: no checkpoint installed in {paths.models_dir()}; get {card.file} with {how}"
        )
    return p


def _learned_card(name: str, kind: str) -> Card:
    card = get_card(name)
    if not card.segments_kind(kind):
        raise ModelNotAvailableError(f"model {name} is an image model; it cannot propagate through a video")
    reason = not_implemented_reason(card)
    if reason:
        raise ModelNotAvailableError(f"model {name}: {reason}")
    return card


def _create(name: str, kind: str, weights, precision: str = "fp32"):
    if name in BUILTIN_ENGINES:  # weightless engines: float32 OpenCV code, precision does not apply
        module, image_cls, video_cls = BUILTIN_ENGINES[name]
        cls = image_cls if kind == "image" else video_cls
        if cls is None:
            raise ModelNotAvailableError(NO_MODE[(name, kind)])
        return getattr(importlib.import_module(module), cls)()
    if name not in load_cards():
        found = plugin_engines()
        if name in found:
            from annotator.engines import plugins

            return plugins.create(found[name], kind)
    card = _learned_card(name, kind)
    w = resolve_weights(card, weights)
    module, cls = LEARNED_SESSIONS[kind]
    return getattr(importlib.import_module(module), cls)(card, w, precision=precision)


def create_image_session(name: str, weights=None, precision: str = "fp32"):
    return _create(name, "image", weights, precision)


def create_video_session(name: str, weights=None, precision: str = "fp32"):
    return _create(name, "video", weights, precision)
