"""The model manager's use-cases (the `annotator models` commands and the Models dialog):
one row per card, checking an installed checkpoint, importing a file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelRow:
    card: object
    name: str
    title: str
    kind: str
    implemented: bool
    status: str  # "ok", or why our code cannot run the card
    path: Path | None  # the installed checkpoint
    size: int | None  # bytes: the installed file's, else the card's published size
    licence: str
    commercial: bool

    @property
    def installed(self) -> bool:
        return self.path is not None

    @property
    def licence_note(self) -> str:
        return licence_note(self.licence, self.commercial)


def licence_note(licence: str, commercial: bool) -> str:
    """The licence name, marked when it forbids commercial use and does not say so itself."""
    if commercial or "commercial" in licence.lower():
        return licence
    return licence + " (non-commercial)"


def rows() -> list[ModelRow]:
    """Every valid card, by kind then name."""
    from annotator.engines import registry

    out = []
    for card in sorted(registry.load_cards().values(), key=lambda c: (c.kind, c.name)):
        where = registry.installed_path(card)
        reason = registry.not_implemented_reason(card)
        out.append(ModelRow(card, card.name, card.title, card.kind, reason is None, reason or "ok", where,
                            where.stat().st_size if where else card.size, str(card.licence.get("name") or "?"),
                            card.commercial))
    return out


def plugin_engines() -> list[tuple[str, tuple[str, ...]]]:
    """(name, kinds) of the engines plugins contribute (engines/plugins.py), by name."""
    from annotator.engines import plugins, registry

    return sorted((n, plugins.kinds(s)) for n, s in registry.plugin_engines().items())


@dataclass(frozen=True)
class Verified:
    name: str
    path: Path
    digest: str
    verdict: str  # "ok" | "mismatch" | "no published sha256" | "converted"
    published: str | None


def verify(card, progress=None, cancel=None) -> Verified | None:
    """Hash the installed checkpoint of `card` against its published sha256; None when none
    is installed. A converted .safetensors file is not expected to match."""
    from annotator.engines import registry
    from annotator.engines.download import sha256_file

    path = registry.installed_path(card)
    if path is None:
        return None
    if progress is not None:
        total = path.stat().st_size
        digest = sha256_file(path, progress=lambda d, t=None: progress(d, total), cancel=cancel)
    else:
        digest = sha256_file(path)
    if card.sha256 is None:
        verdict = "no published sha256"
    elif path.suffix == ".safetensors" and path.name != card.file:
        verdict = "converted"
    else:
        verdict = "ok" if digest == card.sha256 else "mismatch"
    return Verified(card.name, path, digest, verdict, card.sha256)


def import_file(name: str, file, allow_checksum_mismatch: bool = False):
    """Check `file` against card `name` and install it (engines.importer); returns its result
    (summary(name) and warnings)."""
    from annotator.engines.importer import import_checkpoint

    return import_checkpoint(name, Path(file), allow_checksum_mismatch)


def keep_mismatched(card, kept: Path):
    """Install a downloaded file whose sha256 differs from the published one, because the person
    chose to keep it (the key checks of an import still apply); the set-aside copy goes."""
    result = import_file(card.name, kept, allow_checksum_mismatch=True)
    Path(kept).unlink(missing_ok=True)
    return result


def delete_installed(card) -> Path | None:
    """Remove the installed checkpoint of `card` (before downloading it again); its path or None."""
    from annotator.engines import registry

    path = registry.installed_path(card)
    if path is not None:
        path.unlink()
    return path


@dataclass(frozen=True)
class Offer:
    """A model the first-run screen offers: the best-ranked card of a kind that this machine can
    download and run. Everything shown comes from the card."""

    card: object
    kind: str  # "image" | "video": what it is offered for
    size: str  # the download size, else the parameter count
    licence: str
    gives: str


# what each engine kind gives, in the words of the first-run screen
GIVES = {"image": "a mask from one click or box on images",
         "video": "masks that follow objects through a video (and masks on images)"}


def first_run_offers(memory_bytes: int | None = None) -> list[Offer]:
    """One offer per engine kind (image, video) when no learned engine of that kind is installed:
    the card's preference rank decides, among implemented cards with a download URL whose
    weights take at most an eighth of this machine's memory."""
    from annotator.engines import registry

    if memory_bytes is None:
        import psutil

        memory_bytes = psutil.virtual_memory().total
    cards = registry.load_cards().values()
    out = []
    for kind in registry.KINDS:
        if registry.learned_engines(kind):
            continue
        fits = [c for c in cards if c.kind == kind and c.urls and c.preference.get(kind)
                and registry.is_implemented(c) and _weight_bytes(c) * 8 <= memory_bytes]
        if not fits:
            continue
        card = min(fits, key=lambda c: (c.preference[kind], c.name))
        size = f"{card.size / 1e6:.0f} MB download" if card.size else f"{(card.params or 0) / 1e6:.0f}M parameters"
        out.append(Offer(card, kind, size, licence_note(str(card.licence.get("name") or "?"), card.commercial),
                         GIVES[kind]))
    return out


def _weight_bytes(card) -> int:
    return card.size or (card.params or 0) * 4

