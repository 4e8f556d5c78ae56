"""Regenerate annotator/engines/signatures.py from the official state-dict layouts.

Development tool only (the product never reads ../shared at run time):

    .venv/bin/python scripts/gen_layout_signatures.py [PARITY_DIR]

For every distinct layout it picks, greedily, a few facts (a key with its shape that must be
present, or a key that must be absent) that together tell it apart from every other layout.
Variants that share one layout (mobilesam/tinysam, the efficienttam _1/_2/_512x512 variants)
form one group.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "annotator" / "engines" / "signatures.py"

# Card names that share a layout with a schema file, beyond the schema's own name.
ALIASES = {
    "edgesam": ["edgesam_3x"],
    "mobilesam": ["tinysam"],
    "efficienttam_ti": ["efficienttam_ti_1", "efficienttam_ti_2", "efficienttam_ti_512x512"],
    "efficienttam_s": ["efficienttam_s_1", "efficienttam_s_2", "efficienttam_s_512x512"],
}
# SAM 2.0 differs from SAM 2.1 of the same size by exactly these keys (checked on the tiny size,
# the only SAM 2.0 layout dumped); the other SAM 2.0 sizes are derived from SAM 2.1 with it.
SAM21_ONLY = ["no_obj_embed_spatial", "obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias"]


def read_tsv(path: Path) -> dict[str, tuple]:
    out = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, shape, _dtype = line.split("\t")
        out[name] = tuple(ast.literal_eval(shape))
    return out


def load_layouts(parity: Path) -> dict[str, dict[str, tuple]]:
    layouts = {p.stem: read_tsv(p) for p in sorted((parity / "schemas").glob("*.tsv"))}
    # Identical layouts (tinysam == mobilesam, efficienttam_s_1 == efficienttam_s, ...) form one
    # group under the first name listed in ALIASES.
    for group, names in ALIASES.items():
        for n in names:
            if n in layouts:
                assert layouts[n] == layouts[group], (n, group)
                del layouts[n]
    for size in ("tiny", "small", "base_plus", "large"):
        new, old = f"sam2.1_hiera_{size}", f"sam2_hiera_{size}"
        if new in layouts and old not in layouts:
            layouts[old] = {k: v for k, v in layouts[new].items() if k not in SAM21_ONLY}
    if "sam2.1_hiera_tiny" in layouts and "sam2_hiera_tiny" in layouts:
        diff = set(layouts["sam2.1_hiera_tiny"]) ^ set(layouts["sam2_hiera_tiny"])
        assert diff == set(SAM21_ONLY), diff
    for p in sorted(parity.glob("*.schema.json")):  # variants whose layout only the fixture lists
        sd = {k: tuple(v) for k, v in json.loads(p.read_text())["state_dict"].items()}
        m = p.name[: -len(".schema.json")]
        if m in layouts:
            assert layouts[m] == sd, m
        else:
            owner = next((g for g, lay in layouts.items() if lay == sd), None)
            assert owner is not None and m in ALIASES.get(owner, []), (m, owner)
    return layouts


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def signature(name: str, layouts: dict[str, dict[str, tuple]]) -> dict:
    mine = layouts[name]
    others = {o: lay for o, lay in layouts.items() if o != name}
    # Anchor: the largest tensor, so an unrelated state dict that happens to share one small
    # distinctive key is not taken for this model.
    anchor = max(mine, key=lambda k: (_numel(mine[k]), k))
    present: dict[str, tuple] = {anchor: mine[anchor]}
    absent: list[str] = []
    remaining = {o for o, lay in others.items() if lay.get(anchor) == mine[anchor]}
    order = {k: i for i, k in enumerate(mine)}
    foreign = sorted({k for lay in others.values() for k in lay if k not in mine})
    while remaining:
        best = None
        for k, shape in mine.items():
            n = sum(1 for o in remaining if others[o].get(k) != shape)
            cand = (n, 1, -len(k), -order[k])
            if n and (best is None or cand > best[0]):
                best = (cand, "present", k)
        for k in foreign:
            n = sum(1 for o in remaining if k in others[o])
            cand = (n, 0, -len(k), 0)
            if n and (best is None or cand > best[0]):
                best = (cand, "absent", k)
        assert best is not None, f"{name} cannot be told apart from {sorted(remaining)}"
        _, how, k = best
        if how == "present":
            present[k] = mine[k]
            remaining = {o for o in remaining if others[o].get(k) == mine[k]}
        else:
            absent.append(k)
            remaining = {o for o in remaining if k not in others[o]}
    return {"present": present, "absent": absent}


def main() -> None:
    parity = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "parity"
    layouts = load_layouts(parity)
    lines = [
        '"""Compact fingerprints of the official state-dict layouts, used to name the likely model of a',
        "checkpoint that does not fit the chosen card.",
        "",
        "GENERATED by scripts/gen_layout_signatures.py from ../shared/parity/schemas (do not edit by hand).",
        "A state dict matches a layout when every `present` key exists with that shape and no `absent`",
        "key exists; the facts were chosen so that each official layout matches exactly one entry.",
        '"""',
        "",
        "LAYOUTS: dict[str, dict] = {",
    ]
    for name in sorted(layouts):
        sig = signature(name, layouts)
        lines.append(f"    {name!r}: {{")
        lines.append(f"        \"names\": {[name] + ALIASES.get(name, [])!r},")
        lines.append(f"        \"entries\": {len(layouts[name])},")
        lines.append("        \"present\": {")
        for k, shape in sig["present"].items():
            lines.append(f"            {k!r}: {shape!r},")
        lines.append("        },")
        lines.append(f"        \"absent\": {sig['absent']!r},")
        lines.append("    },")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT} ({len(layouts)} layouts)")


if __name__ == "__main__":
    main()
