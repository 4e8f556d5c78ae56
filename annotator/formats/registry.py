"""The one place formats (and other plugin contributions) are found.

Built-in formats are modules of this package. Plugins come from
  * the entry-point group `annotator.plugins` (installed packages), and
  * plugin folders: the repository's top-level `plugins/`, `<user data dir>/plugins`, and any
    folder in ANNOTATOR_PLUGIN_PATH (os.pathsep-separated).
In a folder, a plugin is a `name.py` file or a `name/` package with `__init__.py`.

A plugin module (or the object an entry point names) either defines `register(api)` and calls
`api.add_format(fmt)` / `api.add(kind, obj)` there, or simply exposes `FORMAT` / `FORMATS`.
A plugin that fails to import or register is logged with its traceback, listed by
`broken_plugins()`, and skipped: one bad plugin never stops the app.

Plugins load lazily: asking for a built-in format (or alias) never touches them. Third-party
plugins (entry points, the user's and ANNOTATOR_PLUGIN_PATH folders; not the bundled
plugins/ folder) are first tried in a child process (plugin_probe.py) with a time bound
(ANNOTATOR_PLUGIN_TIMEOUT seconds, default 10): one that hangs or kills its process while
loading is reported broken and never imported here. A plugin may not take a built-in
format's name or alias.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from annotator.errors import FormatError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "annotator.plugins"
BUILTIN_FORMATS = ("annotator.formats.coco", "annotator.formats.sav", "annotator.formats.ytvis",
                   "annotator.formats.davis", "annotator.formats.yolo", "annotator.formats.mask_png")
ALIASES = {"sa-v": "sav", "sa_v": "sav", "youtube-vis": "ytvis", "youtubevis": "ytvis", "yvis": "ytvis",
           "coco-instances": "coco", "yolo-seg": "yolo", "ultralytics": "yolo", "mask-png": "maskpng",
           "mask_png": "maskpng", "masks": "maskpng"}
DEFAULT_PLUGIN_TIMEOUT = 10.0


@dataclass(frozen=True)
class PluginInfo:
    name: str
    origin: str          # file/folder path or "entry point <name>"
    ok: bool
    error: str = ""      # one line when broken
    provides: tuple[str, ...] = ()


class PluginAPI:
    """Handed to a plugin's register(api)."""

    def __init__(self, registry: "_Registry", plugin: str):
        self._reg = registry
        self._plugin = plugin
        self.provided: list[str] = []

    def add_format(self, fmt) -> None:
        self._reg._add_format(fmt, self._plugin)
        self.provided.append(f"format:{fmt.name}")

    def add(self, kind: str, obj) -> None:
        """Any other contribution (an engine, a tool): kept for the subsystem that asks for it."""
        self._reg.extras.setdefault(kind, []).append(obj)
        self.provided.append(f"{kind}:{getattr(obj, 'name', type(obj).__name__)}")


