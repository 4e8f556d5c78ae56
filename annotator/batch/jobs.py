"""What each batch command asks of an item, and how its answer enters the project.

A job reads the project on the driver's side (`payload`: None when the item has nothing for
this command, with the reason) and writes a worker's result back (`write`), always inside
the driver's transaction for that item. Workers only see the payload.
"""
from __future__ import annotations

from pathlib import Path

from annotator.errors import AnnotatorError


class Job:
    command = ""
    kind = ""

    def __init__(self, engine: str = "classic", weights: str | None = None, options: dict | None = None):
        self.engine = engine
        # "random" (synthetic weights, tests) stays a word; a file is named by its full path,
        # which must exist there on every worker machine
        self.weights = weights if weights in (None, "random") else str(Path(weights).expanduser().resolve())
        self.options = dict(options or {})

    def record(self) -> dict:
        """What a done-record says about how the item was done."""
        return {"engine": self.engine, "model": self.weights or self.engine, "options": self.options}

    def check(self) -> None:
        """Refuse the whole batch before anything runs (one clear line)."""

    def payload(self, project, item) -> tuple[dict | None, str]:
        raise NotImplementedError

    def write(self, project, item, payload: dict, result: dict, previous: dict | None) -> dict:
        """Store the result; returns what the done-record keeps of it (counts, ids)."""
        raise NotImplementedError


def _abspath(item) -> str:
    return str(item.abspath)


class EncodeJob(Job):
    command = kind = "encode"

    def check(self) -> None:
        from annotator.engines.registry import CLASSIC_IMAGE_ENGINES, CLASSIC_VIDEO_ENGINES, get_card

        if self.engine in CLASSIC_IMAGE_ENGINES + CLASSIC_VIDEO_ENGINES:
            raise AnnotatorError(f"engine {self.engine} has no embedding cache (it computes nothing ahead of a "
                                 "click): nothing to encode. Choose a learned model with --model")
        if (get_card(self.engine).arch or {}).get("family") == "sam2":  # (an unknown name fails here too)
            raise AnnotatorError(f"model {self.engine}: the SAM 2 family keeps no embedding cache on disk "
                                 "(only the image in use); nothing to encode. SAM-family image models "
                                 "(edgesam, mobilesam, tinysam, ...) have one")

    def payload(self, project, item):
        if item.kind != "image":
            return None, "not an image (encode fills the image engines' cache)"
        return {"path": _abspath(item), "engine": self.engine, "weights": self.weights}, ""

    def write(self, project, item, payload, result, previous):
        return {"encoder_runs": result.get("encoder_runs", 0)}


class EverythingJob(Job):
    command = kind = "segment-everything"

    def payload(self, project, item):
        if item.kind != "image":
            return None, "not an image"
        opts = dict(self.options)
        return {"path": _abspath(item), "engine": self.engine, "weights": self.weights,
                "mode": opts.pop("mode", "grid"), "nms": opts.pop("nms", "greedy"), "options": opts}, ""

    def write(self, project, item, payload, result, previous):
        from annotator.everything.run import add_to_project

        # --redo replaces this command's own objects from before; nobody else's
        for tid in (previous or {}).get("track_ids", []):
            if any(t.id == tid for t in project.tracks(item.id)):
                project.delete_track(tid)
        tids = add_to_project(project, item, 0, result["records"], model=self.engine,
                              label=f"Batch segment everything {item.name}")
        return {"objects": len(tids), "track_ids": tids}


class PropagateJob(Job):
    """From each object's first manual frame (the person's committed masks), forward to the
    end and back to frame 0, with app/propagation's rules (manual frames stay, an empty
    result deletes a propagated mask, locked objects are left alone). Objects whose first
    manual frame is the same propagate together."""

    command = kind = "propagate"

    def plans(self, project, item):
        from annotator.app.propagation import plan

        first: dict[int, int] = {}
        for t in project.tracks(item.id):
            manual = [f for f, s in project.mask_frames(t.id).items() if s == "manual"]
            if manual and not t.locked:
                first[t.id] = min(manual)
        out = []
        for start in sorted(set(first.values())):
            ids = [tid for tid, f in first.items() if f == start]
            p = plan(project, item, start, "both" if start > 0 else "forward", ids)
            if p.seeds:
                out.append(p)
        return out

    def payload(self, project, item):
        if item.kind == "image" or item.num_frames < 2:
            return None, "not a video"
        plans = self.plans(project, item)
        if not plans:
            return None, "no manual masks to start from"
        runs = [{"start": p.start, "direction": p.direction, "seeds": dict(p.seeds)} for p in plans]
        return {"path": _abspath(item), "engine": self.engine, "weights": self.weights, "runs": runs}, ""

    def write(self, project, item, payload, result, previous):
        from annotator.app.propagation import PropagationRun

        plans = {p.start: p for p in self.plans(project, item)}
        frames = 0
        for run, got in zip(payload["runs"], result["runs"]):
            p = plans.get(run["start"])
            if p is None:  # the project changed since the payload was made
                raise AnnotatorError(f"{item.name}: the manual masks changed during the batch; run it again")
            r = PropagationRun(project, p, model=self.engine)
            try:
                for t, masks in got:
                    r.add(t, masks)
            finally:
                r.finish()
            frames += r.frames
        return {"frames": frames}


JOBS = {j.command: j for j in (EncodeJob, EverythingJob, PropagateJob)}
