"""Background threads run at a lower OS priority than the GUI thread.

On a machine with few cores the encoder, the decoder and the overlay builder compete with
the GUI thread for CPU; lowering their nice value (Linux/macOS: per thread) means the
window's events are served first and the heavy work fills the gaps. Threads the worker
starts later (torch's intra-op pool) inherit the value.
"""
from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

BACKGROUND_NICE = 10


def lower_current_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    if not hasattr(os, "setpriority"):
        return  # Windows: Qt's own thread priority is the only knob there
    try:
        tid = threading.get_native_id()
        cur = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(cur, nice))
    except (OSError, AttributeError) as e:
        log.debug("cannot lower thread priority: %s", e)
