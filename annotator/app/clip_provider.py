"""The one CLIP session the app's Find box and label suggestions share.

Built on first use (by whoever calls `get`: the GUI calls it on the engine's thread only) and
kept, one per model name. `missing()` says, without loading weights, why there is none and
how to get one, so the GUI can answer at once instead of after a failed load. No Qt; torch
only through the session.
"""
from __future__ import annotations

import threading

HOW_TO_GET = ("get one with Models > Model manager (clip_b16) or `annotator models download clip_b16`")


class ClipProvider:
    def __init__(self, name: str | None = None, weights=None):
        """name: a CLIP card (None: the first installed of engines.clip_session.CLIP_PREFERENCE);
        weights: None (the installed checkpoint), a file, or "random"."""
        self.name = name or None
        self.weights = weights
        self._session = None
        self._built_for = None
        self._lock = threading.Lock()

    def missing(self) -> str | None:
        """None when a CLIP model can be loaded, else one line saying what is missing."""
        from annotator.engines import registry
        from annotator.engines.clip_session import default_clip_card
        from annotator.errors import AnnotatorError

        try:
            card = registry.get_card(self.name) if self.name else default_clip_card()
        except AnnotatorError as e:
            return f"{e}; {HOW_TO_GET}" if self.name else f"no CLIP model is installed; {HOW_TO_GET}"
        if card.kind != "clip":
            return f"model {card.name} is not a CLIP model; {HOW_TO_GET}"
        if self.weights is None and registry.installed_path(card) is None:
            return f"CLIP model {card.name} is not installed; {HOW_TO_GET}"
        return None

    def get(self):
        """The ClipSession (loaded the first time; reloaded when the installed models changed
        which card is the default)."""
        from annotator.engines.clip_session import create_clip_session

        with self._lock:
            reason = self.missing()
            if reason is not None:
                from annotator.errors import ModelNotAvailableError

                raise ModelNotAvailableError(reason)
            want = (self.name, str(self.weights))
            if self._session is None or self._built_for != want or (
                    not self.name and self._session.name != _default_name()):
                self._session = None  # free the old one before loading the next
                self._session = create_clip_session(self.name, self.weights)
                self._built_for = want
            return self._session


def _default_name() -> str:
    from annotator.engines.clip_session import default_clip_card

    return default_clip_card().name
