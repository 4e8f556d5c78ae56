"""Streaming video propagation with the SAM 2 family memory, in bounded memory.

Behaviour follows the official per-object SAM2VideoPredictor (Dec 2024; EfficientTAM ships the
same code) with `add_all_frames_to_correct_as_cond=True`: every object is tracked on its own
(batch 1) while each frame's image features are computed once for all objects; clicks on a
tracked frame become conditioning input and are never overwritten by later propagation.
Differences from the official predictor, on purpose:
- frames are decoded and encoded on demand (the official loads the whole video as float32);
- only what the model can attend stays in RAM: conditioning frames, and per object the
  `keep_frames` non-conditioning frames nearest the last processed frame (the official keeps
  every frame's memory forever). Masks are streamed to the caller, not kept: a frame's
  mask can be had again only while its output is in memory (`mask`);
- new objects may be added at any time, also after propagation;
- re-propagating reuses an object's stored outputs when nothing it depends on changed;
- hole filling (`fill_hole_area=8`, a CUDA-only extension upstream) is not applied, as on CPU.
See ../shared/docs/MODELS.md 5.6-5.7.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from annotator.engines import cards
from annotator.engines.protocols import as_points
from annotator.engines.sam2_image import card_value, input_spec, preprocess, sam2_point_prompt
from annotator.errors import AnnotatorError

log = logging.getLogger(__name__)


@dataclass
class FrameOut:
    """One object's model output on one frame (tensors, batch 1)."""

    pred_masks: object  # low-res logits [1,1,s/4,s/4] float32 (-1024 where the object is absent)
    obj_ptr: object  # [1,C]
    score: object  # object score logits [1,1]
    maskmem: object = None  # memory tokens [1,N,mem_dim] bfloat16, None until encoded
    reverse: bool = False
    version: int = -1  # ObjState.version this output was computed under (reuse check)


@dataclass
class ObjState:
    cond: dict = field(default_factory=dict)  # frame -> FrameOut (conditioning, kept for good)
    non_cond: dict = field(default_factory=dict)  # frame -> FrameOut (bounded window)
    temp: dict = field(default_factory=dict)  # frame -> (FrameOut, is_cond): prompted, memory pending
    tracked: dict = field(default_factory=dict)  # frame -> reverse flag of the pass that produced it
    version: int = 0  # bumped by every prompt; outputs from older versions are recomputed


load_card = cards.resolve


def build_model(card, weights, precision: str = "fp32"):
    """The card's model with `weights` loaded (checkpoint path, "random", or a state dict),
    shared with the card's image session of the same precision while both are alive
    (engines.model_pool)."""
    from annotator.engines.model_pool import shared_model

    return shared_model(card, weights, precision)[0]


class _ArraySource:
    """Frames held by the caller (a list/array of HxWx3 uint8) as a FrameSource-like object."""

    def __init__(self, frames, fps: float = 30.0):
        self._frames = frames
        self.num_frames = len(frames)
        self.height, self.width = np.asarray(frames[0]).shape[:2]
        self.fps = fps

    def frame(self, i: int) -> np.ndarray:
        return np.asarray(self._frames[i])


