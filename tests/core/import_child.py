"""Child for test_store_faults: a few acknowledged edits, then one large import (through the
formats' apply_plan, the path every importer takes), acknowledging each step on stdout."""
import sys
from pathlib import Path

import numpy as np

from annotator.core import rle
from annotator.core.store import Project
from annotator.formats.base import ImportPlan, PlannedItem, PlannedTrack, apply_plan

N_TRACKS, N_FRAMES = 4, 600


def plan_for(source: Path, item_id: int) -> ImportPlan:
    plan = ImportPlan(source=source)
    plan.want_category("imported")
    pi = PlannedItem(path="v.mp4", kind="video", width=64, height=48, num_frames=N_FRAMES, existing_id=item_id)
    for k in range(N_TRACKS):
        pt = PlannedTrack(category="imported", attributes={"imported": True})
        for f in range(N_FRAMES):
            m = np.zeros((48, 64), bool)
            m[(f + k) % 40:(f + k) % 40 + 8, k * 10:k * 10 + 8] = True
            pt.masks[f] = rle.encode(m)
        pi.tracks.append(pt)
    plan.items.append(pi)
    return plan


def main() -> None:
    path, source, round_no = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    p = Project.open(path)
    item = p.items()[0]
    t = p.add_track(item.id, attributes={"round": round_no})
    print(f"track {t.id}", flush=True)
    for i in range(3):
        p.set_mask(t.id, i, np.eye(48, 64, k=i, dtype=bool))
        print(f"ack {i}", flush=True)
    plan = plan_for(source, item.id)
    print("importing", flush=True)
    apply_plan(p, plan, "Import test")
    print("imported", flush=True)
    p.close()


if __name__ == "__main__":
    main()
