"""Model cards (models/*.yaml): parsing, the cached set, and the one accessor for card fields.

A card arrives as a `Card` (parsed here), as a plain dict (a YAML file read by a test or a
converter), or as a name; `resolve` turns a name into a Card and `value` reads a top-level
field of either shape. Sessions import this module, never the registry, so the registry can
create sessions without an import cycle.
"""
from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from annotator import paths
from annotator.errors import ModelNotAvailableError

log = logging.getLogger(__name__)

KINDS = ("image", "video")  # engine kinds (what segments)
# card kinds: the engines', plus "clip" (image-text model that names masks and finds objects
# from words; it segments nothing itself)
CARD_KINDS = KINDS + ("clip",)
CONTAINERS = ("state_dict", "model_key", "pickled_module")
# libyaml's safe loader when PyYAML has it: the pure-Python one took most of a second for the
# model list's 28 cards
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
    def extra_files(self) -> list[dict]:
        """Files that ship beside the weights and are installed with them (CLIP's tokenizer):
        [{file, url, sha256, size, role}]."""
        return list(self.checkpoint.get("extra_files") or [])

    @property
    def commercial(self) -> bool:
        return bool(self.licence.get("commercial", False))

    @property
    def family(self) -> str:
        return self.arch["family"]

    def segments_kind(self, kind: str) -> bool:
        """Video models also serve as image engines; image models cannot track."""
        if self.kind not in KINDS:
            return False
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
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, yaml.YAMLError) as e:
        raise CardError(f"{path}: cannot read model card ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: a model card must be a YAML mapping")
    name = _require(data, "name", str, path)
    if name != path.stem:
        raise CardError(f"{path}: card name {name!r} differs from the file name {path.stem!r}")
    kind = _require(data, "kind", str, path)
    if kind not in CARD_KINDS:
        raise CardError(f"{path}: kind must be one of {', '.join(CARD_KINDS)}, not {kind!r}")
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
    _check_extra_files(ck.get("extra_files"), path)
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


def _check_extra_files(extra, path: Path) -> None:
    if extra is None:
        return
    if not isinstance(extra, list) or not all(isinstance(e, dict) for e in extra):
        raise CardError(f"{path}: checkpoint.extra_files must be a list of mappings")
    for e in extra:
        f = e.get("file")
        if not isinstance(f, str) or not f or "/" in f or "\\" in f or f in (".", ".."):
            raise CardError(f"{path}: every checkpoint.extra_files entry needs a plain file name")
        url = e.get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise CardError(f"{path}: extra file {f}: url must be an http(s) URL")
        sha = e.get("sha256")
        if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
            raise CardError(f"{path}: extra file {f}: sha256 must be 64 hex digits or null")


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


def resolve(card):
    """A card name (or a .yaml path, read as a dict) -> the card; Cards and dicts pass through."""
    if isinstance(card, (str, Path)):
        if str(card).endswith((".yaml", ".yml")):
            return yaml.safe_load(Path(card).read_text(encoding="utf-8"))
        return get_card(str(card))
    return card


def value(card, key: str, default=None):
    """A top-level field of a card given as a Card object or as a dict."""
    if card is None:
        return default
    if isinstance(card, Mapping):
        return card.get(key, default)
    return getattr(card, key, default)
