"""ImageSession over the learned SAM-family models (DESIGN.md "The two protocols").

SAM1 family (SAM ViT-B/L/H, MobileSAM, TinySAM, EdgeSAM): the official SamPredictor's
pre/post-processing (longest side -> 1024 with PIL bilinear, mean/std on 0-255, zero pad
bottom/right; low-res logits -> 1024 -> crop -> original size, threshold 0) and each
family's output rule:

    rule      outputs
    sam       multimask -> tokens 1..3, else token 0; IoU scores; best = argmax
              (multimask=None applies SAM's rule: one click without a box -> 3 masks)
    tinysam   always tokens 1..3 (TinySAM's decoder has no single-mask output)
    edgesam   clicks -> all 4 tokens scored by stability (offset 1 on the 256x256 logits);
              a box, or multimask=False -> token 0 (the EdgeSAM demo's behaviour)

Encoded images are cached by content hash: in memory (LRU) and on disk under the user
cache dir, so reopening an image costs no encoder run. SAM 2 family cards are handed to
`annotator.engines.sam2_image`. torch is imported lazily (engines layer rule).
"""
from __future__ import annotations

import logging

import numpy as np

from annotator.engines import cards
from annotator.engines.feature_cache import FeatureCache
from annotator.engines.protocols import Prediction, as_points
from annotator.errors import AnnotatorError, CheckpointError

log = logging.getLogger(__name__)

RULES = ("sam", "tinysam", "edgesam")


_card = cards.resolve
_get = cards.value


def default_rule(card) -> str:
    arch = _get(card, "arch", {}) or {}
    rule = arch.get("outputs", "sam")  # cards name their rule (models/CARDS.md); SAM's is the default
    if rule not in RULES:
        raise AnnotatorError(f"model {_get(card, 'name', '?')}: arch.outputs {rule!r} is not one of {', '.join(RULES)}")
    return rule


def load_weights(model, card, weights) -> str:
    """Put `weights` into `model` strictly (engines.checkpoint.load_weights, the one loader)."""
    from annotator.engines.checkpoint import load_weights as load

    return load(model, card, weights)


def LearnedImageSession(card, weights="random", precision: str = "fp32", **kw):
    """Factory: the SAM1-family session, or the SAM 2 family's image predictor.
    precision: fp32 | bf16 | int8 | auto (annotator/nn/precision.py); fp32 is the parity path."""
    card = _card(card)
    arch = _get(card, "arch", {}) or {}
    if arch.get("family") == "sam2":
        return _sam2_session(card, weights, precision)
    return SamImageSession(card, weights, precision=precision, **kw)


def _sam2_session(card, weights, precision: str = "fp32"):
    """The SAM 2 family image predictor, on the model the card's video session also uses
    (at the same precision)."""
    from annotator.engines.model_pool import shared_model
    from annotator.engines.sam2_image import Sam2ImagePredictor

    model, ident = shared_model(card, weights, precision)
    pred = Sam2ImagePredictor(model, card, weights_id=ident)
    pred.precision = getattr(model, "precision", "fp32")
    return pred


