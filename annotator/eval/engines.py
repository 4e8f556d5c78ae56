"""Engines by name for the evaluators: the classic ones here, learned ones via the registry."""
from __future__ import annotations

from annotator.errors import AnnotatorError, ModelNotAvailableError

CLASSIC_IMAGE = ("classic", "grabcut-plain")
CLASSIC_VIDEO = ("classic", "flow-warp")


def _registry():
    try:
        from annotator.engines import registry
    except ImportError as e:
        raise ModelNotAvailableError(
            f"learned engines need annotator/engines/registry.py, which cannot be imported ({e}); "
            f"classic engines: {', '.join(sorted(set(CLASSIC_IMAGE + CLASSIC_VIDEO)))}"
        ) from None
    return registry


def make_image_session(name: str, weights: str | None = None):
    if name == "classic":
        from annotator.engines.classic import ClassicImageSession

        return ClassicImageSession()
    if name == "grabcut-plain":
        from annotator.engines.baselines import GrabCutPlainImageSession

        return GrabCutPlainImageSession()
    if name == "flow-warp":
        raise AnnotatorError("engine 'flow-warp' only propagates video masks; use it with `eval vos`")
    return _registry().create_image_session(name, weights=weights)


def make_video_session(name: str, weights: str | None = None):
    if name == "classic":
        from annotator.engines.classic import ClassicVideoSession

        return ClassicVideoSession()
    if name == "flow-warp":
        from annotator.engines.baselines import FlowWarpVideoSession

        return FlowWarpVideoSession()
    if name == "grabcut-plain":
        raise AnnotatorError("engine 'grabcut-plain' is an image baseline; use it with `eval noc`")
    return _registry().create_video_session(name, weights=weights)
