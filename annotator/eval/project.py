"""How good a project's masks are: each video item scored against DAVIS-layout ground truth
(`annotator batch eval PROJECT --gt ROOT`), with the measures and rules of eval/vos.py.

An item is matched to the GT sequence of its name (a frame folder's folder name, a video's
file stem); its frame f is compared with the GT PNG of the same stem (a frame folder's file
names, else 00000, 00001 ...). A project object is the GT object of the same id (obj_id);
as in the DAVIS toolkits, the GT objects are those of the item's first frame, and the first
and last frames of the item are not scored. The work per item (`score_item`) takes plain
values - GT paths and the project's RLE - so a batch worker can run it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.errors import AnnotatorError


def gt_sequences(root) -> dict:
    from annotator.eval.davis import list_sequences

    return {s.name: s for s in list_sequences(root)}


def sequence_name(item) -> str:
    return Path(str(item.abspath)).name if item.kind == "frames" else Path(item.name).stem


def payload(project, item, sequences: dict) -> tuple[dict | None, str]:
    """What a worker needs to score `item` (None and why when it has no GT to meet)."""
    from annotator.formats.base import frame_names

    if item.kind == "image" or item.num_frames < 2:
        return None, "not a video"
    seq = sequences.get(sequence_name(item))
    if seq is None:
        return None, f"no ground-truth sequence named {sequence_name(item)}"
    by_stem = {fp.stem: lp for fp, lp in zip(seq.frame_paths, seq.label_paths)}
    names = frame_names(item)
    stems = [Path(names[f]).stem if names else f"{f:05d}" for f in range(item.num_frames)]
    labels = [by_stem.get(s) for s in stems]
    if labels[0] is None:
        raise AnnotatorError(f"{item.name}: the ground truth of {seq.name} has no {stems[0]}.png for its first frame")
    masks: dict[str, dict[str, dict]] = {}
    for t in project.tracks(item.id):
        got = {str(m.frame): m.rle for m in project.masks(track_id=t.id)}
        if got:
            masks[str(t.obj_id)] = got
    return {"item_id": item.id, "name": item.name, "sequence": seq.name, "width": item.width,
            "height": item.height, "labels": [None if p is None else str(p) for p in labels], "masks": masks}, ""


def score_item(p: dict) -> dict:
    """obj_id -> [J, F] (percent) of one item, and the number of frames scored."""
    from annotator.core.rle import decode
    from annotator.eval.davis import read_label_png
    from annotator.eval.vos import object_means, score_frame, scored

    labels = p["labels"]
    n = len(labels)
    first = read_label_png(Path(labels[0]))
    size = (int(p["height"]), int(p["width"]))
    ids = [int(v) for v in np.unique(first) if v not in (0, 255)]
    scores: dict[int, list] = {oid: [] for oid in ids}
    frames = 0
    for fi in range(n):
        if not scored(fi, n) or labels[fi] is None:
            continue
        gt = read_label_png(Path(labels[fi]))
        if gt.shape != size:
            raise AnnotatorError(f"{labels[fi]}: ground truth is {gt.shape[1]}x{gt.shape[0]}, "
                                 f"the item {p['name']} is {size[1]}x{size[0]}")
        masks = {oid: decode(p["masks"][str(oid)][str(fi)]) for oid in ids
                 if str(fi) in p["masks"].get(str(oid), {})}
        score_frame(masks, gt, ids, scores)
        frames += 1
    return {"objects": {str(k): list(v) for k, v in object_means(scores).items()}, "frames": frames}


def report(results: list[tuple[dict, dict]]) -> dict:
    """The JSON summary of scored items ((payload, score_item result) pairs, in item order)."""
    from annotator.eval.vos import SequenceResult, scores_json

    seqs = [SequenceResult(p["name"], {int(k): tuple(v) for k, v in r["objects"].items()}, r["frames"], 0.0)
            for p, r in results if r["objects"]]
    total, per = scores_json(seqs)
    for p, _ in results:
        if p["name"] in per:
            per[p["name"]]["sequence"] = p["sequence"]
    return dict(total, items=len(per), per_item=per)


def table(data: dict) -> list[str]:
    def f(v):
        return "-" if v is None else f"{v:.1f}"

    lines = ["| Item | J | F | J&F | frames |", "|---|---|---|---|---|"]
    for name, r in data["per_item"].items():
        lines.append(f"| {name} | {f(r['J'])} | {f(r['F'])} | {f(r['JF'])} | {r['frames']} |")
    lines.append(f"| **mean** | {f(data['J'])} | {f(data['F'])} | {f(data['JF'])} | "
                 f"{sum(r['frames'] for r in data['per_item'].values())} |")
    return lines


def evaluate(project, root, item_ids=None) -> dict:
    """The whole evaluation in this process, item after item (what a batch must equal)."""
    seqs = gt_sequences(root)
    results, failed = [], {}
    for item in project.items():
        if item_ids is not None and item.id not in item_ids:
            continue
        try:
            p, _ = payload(project, item, seqs)
            if p is not None:
                results.append((p, score_item(p)))
        except AnnotatorError as e:  # one item's GT that does not fit it; the rest go on
            failed[str(item.id)] = str(e)
    return dict(report(results), failed=failed)
