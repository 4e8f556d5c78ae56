"""`annotator models list|download|import|verify`: the model manager on the command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from annotator.errors import AnnotatorError, CheckpointError


def register(sub) -> None:
    p = sub.add_parser("models", help="list, download, import and verify model checkpoints")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)

    pl = msub.add_parser("list", help="every model card: implemented? installed? where, size, licence")
    pl.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pl.set_defaults(func=cmd_list)

    pd = msub.add_parser("download", help="download a checkpoint (resumable, sha256-checked) into the models folder")
    pd.add_argument("name")
    pd.add_argument("--accept-licence", "--accept-license", dest="accept_licence", action="store_true",
                    help="accept a non-commercial licence without the interactive question")
    pd.set_defaults(func=cmd_download)

    pi = msub.add_parser("import", help="install a checkpoint file you downloaded by hand")
    pi.add_argument("name")
    pi.add_argument("file", type=Path)
    pi.add_argument("--allow-checksum-mismatch", action="store_true",
                    help="install even if the sha256 differs from the published one (keys are still checked)")
    pi.set_defaults(func=cmd_import)

    pv = msub.add_parser("verify", help="check the sha256 of installed checkpoints")
    pv.add_argument("name", nargs="?")
    pv.set_defaults(func=cmd_verify)


def _size(n: int | None) -> str:
    if not n:
        return "-"
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _implemented_cell(row) -> str:
    if row.implemented:
        return "yes"
    return "unsafe file" if "pickled" in row.status else "not yet"


def cmd_list(args) -> int:
    from annotator import paths
    from annotator.app import models
    from annotator.engines import registry

    rows = models.rows()
    plugged = models.plugin_engines()
    if args.json:
        out = [{"name": r.name, "kind": r.kind, "implemented": r.implemented, "status": r.status,
                "installed": r.installed, "path": str(r.path) if r.path else None, "size": r.size,
                "licence": r.licence, "commercial": r.commercial} for r in rows]
        print(json.dumps({"models_dir": str(paths.models_dir()), "models": out,
                          "plugin_engines": [{"name": n, "kinds": list(k)} for n, k in plugged],
                          "default": {k: registry.default_engine_name(k) for k in registry.KINDS}}, indent=1))
        return 0
    head = ("NAME", "KIND", "IMPLEMENTED", "SIZE", "LICENCE", "INSTALLED AT")
    table = [head] + [(r.name, r.kind, _implemented_cell(r), _size(r.size), r.licence_note,
                       str(r.path) if r.installed else "-") for r in rows]
    table += [(n, "+".join(k), "yes", "-", "-", "(plugin engine)") for n, k in plugged]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"\nmodels folder: {paths.models_dir()}")
    for kind in registry.KINDS:
        print(registry.describe_engine_choice(kind))
    return 0


def _confirm_licence(card, accept_flag: bool) -> bool:
    from annotator.engines.download import LicenceNotAccepted, licence_accepted, licence_notice

    notice = licence_notice(card)
    if notice is None or accept_flag or licence_accepted(card):
        if notice:
            print(notice, file=sys.stderr)
        return True
    print(notice, file=sys.stderr)
    if not sys.stdin or not sys.stdin.isatty():
        raise LicenceNotAccepted(
            f"model {card.name}: its licence must be accepted before download; not asking because input is not a "
            f"terminal; rerun with `annotator models download {card.name} --accept-licence`"
        )
    answer = input("Accept this licence and download? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise LicenceNotAccepted(f"model {card.name}: licence not accepted; nothing downloaded")
    return True


def cmd_download(args) -> int:
    from annotator.engines import registry
    from annotator.engines.download import TextProgress, download_card

    card = registry.get_card(args.name)
    if card.container == "pickled_module":
        from annotator.engines.checkpoint import pickled_module_message

        raise CheckpointError(f"not downloading {card.name}: " + pickled_module_message(card))
    have = registry.installed_path(card)
    if have is not None:
        print(f"{card.name} is already installed: {have} (`annotator models verify {card.name}` checks it)")
        return 0
    accepted = _confirm_licence(card, args.accept_licence)
    reason = registry.not_implemented_reason(card)
    if reason:
        print(f"note: {card.name}: {reason}; the file is downloaded but cannot be used yet", file=sys.stderr)
    path = download_card(card, progress=TextProgress(card.file), accept_licence=accepted)
    check = "sha256 verified" if card.sha256 else "no published sha256, not verified"
    print(f"installed {card.name}: {path} ({_size(path.stat().st_size)}, {check})")
    return 0


def cmd_import(args) -> int:
    from annotator.app import models

    from annotator.engines.download import ChecksumError

    try:
        result = models.import_file(args.name, args.file, args.allow_checksum_mismatch)
    except ChecksumError as e:
        raise ChecksumError(f"{e}; use --allow-checksum-mismatch for a converted or fine-tuned file") from None
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(result.summary(args.name))
    return 0


def cmd_verify(args) -> int:
    from annotator.app import models
    from annotator.engines import registry

    cards = [registry.get_card(args.name)] if args.name else sorted(registry.load_cards().values(), key=lambda c: c.name)
    bad = 0
    seen = 0
    for card in cards:
        v = models.verify(card)
        if v is None:
            if args.name:
                raise AnnotatorError(f"model {card.name} is not installed (`annotator models download {card.name}`)")
            continue
        seen += 1
        if v.verdict == "no published sha256":
            print(f"{card.name}: {v.path}: no published sha256 (file sha256 {v.digest})")
        elif v.verdict == "converted":
            print(f"{card.name}: {v.path}: converted file, published sha256 does not apply (file sha256 {v.digest})")
        elif v.verdict == "ok":
            print(f"{card.name}: {v.path}: OK")
        else:
            bad += 1
            print(f"{card.name}: {v.path}: MISMATCH sha256 {v.digest} (published {v.published}); "
                  f"delete it and download again", file=sys.stderr)
    if not seen:
        print("no checkpoints installed")
    return 2 if bad else 0
