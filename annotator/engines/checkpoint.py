"""Safe checkpoint loading: weights-only files, the card's container, a strict key check, and a
guess of which model a wrong checkpoint belongs to.

Only `torch.load(weights_only=True)` and safetensors are used: a checkpoint is data, never code.
Torch is imported inside the functions so that listing models stays cheap.
"""
from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping

from annotator.engines import cards
from annotator.engines.signatures import LAYOUTS
from annotator.errors import CheckpointError

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors",)
_SHOW = 4  # how many names of each kind an error message lists


class PickledModuleError(CheckpointError):
    """The checkpoint is a pickled Python object (a whole model), which we refuse to unpickle."""


def _field(card, key: str):
    return cards.value(card, key)


def _card_name(card) -> str:
    return _field(card, "name") or (card if isinstance(card, str) else "this model")


def _container(card) -> str:
    ck = _field(card, "checkpoint") or {}
    return (ck.get("container") if isinstance(ck, Mapping) else None) or "state_dict"


def load_state_dict_file(path: str | Path, mmap: bool = True) -> Any:
    """Read a .pt/.pth (weights-only unpickler) or .safetensors file; return what it holds.

    `mmap=True` maps zip-format torch files instead of reading them, so checking the keys of a
    2.5 GB file costs almost no memory.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix.lower() in SAFETENSORS_SUFFIXES or _looks_like_safetensors(path):
        try:
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        except Exception as e:  # SafetensorError, OSError: header or body cut short
            raise CheckpointError(f"{path}: file is truncated or not a safetensors checkpoint ({_short(e)})") from None
    import torch

    use_mmap = mmap and zipfile.is_zipfile(path)  # legacy (non-zip) torch files cannot be mapped
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)
    except Exception as e:
        text = str(e)
        if "Weights only load failed" in text and re.search(r"GLOBAL|REDUCE|BUILD|blocked", text):
            m = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" ({m.group(1)})" if m else ""
            raise PickledModuleError(
                f"{path}: this file tries to run code when loaded{what}; refused. A checkpoint must hold "
                "plain weights, not pickled Python objects such as a whole model"
            ) from None
        if "Weights only load failed" in text and _head(path) in (b"\x80", b"P"):  # a pickle or torch zip
            lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
            why = next((ln for ln in reversed(lines) if not ln.startswith(("Check the documentation", "Please file"))
                        and "weights_only" not in ln), "unsupported content")
            raise PickledModuleError(f"{path}: holds pickled data the safe loader does not accept ({why[:100]}); "
                                     "refused, it is never unpickled because that could run code") from None
        # torch reports cut-off or foreign files as OSError, EOFError, KeyError, RuntimeError...
        raise CheckpointError(f"{path}: file is truncated or not a PyTorch checkpoint ({_short(e)})") from None


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1)
    except OSError:
        return b""


def _looks_like_safetensors(path: Path) -> bool:
    """safetensors: 8-byte little-endian header length, then a JSON header; torch files start
    with a zip ("PK") or pickle (0x80) signature instead. Lets a .part file be recognised."""
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 30)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if len(text) > 120:  # cut at a word, and say so
        text = text[:120].rsplit(" ", 1)[0] + " ..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _is_state_dict(obj: Any) -> bool:
    if not isinstance(obj, Mapping) or not obj:
        return False
    import torch

    return all(isinstance(k, str) for k in obj) and any(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, card, path: str | Path | None = None) -> dict:
    """Return the state dict inside a loaded checkpoint, following the card's `container`.

    state_dict: the object itself.  model_key: obj["model"] (SAM 2 family).
    pickled_module: always refused (Q-TinySAM W8A8 ships a whole pickled model).
    A plain file where a wrapper was expected (or the reverse) is accepted: the key check that
    follows decides whether the weights fit.
    """
    where = f"{path}: " if path else ""
    container = _container(card)
    if container == "pickled_module":
        raise PickledModuleError(pickled_module_message(card, path))
    if container not in ("state_dict", "model_key"):
        raise CheckpointError(f"{where}model card {_card_name(card)} has unknown checkpoint container {container!r}")
    if isinstance(obj, Mapping) and "model" in obj and _is_state_dict(obj["model"]):
        return dict(obj["model"])
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        keys = ", ".join(sorted(map(str, obj))[:_SHOW])
        raise CheckpointError(f"{where}no state dict found in the checkpoint (top-level keys: {keys})")
    raise CheckpointError(f"{where}no state dict found in the checkpoint (it holds a {type(obj).__name__})")


def pickled_module_message(card, path: str | Path | None = None) -> str:
    where = f"{path}: " if path else ""
    return (
        f"{where}the {_card_name(card)} checkpoint is a pickled PyTorch module (W8A8 fake-quantised model), "
        "which cannot be loaded safely because unpickling it runs code from the file; use the float "
        "tinysam checkpoint instead, with `--precision int8` for our own int8 path"
    )


def shapes_of(state_dict: Mapping) -> dict[str, tuple]:
    """name -> shape tuple, for tensors or for anything already holding shapes."""
    out = {}
    for k, v in state_dict.items():
        shape = getattr(v, "shape", v)
        out[k] = tuple(int(d) for d in shape)
    return out


def guess_family(state_dict: Mapping) -> str | None:
    """Name of the official layout this state dict matches (see signatures.py), or None."""
    shapes = shapes_of(state_dict)
    hits = []
    for name, sig in LAYOUTS.items():
        if any(k in shapes for k in sig["absent"]):
            continue
        if all(shapes.get(k) == tuple(s) for k, s in sig["present"].items()):
            hits.append((len(sig["present"]) + len(sig["absent"]), name))
    if not hits:
        return None
    return max(hits)[1]


def layout_names(layout: str) -> list[str]:
    """Every card name that shares a layout (e.g. mobilesam -> [mobilesam, tinysam])."""
    return list(LAYOUTS.get(layout, {}).get("names", [layout]))


def layout_of_card(card) -> str | None:
    """The layout group a card's checkpoint should have, when it is one we know."""
    for key in (_field(card, "schema"), _field(card, "name")):
        for name, sig in LAYOUTS.items():
            if key and (key == name or key in sig["names"]):
                return name
    return None


