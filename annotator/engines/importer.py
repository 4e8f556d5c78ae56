"""Install a checkpoint someone downloaded by hand: sha256, family and key checks, atomic copy.

Shared by `annotator models import` and the GUI model manager. Torch is imported lazily (by
the checkpoint module) only to read the file's keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from annotator.errors import CheckpointError


@dataclass
class ImportResult:
    path: Path
    sha256: str
    sha256_confirmed: bool
    keys_checked: bool
    warnings: list[str] = field(default_factory=list)

    def summary(self, name: str) -> str:
        checks = ["sha256 ok" if self.sha256_confirmed else "sha256 not confirmed",
                  "keys ok" if self.keys_checked else "keys not checked (architecture not implemented yet)"]
        return f"imported {name}: {self.path} ({', '.join(checks)})"


def import_checkpoint(name: str, file: str | Path, allow_checksum_mismatch: bool = False,
                      progress=None, cancel=None) -> ImportResult:
    """Check `file` against card `name` and copy it into the models folder.

    Refuses: a pickled-module card, a sha256 different from the published one (unless allowed:
    converted or fine-tuned files), a file that is not a weights-only checkpoint, a checkpoint of
    another known model, and (when our architecture exists) any missing/unexpected/reshaped key.
    """
    from annotator.engines import checkpoint, registry
    from annotator.engines.download import ChecksumError, copy_atomic, sha256_file

    card = registry.get_card(name)
    src = Path(file).expanduser()
    if not src.is_file():
        raise CheckpointError(f"{src}: file not found")
    if card.container == "pickled_module":
        raise CheckpointError(checkpoint.pickled_module_message(card, src))
    warnings: list[str] = []
    digest = sha256_file(src, progress=progress, cancel=cancel)
    if card.sha256 is None:
        warnings.append(f"{card.name} has no published sha256; cannot confirm this is the official file "
                        f"(its sha256 is {digest})")
    elif digest != card.sha256:
        if not allow_checksum_mismatch:
            raise ChecksumError(
                f"{src}: sha256 {digest[:16]}... is not the published {card.name} checkpoint "
                f"({card.sha256[:16]}...)"
            )
        warnings.append(f"{src}: sha256 differs from the published {card.name} file; installing anyway")
    # Refuse a file of another family even before our architecture exists; check every key and
    # shape when it does (model built on the meta device, file memory-mapped: cheap).
    sd = checkpoint.load_checkpoint(card, src)
    keys_checked = False
    if registry.is_implemented(card):
        checkpoint.check_keys(checkpoint.expected_shapes(card), sd, card, src)
        keys_checked = True
    del sd
    suffix = ".safetensors" if src.suffix.lower() == ".safetensors" else Path(card.file).suffix
    dest = registry.target_path(card).with_suffix(suffix)
    if dest.resolve() != src.resolve():
        copy_atomic(src, dest)
    return ImportResult(dest, digest, card.sha256 == digest, keys_checked, warnings)
