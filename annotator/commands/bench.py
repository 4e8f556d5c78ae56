"""`annotator bench image|video|classic ...`: speed and memory tables, also written as JSON.

Each module in annotator/bench/ exposes `register(subparsers)` and adds one benchmark.
"""
from __future__ import annotations

import importlib
import pkgutil


def register(sub) -> None:
    p = sub.add_parser("bench", help="speed and memory benchmarks (prints a table, --json writes it)")
    bench_sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    import annotator.bench as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        importlib.import_module(f"annotator.bench.{info.name}").register(bench_sub)