def describe_layout(layout: str) -> str:
    return " / ".join(layout_names(layout))


def check_keys(expected: Mapping, got: Mapping, card, path: str | Path | None = None) -> None:
    """Raise CheckpointError unless `got` has exactly the names and shapes of `expected`.

    The message lists the first few missing, unexpected and shape-mismatched names with counts,
    and names the model the checkpoint most likely belongs to when it is another one.
    """
    exp, have = shapes_of(expected), shapes_of(got)
    missing = [k for k in exp if k not in have]
    unexpected = [k for k in have if k not in exp]
    mismatched = [k for k in exp if k in have and exp[k] != have[k]]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_first(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_first(unexpected)})")
    if mismatched:
        shown = ", ".join(f"{k} file {list(have[k])} vs model {list(exp[k])}" for k in mismatched[:_SHOW])
        more = f", ... {len(mismatched) - _SHOW} more" if len(mismatched) > _SHOW else ""
        parts.append(f"{len(mismatched)} with another shape ({shown}{more})")
    where = f"{path}: " if path else ""
    msg = f"{where}checkpoint does not fit model {_card_name(card)}: " + "; ".join(parts)
    guess = guess_family(got)
    if guess and guess != layout_of_card(card):
        msg += f"; it looks like a checkpoint for {describe_layout(guess)}"
    raise CheckpointError(msg)


def _first(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f", ... {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def refuse_other_family(state_dict: Mapping, card, path: str | Path | None = None) -> None:
    """Refuse early (before building anything) when the file is clearly another known model."""
    want = layout_of_card(card)
    guess = guess_family(state_dict)
    if want and guess and guess != want:
        where = f"{path}: " if path else ""
        raise CheckpointError(
            f"{where}this is a checkpoint for {describe_layout(guess)}, not for {_card_name(card)}; "
            f"choose the {layout_names(guess)[0]} model for it"
        )


def load_checkpoint(card, path: str | Path) -> dict:
    """Read, unwrap and sanity-check a checkpoint for `card`; return its state dict."""
    if _container(card) == "pickled_module":
        raise PickledModuleError(pickled_module_message(card, path))
    sd = unwrap(load_state_dict_file(path), card, path)
    arch = _field(card, "arch") or {}
    if isinstance(arch, Mapping) and arch.get("family") == "clip":  # HF or OpenAI names, one layout
        from annotator.nn.clip import standard_layout

        sd = standard_layout(sd)
    refuse_other_family(sd, card, path)
    refuse_nonfinite(sd, path)
    return sd


def refuse_nonfinite(state_dict: Mapping, path: str | Path | None = None) -> None:
    """Weights holding NaN or infinity give garbage masks silently: refuse them by name."""
    import torch

    bad = [k for k, v in state_dict.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and v.device.type != "meta"
           and not bool(torch.isfinite(v).all())]
    if bad:
        where = f"{path}: " if path else ""
        raise CheckpointError(f"{where}{len(bad)} weight tensor(s) hold NaN or infinite values "
                              f"({_first(bad)}); the file is damaged, refused")


def load_weights(model, card, weights) -> str:
    """The one way weights go into a model, image and video engines alike. Returns an identity
    string of the weights (part of the embedding cache key).

    weights: "random" (the deterministic fill, salt "random"), a state dict in memory (tests,
    converters), or a checkpoint file (refused when pickled, of another family, holding NaN,
    or not matching the card's layout). Loading is strict."""
    import torch

    from annotator.nn.fill import fill_model, state_digest

    if isinstance(weights, str) and weights == "random":
        fill_model(model, "random")
        return "random"
    if isinstance(weights, Mapping):
        sd, path = weights, None
        refuse_other_family(sd, card)
        ident = "sd-" + state_digest(sd)[:16]
    else:
        path = Path(weights)
        sd = load_checkpoint(card, path)
        ident = "file-" + file_identity(path)
    check_keys(model.state_dict(), sd, card, path)
    meta = any(t.device.type == "meta" for t in model.state_dict().values())
    with torch.no_grad():
        model.load_state_dict(sd, strict=True, assign=meta)
    return ident


def file_identity(path: str | Path) -> str:
    """Changes when the file is replaced or rewritten (resolved path, size, mtime)."""
    import hashlib

    p = Path(path)
    st = p.stat()
    return hashlib.sha256(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def load_model(card, weights, device: str = "cpu"):
    """Build the card's model and load `weights` (see load_weights) in eval mode.

    With device="meta" (`annotator models import` comparing key sets) nothing is allocated and
    "random" keeps the unfilled modules."""
    import torch

    from annotator.nn import factory

    with torch.device(device):
        model = factory.build(dict(_field(card, "arch")))
    if not (device == "meta" and str(weights) == "random"):
        load_weights(model, card, weights)
    return model.eval()


def expected_shapes(card) -> dict[str, tuple]:
    """The state-dict layout our module for `card` has (built on the meta device: no memory)."""
    import torch

    from annotator.nn import factory

    with torch.device("meta"):
        model = factory.build(dict(_field(card, "arch")))
    return shapes_of(model.state_dict())
