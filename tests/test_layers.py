"""The layer map, enforced: an AST walk over annotator/ (nothing is imported).

Rules (docs/ARCHITECTURE.md has the map):
- core, media, formats, app, batch: no PySide6 and no torch at module level;
- PySide6 (and qtawesome, which drags Qt in) only under gui/;
- nothing below gui (everything but gui/, commands/, cli.py, __main__.py) imports gui;
- gui imports neither commands/ nor cli.py, nor torch (torch runs behind engines);
- a gui/ module that needs no Qt lives in a lower layer;
- no import cycles in annotator/, counting lazy (function-level) imports too;
- no file over MAX_LINES lines.

The KNOWN_* lists name today's offenders so the test passes now and fails on a new one. They
only shrink: an entry that no longer applies fails the test too, so it is deleted when fixed.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = "annotator"
MAX_LINES = 600
QT_ROOTS = {"PySide6", "shiboken6", "qtawesome"}
NO_QT_NO_TORCH = ("core", "media", "formats", "app", "batch")
ABOVE_GUI = ("gui", "commands", "cli", "__main__")

# file (relative to annotator/) -> the line count it may not exceed while it is split up
KNOWN_LONG: dict = {}
# the main window is a composition root: widgets, controllers and their wiring, no rules
MAIN_WINDOW_MAX_LINES = 400
# (importer, imported) pairs that break a rule today
KNOWN_GUI_COMMANDS: set = set()
KNOWN_GUI_TORCH: set = set()
# gui/ modules with no Qt import: GUI-only concerns that stay with the GUI on purpose
GUI_WITHOUT_QT_OK = {"annotator.gui.settings", "annotator.gui.threads", "annotator.gui"}
KNOWN_GUI_WITHOUT_QT: set = set()
# each cycle as the sorted tuple of its modules
KNOWN_CYCLES: set = set()


@dataclass(frozen=True)
class Import:
    target: str  # dotted name, resolved to the longest module of ours when it is ours
    top: bool  # executed at import time (not inside a function, not under TYPE_CHECKING)
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def scan(root: Path) -> tuple[dict[str, Path], dict[str, list[Import]]]:
    files = {module_name(root, p): p for p in sorted((root / PKG).rglob("*.py"))}

    def ours(name: str) -> str:
        parts = name.split(".")
        while parts and ".".join(parts) not in files:
            parts.pop()
        return ".".join(parts) if parts else name

    graph: dict[str, list[Import]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        found: list[Import] = []

        def visit(nodes, top: bool) -> None:
            for n in nodes:
                if isinstance(n, ast.Import):
                    found.extend(Import(ours(a.name), top, n.lineno) for a in n.names)
                elif isinstance(n, ast.ImportFrom):
                    if n.level:
                        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                        base = base[: len(base) - (n.level - 1)]
                        src = ".".join(base + ([n.module] if n.module else []))
                    else:
                        src = n.module or ""
                    for a in n.names:
                        sub = f"{src}.{a.name}"
                        found.append(Import(ours(sub if sub in files else src), top, n.lineno))
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(ast.iter_child_nodes(n), False)
                elif isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
                    visit(n.orelse, top)
                else:
                    visit(ast.iter_child_nodes(n), top)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)).body, True)
        graph[mod] = found
    return files, graph


def layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def root_of(name: str) -> str:
    return name.split(".")[0]


def violations(root: Path) -> dict[str, set]:
    files, graph = scan(root)
    out: dict[str, set] = {k: set() for k in
                           ("qt_torch_at_import", "qt_outside_gui", "imports_gui", "gui_commands",
                            "gui_torch", "gui_without_qt", "cycles", "long")}
    for mod, imps in graph.items():
        lay = layer(mod)
        for imp in imps:
            r = root_of(imp.target)
            if lay in NO_QT_NO_TORCH and imp.top and (r in QT_ROOTS or r == "torch"):
                out["qt_torch_at_import"].add((mod, r))
            if lay != "gui" and r in QT_ROOTS:
                out["qt_outside_gui"].add((mod, r))
            if lay not in ABOVE_GUI and layer(imp.target) == "gui" and r == PKG:
                out["imports_gui"].add((mod, imp.target))
            if lay == "gui" and r == PKG and layer(imp.target) in ("commands", "cli"):
                out["gui_commands"].add((mod, imp.target))
            if lay == "gui" and r == "torch":
                out["gui_torch"].add((mod, "torch"))
        if lay == "gui" and not any(root_of(i.target) in QT_ROOTS for i in imps):
            if mod not in GUI_WITHOUT_QT_OK:
                out["gui_without_qt"].add(mod)
    out["cycles"] = cycles({m: {i.target for i in imps if i.target in files and i.target != m}
                            for m, imps in graph.items()})
    for mod, path in files.items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            out["long"].add((str(path.relative_to(root / PKG)), n))
    return out


def cycles(g: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: set[tuple[str, ...]] = set()
    counter = 0
    for start in g:
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.add(tuple(sorted(comp)))
    return found


@pytest.fixture(scope="module")
def found():
    return violations(ROOT)


def test_no_qt_or_torch_at_import_in_lower_layers(found):
    assert found["qt_torch_at_import"] == set()


def test_qt_only_under_gui(found):
    assert found["qt_outside_gui"] == set()


def test_nothing_below_gui_imports_gui(found):
    assert found["imports_gui"] == set()


def test_gui_does_not_import_commands(found):
    assert found["gui_commands"] == KNOWN_GUI_COMMANDS


def test_gui_does_not_import_torch(found):
    assert found["gui_torch"] == KNOWN_GUI_TORCH


def test_gui_modules_need_qt(found):
    assert found["gui_without_qt"] == KNOWN_GUI_WITHOUT_QT


def test_no_import_cycles(found):
    assert found["cycles"] == KNOWN_CYCLES


def test_no_long_files(found):
    long = dict(found["long"])
    new = {f: n for f, n in long.items() if f not in KNOWN_LONG}
    grown = {f: n for f, n in long.items() if f in KNOWN_LONG and n > KNOWN_LONG[f]}
    fixed = set(KNOWN_LONG) - set(long)
    assert not new, f"over {MAX_LINES} lines: {new}"
    assert not grown, f"known long files grew (split them instead): {grown}"
    assert not fixed, f"now under {MAX_LINES} lines, drop from KNOWN_LONG: {fixed}"


def test_main_window_is_small():
    n = len((ROOT / PKG / "gui" / "main_window.py").read_text(encoding="utf-8").splitlines())
    assert n < MAIN_WINDOW_MAX_LINES, f"gui/main_window.py has {n} lines: move rules into a controller or app/"


# --- the checker itself catches each kind of breakage (a synthetic tree per rule) ---

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / PKG / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for d in list((tmp_path / PKG).rglob("*")):
        if d.is_dir() and not (d / "__init__.py").exists():
            (d / "__init__.py").write_text("")
    (tmp_path / PKG / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize("rule,files,expect", [
    ("qt_torch_at_import", {"core/a.py": "import torch\n"}, ("annotator.core.a", "torch")),
    ("qt_torch_at_import", {"app/a.py": "import json\nfrom PySide6 import QtCore\n"},
     ("annotator.app.a", "PySide6")),  # also breaks qt_outside_gui
    ("qt_outside_gui", {"engines/a.py": "def f():\n    import qtawesome\n"},
     ("annotator.engines.a", "qtawesome")),
    ("imports_gui", {"formats/a.py": "def f():\n    from annotator.gui import canvas\n",
                     "gui/canvas.py": "import PySide6\n"},
     ("annotator.formats.a", "annotator.gui.canvas")),
    ("gui_commands", {"gui/w.py": "import PySide6\ndef f():\n    from ..commands.models import x\n",
                      "commands/models.py": ""},
     ("annotator.gui.w", "annotator.commands.models")),
    ("gui_torch", {"gui/w.py": "import PySide6\ndef f():\n    import torch.nn\n"},
     ("annotator.gui.w", "torch")),
    ("gui_without_qt", {"gui/plain.py": "import numpy\n"}, "annotator.gui.plain"),
    ("cycles", {"engines/a.py": "from . import b\n", "engines/b.py": "def f():\n    from . import a\n"},
     ("annotator.engines.a", "annotator.engines.b")),
    ("long", {"core/big.py": "x = 1\n" * (MAX_LINES + 1)}, ("core/big.py", MAX_LINES + 1)),
])
def test_checker_catches(tmp_path, rule, files, expect):
    found = violations(_tree(tmp_path, files))
    assert expect in found[rule]
    also = {"qt_outside_gui"} if rule == "qt_torch_at_import" and expect[1] == "PySide6" else set()
    assert all(not v for k, v in found.items() if k != rule and k not in also), found


def test_checker_ignores_type_checking_and_lazy_torch(tmp_path):
    found = violations(_tree(tmp_path, {
        "core/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                     "def f():\n    import torch\n",
    }))
    assert all(not v for v in found.values()), found
