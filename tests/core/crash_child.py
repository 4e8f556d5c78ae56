"""Child for test_crash_safety: applies edits forever, acknowledging each on stdout."""
import sys

import numpy as np

from annotator.core.store import Project


def mask_for(round_no: int, i: int) -> np.ndarray:
    m = np.zeros((48, 64), bool)
    m[(i * 7) % 40:(i * 7) % 40 + 8, (round_no * 5 + i) % 56:(round_no * 5 + i) % 56 + 8] = True
    return m


def main() -> None:
    path, round_no = sys.argv[1], int(sys.argv[2])
    p = Project.open(path)
    item = p.items()[0]
    t = p.add_track(item.id, attributes={"round": round_no})
    print(f"track {t.id}", flush=True)
    i = 0
    while True:
        if i % 10 == 9:  # mix in a grouped multi-command step and a deletion
            with p.group("batch"):
                p.set_mask(t.id, i, mask_for(round_no, i), source="propagated")
        else:
            p.set_mask(t.id, i, mask_for(round_no, i))
        if i % 25 == 24:
            p.delete_masks(t.id, i, i)
            p.set_mask(t.id, i, mask_for(round_no, i))
        print(f"ack {i}", flush=True)
        i += 1


if __name__ == "__main__":
    main()
