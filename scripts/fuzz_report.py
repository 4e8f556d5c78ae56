"""Closing figures of the import fuzz harness (tests/fuzz): per area, inputs tried / accepted /
clear errors / vague errors / tracebacks / crashes / hangs / over the memory cap / wrongly
accepted / data lost. Prints a table and writes JSON.

    python scripts/fuzz_report.py [--random N] [--systematic K] [--json out.json] [--code CHECKOUT]

--random: random mutations per area on top of the named reproductions (default 200; the test
suite runs 40). --systematic K: every K-th of the substitutions of each node of each seed
document by each of a few hostile values (default 1: all of them; the suite runs every 4th). --export: also export every successful import again in its own format (a report of the
exporters; the suite does not assert it). --code: fuzz another checkout's annotator package (e.g. an older commit
unpacked with `git archive`) with this corpus, for before/after figures.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--random", type=int, default=200, help="random mutations per area (default 200)")
    ap.add_argument("--json", type=Path, default=Path("fuzz_report.json"), help="where to write the JSON")
    ap.add_argument("--code", type=Path, help="the checkout whose annotator package is fuzzed")
    ap.add_argument("--areas", help="comma-separated subset of: coco,ytvis,sav,davis,labelme,prompt")
    ap.add_argument("--failures", action="store_true", help="list every failing case")
    ap.add_argument("--systematic", type=int, default=1, metavar="K",
                    help="every K-th of the every-node substitutions (default 1: all; 0: none)")
    ap.add_argument("--export", action="store_true",
                    help="also export every successful import again in its format and tally that")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if a.export:
        os.environ["ANNOTATOR_FUZZ_EXPORT"] = "1"
    if a.code:
        os.environ["ANNOTATOR_FUZZ_CODE"] = str(a.code.resolve())
    import fuzz_harness as h

    t0 = time.perf_counter()
    cases, results = h.run_corpus(n_random=a.random, areas=a.areas.split(",") if a.areas else None,
                                  systematic_every=a.systematic)
    took = time.perf_counter() - t0
    table = h.tally(cases, results)
    print(h.format_table(table))
    peak = max((r.get("peak_rss_mib", 0) for r in results.values()), default=0)
    slowest = max(results.items(), key=lambda kv: kv[1].get("seconds", 0))
    print(f"memory cap {h.MEM_MB} MiB address space per child (highest resident peak seen: {peak} MiB), "
          f"{h.CASE_TIMEOUT:.0f} s per case (slowest: {slowest[0]}, {slowest[1].get('seconds', 0):.1f} s); "
          f"{len(cases)} inputs in {took:.0f} s")
    fails = h.failures(cases, results)
    if a.failures:
        print("\n".join(fails))
    exports = {}
    if a.export:
        exports = h.tally_exports(cases, results)
        print("\nexporting each successful import again in its own format:")
        print(h.format_table(exports))
        if a.failures:
            print("\n".join(h.export_failures(cases, results)))
    a.json.write_text(json.dumps({"table": table, "exports": exports, "seconds": round(took, 1), "mem_cap_mib": h.MEM_MB,
                                  "case_timeout_s": h.CASE_TIMEOUT, "peak_rss_mib": peak, "code": str(h.CODE_ROOT),
                                  "random_per_area": a.random, "failures": fails,
                                  "results": {c["id"]: {k: v for k, v in results[c["id"]].items()
                                                        if k != "traceback"} for c in cases}},
                                 indent=1, allow_nan=True))
    print(f"wrote {a.json}")
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(main())
