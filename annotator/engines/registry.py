"""Model cards (models/*.yaml) and the engines they make.

A card describes one released model variant (format: models/CARDS.md). The registry answers
which variants exist, which of them our nn/ code can build ("implemented"), which have a
checkpoint in the user's models folder ("installed"), which engine the app uses by default,
and creates ImageSession / VideoSession objects by engine name. No torch at import time.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import logging
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from annotator import paths
from annotator.errors import CheckpointError, ModelNotAvailableError

log = logging.getLogger(__name__)

CLASSIC = "classic"
# Engines that need no weights: the embedded default and the evaluation baselines.
CLASSIC_IMAGE_ENGINES = ("classic", "grabcut-plain")
CLASSIC_VIDEO_ENGINES = ("classic", "flow-warp")
KINDS = ("image", "video")
CONTAINERS = ("state_dict", "model_key", "pickled_module")

@dataclass(frozen=True)
class Card:
    name: str
    title: str
    kind: str  # image | video (video models also segment images)
    arch: dict
    input: dict
    checkpoint: dict
    licence: dict
    schema: str | None
    params: int | None
    path: Path = field(compare=False)
    # kind -> rank when the user has not chosen a model (1 = first pick). Light models rank
    # first: the target is clicking on a CPU. Cards without a rank come after, smallest first.
    preference: dict = field(default_factory=dict, compare=False)

    @property
    def file(self) -> str:
        return self.checkpoint["file"]

    @property
    def urls(self) -> list[str]:
        return list(self.checkpoint.get("urls") or [])

    @property
    def sha256(self) -> str | None:
        return self.checkpoint.get("sha256") or None

    @property
    def size(self) -> int | None:
        return self.checkpoint.get("size") or None

    @property
    def container(self) -> str:
        return self.checkpoint.get("container") or "state_dict"

    @property
    def commercial(self) -> bool:
        return bool(self.licence.get("commercial", False))

    @property
    def family(self) -> str:
        return self.arch["family"]

    def segments_kind(self, kind: str) -> bool:
        """Video models also serve as image engines; image models cannot track."""
        return kind == "image" or self.kind == "video"


class CardError(ModelNotAvailableError):
    """A model card file is malformed."""


def _require(data: dict, key: str, types, path: Path):
    if key not in data:
        raise CardError(f"{path}: model card lacks the field {key!r}")
    value = data[key]
    if not isinstance(value, types):
        raise CardError(f"{path}: field {key!r} must be {_type_names(types)}, not {type(value).__name__}")
    return value


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def parse_card(path: Path) -> Card:
    """Read one card and check the fields every consumer relies on."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise CardError(f"{path}: cannot read model card ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: a model card must be a YAML mapping")
    name = _require(data, "name", str, path)
    if name != path.stem:
        raise CardError(f"{path}: card name {name!r} differs from the file name {path.stem!r}")
    kind = _require(data, "kind", str, path)
    if kind not in KINDS:
        raise CardError(f"{path}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    arch = _require(data, "arch", dict, path)
    if not isinstance(arch.get("family"), str):
        raise CardError(f"{path}: arch.family is missing")
    inp = _require(data, "input", dict, path)
    for k in ("image_size", "resize", "pixel_mean", "pixel_std"):
        if k not in inp:
            raise CardError(f"{path}: input.{k} is missing")
    ck = _require(data, "checkpoint", dict, path)
    if not isinstance(ck.get("file"), str) or not ck["file"] or "/" in ck["file"] or "\\" in ck["file"]:
        raise CardError(f"{path}: checkpoint.file must be a plain file name")
    if ck.get("container", "state_dict") not in CONTAINERS:
        raise CardError(f"{path}: checkpoint.container must be one of {', '.join(CONTAINERS)}")
    sha = ck.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha)):
        raise CardError(f"{path}: checkpoint.sha256 must be 64 lowercase hex digits or null")
    urls = ck.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in urls):
        raise CardError(f"{path}: checkpoint.urls must be a list of http(s) URLs")
    size = ck.get("size")
    if size is not None and (not isinstance(size, int) or size <= 0):
        raise CardError(f"{path}: checkpoint.size must be a positive byte count or null")
    lic = _require(data, "licence", dict, path)
    if not isinstance(lic.get("name"), str) or not isinstance(lic.get("commercial"), bool):
        raise CardError(f"{path}: licence needs a name and commercial: true|false")
    params = data.get("params")
    if params is not None and not isinstance(params, int):
        raise CardError(f"{path}: params must be an integer or null")
    schema = data.get("schema")
    if schema is not None and not isinstance(schema, str):
        raise CardError(f"{path}: schema must be a name or null")
    pref = data.get("preference") or {}
    if not isinstance(pref, dict) or not all(k in KINDS and isinstance(v, int) and not isinstance(v, bool)
                                             and v > 0 for k, v in pref.items()):
        raise CardError(f"{path}: preference must map image/video to a positive rank")
    if "video" in pref and kind != "video":
        raise CardError(f"{path}: an image model cannot have a video preference")
    return Card(
        preference=dict(pref),
        name=name,
        title=str(data.get("title") or name),
        kind=kind,
        arch=arch,
        input=inp,
        checkpoint=ck,
        licence=lic,
        schema=schema,
        params=params,
        path=path,
    )


