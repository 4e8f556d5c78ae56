"""Leave-one-sequence-out (LOO) tuning of the classic engine's knobs.

For each sequence S of the set, the grid point that scores best on the *other*
sequences is chosen and S is scored with it; the LOO figure is the mean of those
held-out scores. So no sequence is ever scored with parameters tuned on it, unlike
picking the grid point that is best on all of them (the "in-sample" figure, printed
beside it: the gap between the two says how much the tuning fits the set).

Per (grid point, sequence) results are cached as small JSON files, keyed by the
parameters, the evaluation settings and a hash of the classic engine's source, so a
rerun only evaluates what changed. Selection: NoC@90 (lower is better, mean over the
samples of the other sequences, NoC@85 breaks ties); J&F (higher is better, mean over
the objects of the other sequences). Ties go to the earlier grid point.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Callable

import numpy as np

from annotator.errors import AnnotatorError

ENGINE_FILES = ("classic.py", "classic_image.py", "classic_masks.py", "classic_box.py", "classic_candidates.py")


def parse_grid(text: str | None) -> list[dict]:
    """'a=1,2;b=0.5' -> [{'a': 1, 'b': 0.5}, {'a': 2, 'b': 0.5}]. Empty -> [{}] (defaults)."""
    if not text or not text.strip():
        return [{}]
    axes = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise AnnotatorError(f"--loo grid: '{part}' is not name=v1,v2,...")
        name, vals = part.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise AnnotatorError(f"--loo grid: '{name}' is not a parameter name")
        values = []
        for v in vals.split(","):
            v = v.strip()
            try:
                values.append(json.loads(v.lower() if v.lower() in ("true", "false") else v))
            except ValueError:
                raise AnnotatorError(f"--loo grid: value '{v}' of {name} is not a number or true/false") from None
        if not values:
            raise AnnotatorError(f"--loo grid: {name} has no values")
        axes.append((name, values))
    names = [a[0] for a in axes]
    return [dict(zip(names, combo)) for combo in itertools.product(*(a[1] for a in axes))]


def engine_fingerprint() -> str:
    """Hash of the classic engine's source: a code change invalidates cached results."""
    h = hashlib.sha256()
    base = Path(__file__).resolve().parents[1] / "engines"
    for name in ENGINE_FILES:
        p = base / name
        if p.is_file():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _label(params: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items()) or "defaults"


class Cache:
    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else Path(folder)

    def _path(self, key: dict) -> Path | None:
        if self.folder is None:
            return None
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return self.folder / f"{key['kind']}-{key['sequence']}-{digest}.json"

    def get(self, key: dict):
        p = self._path(key)
        if p is None or not p.is_file():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a damaged cache file is recomputed, not fatal
        return data.get("result") if data.get("key") == key else None

    def put(self, key: dict, result) -> None:
        p = self._path(key)
        if p is None:
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_suffix(".tmp")
            tmp.write_text(json.dumps({"key": key, "result": result}), encoding="utf-8")
            tmp.replace(p)
        except OSError as e:
            raise AnnotatorError(f"{p}: cannot write the LOO cache ({e.strerror})") from None


# -- per-sequence evaluation (one grid point, one sequence)
def noc_sequence(params: dict, seq, every: int, max_clicks: int) -> list[dict]:
    """Per-sample NoC@85/90 and IoU curve of the classic image engine with `params`."""
    from annotator.eval.noc import evaluate_noc

    session = make_image_session(params)
    rep = evaluate_noc(session, [seq], "classic", every, max_clicks)
    return [
        {"frame": s.frame, "obj": s.obj_id, "noc85": s.noc(0.85, max_clicks), "noc90": s.noc(0.90, max_clicks), "ious": s.ious}
        for s in rep.samples
    ]


def vos_sequence(params: dict, seq, init: str, init_clicks: int) -> dict:
    """Per-object (J, F) in percent of the classic video engine with `params`."""
    from annotator.eval.vos import evaluate_sequence

    session = make_video_session(params)
    r = evaluate_sequence(session, seq, init, init_clicks)
    return {str(k): [j, f] for k, (j, f) in r.objects.items()}


def make_image_session(params: dict):
    from annotator.engines.classic import ClassicImageSession

    s = ClassicImageSession()
    for k, v in params.items():
        if k.startswith("_") or not hasattr(s, k) or callable(getattr(s, k)):
            raise AnnotatorError(f"--loo grid: the classic image engine has no knob '{k}'")
        setattr(s, k, v)
    return s


def make_video_session(params: dict):
    from annotator.engines.classic import ClassicVideoSession

    s = ClassicVideoSession()
    unknown = [k for k in params if k not in s.params]
    if unknown:
        raise AnnotatorError(f"--loo grid: the classic video engine has no knob '{unknown[0]}' (knobs: {', '.join(s.params)})")
    s.params.update(params)
    return s


# -- scoring and selection
def _noc_score(results: list[list[dict]]) -> tuple[float, float]:
    samples = [s for r in results for s in r]
    if not samples:
        return (float("inf"), float("inf"))
    return (float(np.mean([s["noc90"] for s in samples])), float(np.mean([s["noc85"] for s in samples])))


