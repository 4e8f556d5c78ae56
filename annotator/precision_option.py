"""The `--precision` option shared by segment, propagate, eval and bench (no torch at import;
the rule itself lives in annotator/nn/precision.py)."""
from __future__ import annotations

import sys

CHOICES = ("auto", "fp32", "bf16", "int8")


def add(parser, default: str = "auto") -> None:
    parser.add_argument(
        "--precision", choices=CHOICES, default=default,
        help="learned models: auto (bf16/int8 where the CPU has the matrix units, else fp32), "
             f"fp32 (the parity path), bf16, int8 (default {default})")


def note(args, engine_name: str | None) -> None:
    """Say on stderr what `auto` resolved to, for learned engines only."""
    if getattr(args, "precision", "fp32") != "auto" or engine_name in (None, "classic", "grabcut-plain", "flow-warp"):
        return
    from annotator.nn.precision import describe

    print(f"annotator: {describe('auto')}", file=sys.stderr)