class SamImageSession:
    """ImageSession for SAM1-family cards. `output_rule` overrides the card's rule."""

    def __init__(self, card, weights="random", output_rule: str | None = None, disk_cache: bool = True,
                 fuse: bool = True, precision: str = "fp32") -> None:
        import torch

        from annotator.nn import factory
        from annotator.nn import precision as prec
        from annotator.nn.fuse import reparameterize

        self.precision = prec.resolve(precision)
        card = _card(card)
        self.card = card
        self.name = str(_get(card, "name", "sam"))
        arch = dict(_get(card, "arch"))
        if _get(card, "checkpoint", {}).get("container") == "pickled_module" and weights != "random":
            from annotator.engines.checkpoint import pickled_module_message

            raise CheckpointError(pickled_module_message(card, weights))
        inp = _get(card, "input", {}) or {}
        if inp.get("resize", "longest_side") != "longest_side":
            raise AnnotatorError(f"model {self.name}: resize {inp.get('resize')!r} is not a SAM1-family input")
        self.rule = output_rule or default_rule(card)
        if self.rule not in RULES:
            raise ValueError(f"output_rule must be one of {RULES}")
        with torch.device("cpu"):
            model = factory.build(arch)
        self.weights_id = load_weights(model, card, weights)
        model.eval()
        if fuse:
            reparameterize(model.image_encoder)  # fold BN / RepVGG branches: same function, fewer kernels
        model.image_encoder = prec.apply_image_encoder(model.image_encoder, self.precision)
        self.model = model
        self.image_size = int(inp.get("image_size", 1024))
        scale = float(inp.get("pixel_scale", 255) or 255)
        # normalisation on 0-255 values
        self._mean = torch.tensor([float(m) * 255.0 / scale for m in inp["pixel_mean"]]).view(1, 3, 1, 1)
        self._std = torch.tensor([float(s) * 255.0 / scale for s in inp["pixel_std"]]).view(1, 3, 1, 1)
        with torch.inference_mode():
            self._dense_pe = model.prompt_encoder.get_dense_pe()
        self.cache = FeatureCache("embeddings", self.name, disk=disk_cache)
        self.features = None
        self.orig_hw: tuple[int, int] | None = None
        self.input_hw: tuple[int, int] | None = None
        self.last: Prediction | None = None
        self.encoder_runs = 0  # how many times the encoder actually ran (cache hits do not count)

    # ------------------------------------------------------------------ image

    def _resized_hw(self, h: int, w: int) -> tuple[int, int]:
        s = self.image_size / max(h, w)
        return int(h * s + 0.5), int(w * s + 0.5)

    def preprocess(self, rgb: np.ndarray):
        import torch

        h, w = rgb.shape[:2]
        nh, nw = self._resized_hw(h, w)
        if (nh, nw) != (h, w):
            from PIL import Image

            rgb = np.array(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
        if not rgb.flags.writeable or not rgb.flags.c_contiguous:
            rgb = np.array(rgb)  # torch wants a writable, contiguous buffer
        # normalise straight into the zero-padded input, kept channels-last (the layout the
        # convolutions want): the same (x - mean) / std values, two passes instead of five
        s = self.image_size
        buf = torch.zeros(1, s, s, 3)
        region = buf[0, :nh, :nw]
        torch.sub(torch.from_numpy(rgb), self._mean.view(3), out=region)
        region.div_(self._std.view(3))
        return buf.permute(0, 3, 1, 2)

    @property
    def disk_cache(self) -> bool:
        return self.cache.disk

    @disk_cache.setter
    def disk_cache(self, on: bool) -> None:
        self.cache.disk = bool(on)

    def _cache_key(self, rgb: np.ndarray) -> str:
        # reduced-precision embeddings get keys of their own (fp32 keys are unchanged)
        tag = "" if self.precision == "fp32" else f"|{self.precision}"
        return self.cache.key(f"{self.name}|{self.weights_id}{tag}|{self.image_size}", rgb)

    def set_image(self, rgb: np.ndarray) -> None:
        import torch

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 HxWx3 image, got {rgb.dtype} {rgb.shape}")
        rgb = rgb[..., :3]
        self.orig_hw = rgb.shape[:2]
        self.input_hw = self._resized_hw(*self.orig_hw)
        self.last = None
        hit = self.cache.get(self._cache_key(rgb), lambda: {"features": self.encode_uncached(rgb).numpy()})
        feats = torch.from_numpy(hit["features"])
        self.features = feats
        with torch.inference_mode():  # the decoder's image-only work, once per image
            self._dec_cache = self.model.mask_decoder.image_cache(feats, self._dense_pe)

    def encode_uncached(self, rgb: np.ndarray):
        """Run the image encoder (no cache lookup): [1,256,64,64] float32."""
        import torch

        with torch.inference_mode():
            # channels-last as the encoder leaves it: the decoder reads it token-major, which
            # is that same memory order
            feats = self.model.image_encoder(self.preprocess(np.asarray(rgb)[..., :3]))
        self.encoder_runs += 1
        return feats

    # ---------------------------------------------------------------- predict

    def _prompt_tensors(self, points, labels, box):
        import torch

        h, w = self.orig_hw
        nh, nw = self.input_hw
        sx, sy = nw / w, nh / h
        pts = as_points(points)
        point_in = box_in = None
        if pts is not None:
            lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
            if len(lab) != len(pts):
                raise ValueError(f"{len(pts)} points but {len(lab)} labels")
            c = pts.astype(np.float64) * (sx, sy)
            point_in = (torch.from_numpy(c.astype(np.float32))[None], torch.from_numpy(lab)[None])
        if box is not None:
            b = np.asarray(box, np.float64).reshape(2, 2) * (sx, sy)
            box_in = torch.from_numpy(b.reshape(1, 4).astype(np.float32))
        return pts, point_in, box_in

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask: bool | None = True) -> Prediction:
        import torch

        from annotator.nn.sam_heads import dense_lowrank, stability_score

        if self.features is None:
            raise RuntimeError("set_image must be called before predict")
        pts, point_in, box_in = self._prompt_tensors(points, labels, box)
        if isinstance(mask_input, str) and mask_input == "previous":
            mask_input = None if self.last is None else self.last.lowres_logits[self.last.best]
        if multimask is None:  # SAM's rule: an ambiguous single click gets three candidates
            multimask = box is None and (pts is None or len(pts) == 1)
        m = self.model
        with torch.inference_mode():
            mask_t = None
            if mask_input is not None:
                mi = np.asarray(mask_input, np.float32)
                mask_t = torch.from_numpy(np.ascontiguousarray(mi.reshape(1, 1, *mi.shape[-2:])))
            sparse, _ = m.prompt_encoder(point_in, box_in, None, batch_size=1)
            out = m.mask_decoder.forward_cached(self._dec_cache, sparse, dense_lowrank(m.prompt_encoder, mask_t))
            if self.rule == "tinysam":
                low, scores = out.masks[0, 1:], out.iou_pred[0, 1:]
            elif self.rule == "edgesam":
                low = out.masks[0, :1] if (box is not None or not multimask) else out.masks[0]
                scores = stability_score(low, 0.0, 1.0)
            else:
                sl = slice(1, None) if multimask else slice(0, 1)
                low, scores = out.masks[0, sl], out.iou_pred[0, sl]
            masks = self._postprocess(low)
        scores = scores.numpy().astype(np.float32)
        pred = Prediction(masks=masks, scores=scores, lowres_logits=low.numpy().astype(np.float32, copy=True),
                          best=int(np.argmax(scores)) if len(scores) > 1 else 0)
        self.last = pred
        return pred

    # ------------------------------------------------- automatic mask generation

    def predict_points(self, points_xy: np.ndarray):
        """One positive click per prompt, batched over the cached embedding (the automatic
        mask generator's decoder call). points_xy: float [B, 2] (x, y) in pixels of the set
        image. Returns torch (low-res logits [B, 3, 256, 256], predicted IoU [B, 3]) of the
        three multimask tokens (every SAM1 family's everything mode uses those)."""
        import torch

        from annotator.nn.sam_heads import dense_lowrank

        if self.features is None:
            raise RuntimeError("set_image must be called before predict_points")
        h, w = self.orig_hw
        nh, nw = self.input_hw
        c = np.asarray(points_xy, np.float64).reshape(-1, 2) * (nw / w, nh / h)
        # the official prompt path stays in float64 until the division by the input size
        norm = torch.from_numpy(((c + 0.5) / self.image_size).astype(np.float32))[:, None, :]
        labels = torch.ones(norm.shape[0], 1, dtype=torch.int64)
        m = self.model
        with torch.inference_mode():
            sparse = m.prompt_encoder.embed_normalized(norm, labels, pad=True)
            out = m.mask_decoder.forward_cached(self._dec_cache, sparse, dense_lowrank(m.prompt_encoder, None))
        return out.masks[:, 1:], out.iou_pred[:, 1:]

    def _upsampled(self, low):
        """(index, float32 [H, W] logits at the set image's size) for each of the low-res logits
        [k, 256, 256]: the official two-step bilinear (x4 to the padded input, crop, then to the
        original size; half-pixel centres and edge clamping as torch's bilinear with
        align_corners=False). OpenCV's resize does the same interpolation 3-6x faster than
        torch's on one-channel maps; its weights agree to float rounding, which can flip only
        pixels whose logit is ~0. One map at a time: memory stays one full-size map."""
        import cv2

        nh, nw = self.input_hw
        oh, ow = self.orig_hw
        lh, lw = low.shape[-2:]
        f = self.image_size // lh  # 4
        # only the low-res rows/cols that reach the unpadded area (+1 so the bilinear
        # neighbour is the same as in the full upsample; the scale factor stays exactly f)
        rh, rw = min(lh, -(-nh // f) + 1), min(lw, -(-nw // f) + 1)
        for i in range(low.shape[0]):
            up = cv2.resize(low[i, :rh, :rw], (f * rw, f * rh), interpolation=cv2.INTER_LINEAR)[:nh, :nw]
            if (nh, nw) != (oh, ow):
                up = cv2.resize(up, (ow, oh), interpolation=cv2.INTER_LINEAR)
            yield i, up

    @staticmethod
    def _as_np(low) -> np.ndarray:
        return np.asarray(low.numpy() if hasattr(low, "numpy") else low, np.float32)

    def upsample_logits(self, low) -> np.ndarray:
        """Low-res logits [k, 256, 256] -> float32 logits [k, H, W] at the set image's size
        (the official postprocessing without the threshold)."""
        low = self._as_np(low)
        out = np.empty((low.shape[0], *self.orig_hw), np.float32)
        for i, up in self._upsampled(low):
            out[i] = up
        return out

    def _postprocess(self, low) -> np.ndarray:
        """Low-res logits [k,256,256] -> bool masks [k,H,W] (logit > 0 after _upsampled)."""
        low = self._as_np(low)
        out = np.empty((low.shape[0], *self.orig_hw), bool)
        for i, up in self._upsampled(low):
            np.greater(up, 0.0, out=out[i])
        return out