def _vos_score(results: list[dict]) -> float:
    objs = [jf for r in results for jf in r.values()]
    return float(np.mean([(j + f) / 2 for j, f in objs])) if objs else float("-inf")


def run_loo(
    kind: str,
    sequences: list,
    grid: list[dict],
    evaluate: Callable[[dict, object], object],
    settings: dict,
    cache: Cache,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Evaluate every grid point on every sequence (cached), then select per held-out
    sequence. kind is 'noc' or 'vos'. Returns the JSON-ready report."""
    if kind not in ("noc", "vos"):
        raise AnnotatorError(f"LOO: unknown evaluation {kind!r}")
    if len(sequences) < 2:
        raise AnnotatorError("LOO needs at least 2 sequences (one held out, the others to tune on)")
    fp = engine_fingerprint()
    table: list[dict[str, object]] = []  # grid index -> sequence -> result
    for gi, params in enumerate(grid):
        row = {}
        for seq in sequences:
            key = {"kind": kind, "sequence": seq.name, "params": params, "settings": settings, "engine": fp}
            res = cache.get(key)
            if res is None:
                res = evaluate(params, seq)
                cache.put(key, res)
                if progress:
                    progress(f"{kind} {_label(params)} {seq.name}: evaluated")
            row[seq.name] = res
        table.append(row)

    names = [s.name for s in sequences]
    if kind == "noc":
        score = lambda gi, subset: _noc_score([table[gi][n] for n in subset])  # noqa: E731
        better = lambda a, b: a < b  # noqa: E731
    else:
        score = lambda gi, subset: _vos_score([table[gi][n] for n in subset])  # noqa: E731
        better = lambda a, b: a > b  # noqa: E731

    def pick(subset):
        best = 0
        for gi in range(1, len(grid)):
            if better(score(gi, subset), score(best, subset)):
                best = gi
        return best

    per_seq = {}
    held_out = []
    for n in names:
        gi = pick([m for m in names if m != n])
        held_out.append(table[gi][n])
        per_seq[n] = {"chosen": grid[gi], "held_out": _summ(kind, [table[gi][n]])}
    insample = pick(names)
    report = {
        "kind": kind,
        "settings": settings,
        "engine_fingerprint": fp,
        "grid": grid,
        "loo": _summ(kind, held_out),
        "in_sample": {"chosen": grid[insample], **_summ(kind, [table[insample][n] for n in names])},
        "defaults": _summ(kind, [table[0][n] for n in names]) if grid and grid[0] == {} else None,
        "per_sequence": per_seq,
        "per_grid_point": [{"params": grid[gi], **_summ(kind, [table[gi][n] for n in names])} for gi in range(len(grid))],
    }
    return report


def _summ(kind: str, results: list) -> dict:
    if kind == "noc":
        noc90, noc85 = _noc_score(results)
        return {"noc85": noc85, "noc90": noc90, "samples": sum(len(r) for r in results)}
    objs = [jf for r in results for jf in r.values()]
    if not objs:
        return {"J": None, "F": None, "JF": None, "objects": 0}
    J = float(np.mean([j for j, _ in objs]))
    F = float(np.mean([f for _, f in objs]))
    return {"J": J, "F": F, "JF": (J + F) / 2, "objects": len(objs)}


def format_table(report: dict) -> list[str]:
    kind = report["kind"]
    lines = []
    if kind == "noc":
        lines += ["| Held-out sequence | Chosen on the other sequences | Samples | NoC@85 | NoC@90 |", "|---|---|---|---|---|"]
        for n, r in report["per_sequence"].items():
            h = r["held_out"]
            lines.append(f"| {n} | {_label(r['chosen'])} | {h['samples']} | {h['noc85']:.2f} | {h['noc90']:.2f} |")
        lo, ins = report["loo"], report["in_sample"]
        lines.append(f"| **LOO, all** | (per sequence) | {lo['samples']} | **{lo['noc85']:.2f}** | **{lo['noc90']:.2f}** |")
        lines.append(f"| in-sample best | {_label(ins['chosen'])} | {ins['samples']} | {ins['noc85']:.2f} | {ins['noc90']:.2f} |")
    else:
        lines += ["| Held-out sequence | Chosen on the other sequences | J | F | J&F |", "|---|---|---|---|---|"]
        for n, r in report["per_sequence"].items():
            h = r["held_out"]
            lines.append(f"| {n} | {_label(r['chosen'])} | {h['J']:.1f} | {h['F']:.1f} | {h['JF']:.1f} |")
        lo, ins = report["loo"], report["in_sample"]
        lines.append(f"| **LOO, mean** | (per sequence) | **{lo['J']:.1f}** | **{lo['F']:.1f}** | **{lo['JF']:.1f}** |")
        lines.append(f"| in-sample best | {_label(ins['chosen'])} | {ins['J']:.1f} | {ins['F']:.1f} | {ins['JF']:.1f} |")
    return lines