def plugin_dirs() -> list[Path]:
    from annotator import paths

    dirs = [paths.bundled("plugins")]  # shipped with the app (in the wheel, or the checkout's)
    try:
        dirs.append(paths.data_dir() / "plugins")
    except OSError:
        pass
    for p in os.environ.get("ANNOTATOR_PLUGIN_PATH", "").split(os.pathsep):
        if p.strip():
            dirs.append(Path(p.strip()))
    seen, out = set(), []
    for d in dirs:
        key = os.path.normcase(os.path.abspath(d))
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class _Registry:
    def __init__(self):
        self.formats: dict[str, object] = {}
        self.format_origin: dict[str, str] = {}
        self.extras: dict[str, list] = {}
        self.plugins: list[PluginInfo] = []
        self.builtins_loaded = False
        self.loaded = False
        self.lock = threading.RLock()

    # -- adding -------------------------------------------------------------------------------
    def _add_format(self, fmt, origin: str) -> None:
        for attr in ("name", "export", "load"):
            if not hasattr(fmt, attr):
                raise TypeError(f"format object {fmt!r} has no '{attr}'")
        name = str(fmt.name).lower()
        if not name:
            raise TypeError(f"format object {fmt!r} has an empty name")
        if origin not in BUILTIN_FORMATS and name in ALIASES:
            raise ValueError(f"format name '{name}' is an alias of the built-in format {ALIASES[name]}; "
                             "a plugin may not shadow it")
        if name in self.formats:
            builtin = " (a plugin may not replace a built-in format)" if self.format_origin[name] in BUILTIN_FORMATS else ""
            raise ValueError(f"format '{name}' is already provided by {self.format_origin[name]}{builtin}")
        self.formats[name] = fmt
        self.format_origin[name] = origin

    def _register_module(self, mod, origin: str) -> list[str]:
        api = PluginAPI(self, origin)
        target = mod
        if callable(getattr(target, "register", None)):
            target.register(api)
        else:
            fmts = list(getattr(target, "FORMATS", []) or [])
            if getattr(target, "FORMAT", None) is not None:
                fmts.append(target.FORMAT)
            if not fmts and hasattr(target, "name") and hasattr(target, "export"):
                fmts = [target]  # an entry point may name a format object directly
            if not fmts:
                raise TypeError("defines neither register(api) nor FORMAT/FORMATS")
            for f in fmts:
                api.add_format(f)
        return api.provided

    def _try_plugin(self, name: str, origin: str, loader) -> None:
        # Roll back partial registrations of a plugin that fails half way.
        before_formats = dict(self.formats)
        before_extras = {k: list(v) for k, v in self.extras.items()}
        try:
            mod = loader()
            provided = self._register_module(mod, origin)
            self.plugins.append(PluginInfo(name, origin, True, "", tuple(provided)))
            log.info("plugin %s loaded from %s (%s)", name, origin, ", ".join(provided) or "nothing")
        except BaseException as e:  # noqa: BLE001 - SystemExit from a plugin must not stop us either
            if isinstance(e, KeyboardInterrupt):
                raise
            self.formats = before_formats
            self.format_origin = {k: v for k, v in self.format_origin.items() if k in before_formats}
            self.extras = before_extras
            msg = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
            log.warning("plugin %s (%s) is broken and was skipped: %s", name, origin, msg, exc_info=True)
            self.plugins.append(PluginInfo(name, origin, False, msg))

    # -- discovery ----------------------------------------------------------------------------
    def load_builtins(self) -> None:
        with self.lock:
            if self.builtins_loaded:
                return
            for modname in BUILTIN_FORMATS:
                # A failing built-in is a bug, but it is reported like a broken plugin so the
                # other formats (and the app) keep working.
                self._try_plugin(modname.rsplit(".", 1)[-1], modname,
                                 lambda m=modname: importlib.import_module(m))
            self.builtins_loaded = True

    def load(self) -> None:
        with self.lock:
            if self.loaded:
                return
            self.load_builtins()
            found = self._entry_points() + [c for d in plugin_dirs() for c in self._folder(d)]
            verdicts = _probe([spec for *_, spec in found if spec is not None])
            k = 0
            for name, origin, loader, spec in found:
                if spec is not None:
                    ok, msg = verdicts[k]
                    k += 1
                    if not ok:
                        log.warning("plugin %s (%s) is broken and was skipped: %s", name, origin, msg)
                        self.plugins.append(PluginInfo(name, origin, False, msg))
                        continue
                self._try_plugin(name, origin, loader)
            self.loaded = True

    def _entry_points(self) -> list:
        try:
            from importlib.metadata import entry_points

            eps = entry_points(group=ENTRY_POINT_GROUP)
        except Exception as e:  # pragma: no cover - broken metadata in site-packages
            log.warning("cannot read entry points: %s", e)
            return []
        return [(ep.name, f"entry point {ep.value}", ep.load,
                 {"name": ep.name, "kind": "ep", "value": ep.value, "group": ENTRY_POINT_GROUP}) for ep in eps]

    def _folder(self, folder: Path) -> list:
        if not folder.is_dir():
            return []
        from annotator import paths

        trusted = os.path.normcase(os.path.abspath(folder)) == os.path.normcase(
            os.path.abspath(paths.bundled("plugins")))  # shipped with the app
        out = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith((".", "_")):
                continue
            if entry.is_dir() and (entry / "__init__.py").exists():
                file, name = entry / "__init__.py", entry.name
            elif entry.is_file() and entry.suffix == ".py":
                file, name = entry, entry.stem
            else:
                continue
            spec = None if trusted else {"name": name, "kind": "file", "file": str(file)}
            out.append((name, str(entry), lambda f=file, n=name: _import_file(f, n), spec))
        return out


