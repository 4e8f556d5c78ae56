"""torch's thread count for one benchmark, put back afterwards: a bench run in-process (the
tests call the CLI's main) must not leave the rest of the process on fewer cores."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