def card_files(folder: Path | None = None) -> list[Path]:
    folder = paths.cards_dir() if folder is None else Path(folder)
    return sorted(folder.glob("*.yaml"))


_loaded: dict[str, tuple[tuple, dict[str, Card]]] = {}


def load_cards(folder: Path | None = None) -> dict[str, Card]:
    """Every valid card by name. A broken card is logged and skipped so one bad file
    cannot take the whole model list down (tests parse each card strictly).
    Re-read only when a card file is added, removed or changed."""
    folder = paths.cards_dir() if folder is None else Path(folder)
    files = card_files(folder)
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    hit = _loaded.get(str(folder))
    if hit is not None and hit[0] == stamp:
        return dict(hit[1])
    cards: dict[str, Card] = {}
    for p in files:
        try:
            card = parse_card(p)
        except CardError as e:
            log.warning("skipping model card: %s", e)
            continue
        cards[card.name] = card
    _loaded[str(folder)] = (stamp, cards)
    return dict(cards)


def get_card(name: str) -> Card:
    cards = load_cards()
    if name in cards:
        return cards[name]
    own = paths.cards_dir() / f"{name}.yaml"
    if own.is_file():
        parse_card(own)  # raises the card's own problem instead of "no such card"
    close = difflib.get_close_matches(name, list(cards), n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ModelNotAvailableError(
        f"no model card named {name!r} in {paths.cards_dir()}{hint} (`annotator models list` shows them all)"
    )


# --- implemented? ------------------------------------------------------------------------


def not_implemented_reason(card: Card) -> str | None:
    """None when our nn/ code can build this card's architecture, else why not (one line)."""
    if card.container == "pickled_module":
        return "checkpoint is a pickled module that cannot be loaded safely"
    return _arch_reason(card.name, card.family, yaml.safe_dump(card.arch, sort_keys=True))


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
def _arch_reason(name: str, family: str, arch_yaml: str) -> str | None:
    from annotator.nn import factory

    if not factory.family_implemented(family):
        return "not implemented yet"
    # Building a model to find out takes ~0.3 s per card; remember answers across runs.
    key = hashlib.sha1(f"{_nn_fingerprint()}|{family}|{arch_yaml}".encode()).hexdigest()
    cache_file = _probe_cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    reason = _probe_arch(name, family, arch_yaml)
    cache[key] = reason
    try:
        tmp = cache_file.with_name(cache_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_file)
    except OSError:  # a read-only cache dir only costs speed
        pass
    return reason


def _probe_arch(name: str, family: str, arch_yaml: str) -> str | None:
    from annotator.nn import factory

    arch = yaml.safe_load(arch_yaml)
    try:
        mod = importlib.import_module(factory.FAMILY_MODULES[family])
    except Exception as e:  # a half-written family module must not break the model list
        log.warning("cannot import the %s family module: %r", family, e)
        return "not implemented yet"
    supports = getattr(mod, "supports", None)
    if callable(supports):
        return None if supports(arch) else "not implemented yet"
    encoders = getattr(mod, "ENCODERS", None)
    if encoders is not None:
        return None if arch.get("encoder") in encoders else "not implemented yet"
    # No cheap answer from the family module: build it on the meta device (no memory, no weights).
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


def engine_names(kind: str) -> list[str]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    return [CLASSIC] + [c.name for c in learned_engines(kind)]


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
    card = get_card(name)
    where = installed_path(card)
    return f"using the {card.title} {kind} engine ({name}, checkpoint {where})"


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


def create_image_session(name: str, weights=None, precision: str = "fp32"):
    if name == "classic":
        from annotator.engines.classic import ClassicImageSession

        return ClassicImageSession()
    if name == "grabcut-plain":
        from annotator.engines.baselines import GrabCutPlainImageSession

        return GrabCutPlainImageSession()
    if name == "flow-warp":
        raise ModelNotAvailableError("engine 'flow-warp' only propagates video masks; it has no image mode")
    card = _learned_card(name, "image")
    w = resolve_weights(card, weights)
    from annotator.engines.learned import LearnedImageSession

    return LearnedImageSession(card, w, precision=precision)


def create_video_session(name: str, weights=None, precision: str = "fp32"):
    if name == "classic":
        from annotator.engines.classic import ClassicVideoSession

        return ClassicVideoSession()
    if name == "flow-warp":
        from annotator.engines.baselines import FlowWarpVideoSession

        return FlowWarpVideoSession()
    if name == "grabcut-plain":
        raise ModelNotAvailableError("engine 'grabcut-plain' is an image baseline; it cannot propagate video")
    card = _learned_card(name, "video")
    w = resolve_weights(card, weights)
    from annotator.engines.video import LearnedVideoSession

    return LearnedVideoSession(card, w, precision=precision)