def _probe(specs: list[dict]) -> list[tuple[bool, str]]:
    """Try each plugin in a child process, in order: (ok, one-line error) per spec. A plugin
    that runs past the time bound or ends the child is broken; the next child goes on after it."""
    if not specs:
        return []
    if getattr(sys, "frozen", False):  # no interpreter to start: trust them, as before
        return [(True, "")] * len(specs)
    try:
        limit = float(os.environ.get("ANNOTATOR_PLUGIN_TIMEOUT", DEFAULT_PLUGIN_TIMEOUT))
    except ValueError:
        limit = DEFAULT_PLUGIN_TIMEOUT
    out: list[tuple[bool, str]] = []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    while len(out) < len(specs):
        rest = specs[len(out):]
        proc = subprocess.Popen([sys.executable, "-m", "annotator.formats.plugin_probe"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(ln) for ln in iter(proc.stdout.readline, "")] + [lines.put(None)],
                         daemon=True).start()
        try:
            proc.stdin.write(json.dumps(rest))
            proc.stdin.close()
        except OSError:
            pass
        current, started = None, time.monotonic()
        while len(out) < len(specs):
            try:
                line = lines.get(timeout=max(0.0, started + limit - time.monotonic()))
            except queue.Empty:
                proc.kill()
                out.append((False, f"did not finish loading within {limit:g} s (an endless loop?); "
                                   "not loaded (ANNOTATOR_PLUGIN_TIMEOUT raises the limit)"))
                break
            if line is None:  # the child is gone mid-plugin (os._exit, a crash) or before starting
                code = proc.wait()
                out.append((False, f"ended the process while loading (exit code {code}); not loaded"))
                break
            kind, _, rest_line = line.strip().partition(" ")
            idx, _, payload = rest_line.partition(" ")
            if kind == "START":
                current, started = int(idx), time.monotonic()
            elif kind in ("OK", "FAIL") and current is not None:
                out.append((kind == "OK", "" if kind == "OK" else str(json.loads(payload))))
                started = time.monotonic()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def _import_file(file: Path, name: str):
    modname = f"annotator_plugins.{name}"
    spec = importlib.util.spec_from_file_location(
        modname, file, submodule_search_locations=[str(file.parent)] if file.name == "__init__.py" else None)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return mod


_REG = _Registry()


def _registry() -> _Registry:
    if not _REG.loaded:
        _REG.load()
    return _REG


def _builtin(key: str):
    """A built-in format by name or alias, without loading any plugin."""
    _REG.load_builtins()
    name = ALIASES.get(key, key)
    fmt = _REG.formats.get(name)
    return fmt if fmt is not None and _REG.format_origin.get(name) in BUILTIN_FORMATS else None


def list_formats() -> list:
    """Every available format object, built-ins first, then plugins, each in name order."""
    reg = _registry()
    builtin = [f for n, f in sorted(reg.formats.items()) if reg.format_origin[n] in BUILTIN_FORMATS]
    rest = [f for n, f in sorted(reg.formats.items()) if reg.format_origin[n] not in BUILTIN_FORMATS]
    return builtin + rest


def get_format(name: str):
    key = str(name).lower()
    fmt = _builtin(key)
    if fmt is not None:
        return fmt
    reg = _registry()
    fmt = reg.formats.get(key)
    if fmt is None:
        broken = [p for p in reg.plugins if not p.ok and p.name.lower().startswith(str(name).lower())]
        hint = f"; plugin {broken[0].name} is broken: {broken[0].error}" if broken else ""
        raise FormatError(f"unknown format '{name}' (available: {', '.join(sorted(reg.formats))}){hint}")
    return fmt


def format_for_path(path) -> object | None:
    """The format whose extension list matches this file name, if exactly one does."""
    low = str(path).lower()
    hits = [f for f in list_formats() if any(low.endswith(e) for e in getattr(f, "extensions", ()) or ())]
    return hits[0] if len(hits) == 1 else None


def plugins() -> list[PluginInfo]:
    return list(_registry().plugins)


def broken_plugins() -> list[PluginInfo]:
    return [p for p in _registry().plugins if not p.ok]


def extras(kind: str) -> list:
    """Non-format plugin contributions of one kind (e.g. "engine")."""
    return list(_registry().extras.get(kind, []))


def reload() -> None:
    """Forget everything and discover again (tests; after installing a plugin)."""
    global _REG
    with _REG.lock:
        for m in [m for m in sys.modules if m.startswith("annotator_plugins.")]:
            sys.modules.pop(m, None)
        _REG = _Registry()