class LearnedVideoSession:
    """VideoSession over a SAM 2 family model (see the module doc)."""

    def __init__(self, card, weights="random", *, add_all_frames_to_correct_as_cond: bool = True,
                 keep_frames: int = 32, feature_cache: int = 2, precision: str = "fp32"):
        from annotator.nn import precision as prec

        self.card = load_card(card)
        self.name = str(card_value(self.card, "name", "sam2"))
        self.precision = prec.resolve(precision)
        if hasattr(weights, "state_dict") and not isinstance(weights, dict):
            self.model = weights.eval()  # an already built model (tests, benches): changed in place
            prec.apply_sam2(self.model, self.precision)  # fp32: untouched
        else:
            self.model = build_model(self.card, weights, self.precision)
        self.image_size, self.mean, self.std = input_spec(self.card, self.model)
        self.add_all_as_cond = add_all_frames_to_correct_as_cond
        self.keep_frames = max(int(keep_frames), self.model.num_maskmem, 1)
        self.feature_cache_size = max(1, int(feature_cache))
        self.source = None
        self.timing = {"encoder_s": 0.0, "encoder_calls": 0, "memory_s": 0.0, "memory_calls": 0}
        self.reset()

    # ------------------------------------------------------------------ protocol: setup
    def open(self, source) -> None:
        if isinstance(source, (str, Path)):
            from annotator.media import open_video

            source = open_video(source)
        elif isinstance(source, (list, tuple, np.ndarray)):
            source = _ArraySource(source)
        for attr in ("num_frames", "width", "height", "frame"):
            if not hasattr(source, attr):
                raise AnnotatorError(f"video source {source!r} lacks {attr!r}")
        if int(source.num_frames) <= 0:
            raise AnnotatorError(f"{getattr(source, 'path', source)}: video has no frames")
        self.source = source
        self.reset()

    @property
    def num_frames(self) -> int:
        return int(self.source.num_frames) if self.source is not None else 0

    def reset(self) -> None:
        self.objs: dict[int, ObjState] = {}
        self._features: dict[int, dict] = {}  # small LRU of per-frame image features
        self._head = 0  # last processed frame (eviction centre)

    def remove_object(self, obj_id: int) -> None:
        self.objs.pop(int(obj_id), None)

    @property
    def obj_ids(self) -> list[int]:
        return list(self.objs)

    # ------------------------------------------------------------------ features
    def _frame_features(self, t: int) -> dict:
        import time

        import torch

        hit = self._features.pop(t, None)
        if hit is None:
            rgb = self.source.frame(t)
            x = preprocess(rgb, self.image_size, self.mean, self.std, resample="pil_bicubic")
            t0 = time.perf_counter()
            with torch.inference_mode():
                hit = self.model.forward_image(x)
            self.timing["encoder_s"] += time.perf_counter() - t0
            self.timing["encoder_calls"] += 1
        self._features[t] = hit
        while len(self._features) > self.feature_cache_size:
            self._features.pop(next(iter(self._features)))
        return hit

    # ------------------------------------------------------------------ one object, one frame
    def _condition(self, obj: ObjState, t: int, is_init: bool, reverse: bool, fe: dict):
        m = self.model
        if is_init:
            return fe["feat"] + m.no_mem_embed.view(1, -1, 1, 1)
        memories = [(0, out.maskmem, self._mem_pos()) for out in obj.cond.values() if out.maskmem is not None]
        step = 1 if reverse else -1
        for t_pos in range(1, m.num_maskmem):
            prev = t + step * (m.num_maskmem - t_pos)
            out = obj.non_cond.get(prev)
            if out is not None and out.maskmem is not None:
                memories.append((t_pos, out.maskmem, self._mem_pos()))
        max_ptrs = min(self.num_frames, m.max_obj_ptrs)
        sign = -1 if reverse else 1
        pointers = [((t - f) * sign, out.obj_ptr) for f, out in obj.cond.items()
                    if (f >= t if reverse else f <= t)]
        for d in range(1, max_ptrs):
            f = t + d if reverse else t - d
            if f < 0 or f >= self.num_frames:
                break
            out = obj.non_cond.get(f)
            if out is not None:
                pointers.append((d, out.obj_ptr))
        return m.condition_on_memory(fe["feat"], fe["pos"], memories, pointers, max_ptrs - 1)

    def _mem_pos(self):
        """The memory position encoding is content independent: computed once per session."""
        pos = getattr(self, "_mem_pos_const", None)
        if pos is None:
            import torch

            m = self.model
            s = self.image_size // 16
            with torch.inference_mode():
                _, pos = m.encode_memory(torch.zeros(1, m.hidden_dim, s, s),
                                         torch.zeros(1, 1, self.image_size, self.image_size),
                                         torch.ones(1, 1), binarize=True)
            self._mem_pos_const = pos
        return pos

    def _track(self, obj: ObjState, t: int, is_init: bool, reverse: bool, coords=None, labels=None,
               mask=None, prev_logits=None, run_mem: bool = False) -> FrameOut:
        import time

        import torch

        m = self.model
        fe = self._frame_features(t)
        t0 = time.perf_counter()
        with torch.inference_mode():
            if mask is not None:
                heads = m.mask_as_output(fe["feat"], fe["high_res"], mask)
            else:
                feat = self._condition(obj, t, is_init, reverse, fe)
                n_pts = 0 if labels is None else int(labels.shape[1])
                heads = m.sam_heads(feat, coords, labels, mask_inputs=prev_logits, high_res=fe["high_res"],
                                    multimask=m.use_multimask(is_init, n_pts))
            out = FrameOut(heads["low_res"], heads["obj_ptr"], heads["object_score_logits"], reverse=reverse,
                           version=obj.version)
            if run_mem:
                out.maskmem, _ = m.encode_memory(fe["feat"], heads["high_res"], out.score,
                                                 binarize=coords is not None)
        self.timing["memory_s"] += time.perf_counter() - t0
        self.timing["memory_calls"] += 1
        return out

    def _encode_pending(self, obj: ObjState, t: int, out: FrameOut) -> None:
        """Memory of a prompted frame, from its stored low-res logits (binarised, as upstream)."""
        import torch
        import torch.nn.functional as F

        fe = self._frame_features(t)
        with torch.inference_mode():
            s = self.image_size
            high = F.interpolate(out.pred_masks, size=(s, s), mode="bilinear", align_corners=False)
            out.maskmem, _ = self.model.encode_memory(fe["feat"], high, out.score, binarize=True)

    # ------------------------------------------------------------------ outputs
    def _video_mask(self, pred_masks) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        h, w = int(self.source.height), int(self.source.width)
        with torch.inference_mode():
            up = F.interpolate(pred_masks, size=(h, w), mode="bilinear", align_corners=False)
        return (up[0, 0] > 0.0).numpy()

    def mask(self, frame: int, obj_id: int) -> np.ndarray | None:
        """The last mask produced for (frame, object) while its output is still in memory (a
        conditioning frame, or one in the window around the last processed frame), else None:
        the session hands every mask to its caller (the store keeps them) and keeps none."""
        out = self.output(frame, obj_id)
        return self._video_mask(out.pred_masks) if out is not None else None

    def held_outputs(self) -> int:
        """Per-frame outputs held over all objects (each can give its mask back); bounded by
        the conditioning frames plus `keep_frames` per object, however long the video."""
        return sum(len(o.cond) + len(o.non_cond) + len(o.temp) for o in self.objs.values())

    def output(self, frame: int, obj_id: int) -> FrameOut | None:
        """The stored model output (low-res logits, object score, pointer) if still in memory."""
        obj = self.objs.get(int(obj_id))
        if obj is None:
            return None
        frame = int(frame)
        if frame in obj.temp:
            return obj.temp[frame][0]
        return obj.cond.get(frame) or obj.non_cond.get(frame)

    # ------------------------------------------------------------------ protocol: prompts
    def add_prompt(self, frame: int, obj_id: int, points=None, labels=None, box=None, mask=None):
        """Prompt one object on one frame. The points (and box) replace this object's earlier clicks
        on this frame, so pass all of them; the frame's previous logits are fed back as mask prompt.
        On a frame already tracked for the object this is a correction: with the default
        add_all_frames_to_correct_as_cond it becomes a conditioning frame and is kept for good."""
        import torch
        import torch.nn.functional as F

        if self.source is None:
            raise AnnotatorError("no video open: call open(source) first")
        t = int(frame)
        if not 0 <= t < self.num_frames:
            raise AnnotatorError(f"frame {t} is outside the video (0..{self.num_frames - 1})")
        pts = as_points(points)
        if pts is None and box is None and mask is None:
            raise AnnotatorError("a prompt needs points, a box or a mask")
        obj = self.objs.setdefault(int(obj_id), ObjState())
        obj.version += 1
        is_init = t not in obj.tracked
        reverse = False if is_init else obj.tracked[t]
        is_cond = is_init or self.add_all_as_cond
        h, w = int(self.source.height), int(self.source.width)
        s = self.image_size
        coords = labs = mask_t = prev = None
        if mask is not None:
            mk = torch.from_numpy(np.asarray(mask, dtype=bool)).float()[None, None]
            if mk.shape[-2:] != (s, s):
                mk = F.interpolate(mk, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
                mk = (mk >= 0.5).float()
            mask_t = mk
        else:
            pc, pl = sam2_point_prompt(pts, labels, box)
            coords = torch.from_numpy(pc)[None] / torch.tensor([w, h], dtype=torch.float32) * s
            labs = torch.from_numpy(pl)[None]
            prev_out = None
            if t in obj.temp and obj.temp[t][1] == is_cond:
                prev_out = obj.temp[t][0]
            if prev_out is None:
                prev_out = obj.cond.get(t) or obj.non_cond.get(t)
            if prev_out is not None:
                prev = torch.clamp(prev_out.pred_masks, -32.0, 32.0)
        out = self._track(obj, t, is_init, reverse, coords, labs, mask_t, prev, run_mem=False)
        obj.temp[t] = (out, is_cond)
        self._head = t
        result = {}
        for oid in self.objs:  # the prompted object, and the others whose output here is held
            m = self._video_mask(out.pred_masks) if oid == int(obj_id) else self.mask(t, oid)
            if m is not None:
                result[oid] = m
        return result

    def _preflight(self) -> None:
        """Encode the memories of prompted frames and move them into the object's memory bank."""
        for obj in self.objs.values():
            for t, (out, is_cond) in sorted(obj.temp.items()):
                if out.maskmem is None:
                    self._encode_pending(obj, t, out)
                (obj.cond if is_cond else obj.non_cond)[t] = out
                if is_cond:
                    obj.non_cond.pop(t, None)
            obj.temp.clear()

    # ------------------------------------------------------------------ protocol: propagate
    def propagate(self, start: int | None = None, direction: str = "forward",
                  stop: int | None = None) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        if self.source is None:
            raise AnnotatorError("no video open: call open(source) first")
        if direction not in ("forward", "backward", "both"):
            raise AnnotatorError(f"direction must be forward, backward or both, not {direction!r}")
        self._preflight()
        active = [oid for oid, o in self.objs.items() if o.cond]
        if not active:
            return
        if start is None:
            start = min(f for oid in active for f in self.objs[oid].cond)
        start = int(start)
        n = self.num_frames
        passes = []
        if direction in ("forward", "both"):
            end = n - 1 if stop is None or direction == "both" else min(int(stop), n - 1)
            passes.append((range(start, end + 1), False))
        if direction in ("backward", "both"):
            end = 0 if stop is None or direction == "both" else max(int(stop), 0)
            passes.append((range(start, end - 1, -1), True))
        for order, reverse in passes:
            for t in order:
                yield t, self._step(t, reverse, active)

    def _step(self, t: int, reverse: bool, active: list[int]) -> dict[int, np.ndarray]:
        result = {}
        for oid in active:
            obj = self.objs.get(oid)
            if obj is None:  # removed while iterating
                continue
            if t in obj.cond:
                out = obj.cond[t]
            else:
                out = obj.non_cond.get(t)
                reusable = (out is not None and out.version == obj.version and out.reverse == reverse
                            and out.maskmem is not None)
                if not reusable:
                    out = self._track(obj, t, False, reverse, run_mem=True)
                    obj.non_cond[t] = out
            obj.tracked[t] = reverse
            result[oid] = self._video_mask(out.pred_masks)
        self._head = t
        self._evict()
        return result

    def _evict(self) -> None:
        """Keep, per object, the `keep_frames` non-conditioning outputs nearest the last processed
        frame; older ones can no longer be attended by the frames being tracked."""
        for obj in self.objs.values():
            if len(obj.non_cond) > self.keep_frames:
                ranked = sorted(obj.non_cond, key=lambda f: abs(f - self._head))
                for f in ranked[self.keep_frames:]:
                    del obj.non_cond[f]

    # ------------------------------------------------------------------ introspection
    def memory_bytes(self) -> int:
        """Bytes held by tensors of the memory bank (for the bench and tests)."""
        total = 0
        for obj in self.objs.values():
            outs = list(obj.cond.values()) + list(obj.non_cond.values()) + [o for o, _ in obj.temp.values()]
            for o in outs:
                for tns in (o.pred_masks, o.obj_ptr, o.score, o.maskmem):
                    if tns is not None:
                        total += tns.numel() * tns.element_size()
        return total
