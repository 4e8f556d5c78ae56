"""Engines contributed by plugins (README "Plugins"; formats/registry.py finds the plugins).

A plugin's register(api) calls `api.add("engine", spec)`. The spec has a `name` and
`image_session` and/or `video_session`: callables taking no argument that return a session
(engines/protocols.py). Such an engine is listed after the built-in and learned ones (the
model combo, `annotator models list`), created by registry.create_image_session /
create_video_session like them, and never chosen as the default. No Qt, no torch."""
from __future__ import annotations

import logging

from annotator.errors import ModelNotAvailableError

log = logging.getLogger(__name__)

KINDS = ("image", "video")


def collect(reserved: set[str]) -> dict[str, object]:
    """name -> spec of every valid plugin engine; one that lacks a name or a session
    factory, or takes a name already in `reserved` or used by another plugin, is logged in
    one line and skipped."""
    from annotator.formats import registry as plugin_registry

    out: dict[str, object] = {}
    for spec in plugin_registry.extras("engine"):
        name = str(getattr(spec, "name", "") or "")
        if not name or not kinds(spec):
            log.warning("plugin engine %r: needs a name and image_session or video_session; skipped", spec)
        elif name in reserved or name in out:
            log.warning("plugin engine %s: the name is already taken (a plugin may not replace an engine); "
                        "skipped", name)
        else:
            out[name] = spec
    return out


def kinds(spec) -> tuple[str, ...]:
    return tuple(k for k in KINDS if callable(getattr(spec, f"{k}_session", None)))


def create(spec, kind: str):
    if kind not in kinds(spec):
        raise ModelNotAvailableError(f"plugin engine {spec.name} has no {kind} mode")
    try:
        return getattr(spec, f"{kind}_session")()
    except Exception as e:
        raise ModelNotAvailableError(f"plugin engine {spec.name}: its {kind} session failed to start "
                                     f"({type(e).__name__}: {e})") from e
