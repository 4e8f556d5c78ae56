"""What the application does to its process once, at start-up, before any model runs."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def prepare_process() -> None:
    """Tune glibc malloc for inference (annotator/nn/allocator.py says why). Done here, by the
    front ends, rather than as a side effect of building a model, so a library user or a test
    that builds a model keeps its process's allocator as it was."""
    from annotator.nn.allocator import tune_for_inference

    if not tune_for_inference():
        log.debug("malloc tuning not applied (not glibc, or ANNOTATOR_MALLOC=default)")
