"""Single-image prediction for the SAM 2 family (the official SAM2ImagePredictor's behaviour).

Squash resize to image_size (no padding), ImageNet mean/std on 0-1 values, `no_mem_embed` added
to the top-level feature, high-res features cached, boxes become points with labels 2/3 placed
before the clicks, dynamic multimask fallback via stability, low-res logits clamped to ±32.
torch is imported lazily (engines layer rule).
"""
from __future__ import annotations

import numpy as np

from annotator.engines import cards
from annotator.engines.protocols import Prediction, as_points

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


card_value = cards.value


def input_spec(card, model) -> tuple[int, tuple, tuple]:
    """(image_size, mean, std) with mean/std on 0-1 values."""
    inp = card_value(card, "input", None) or {}
    if not isinstance(inp, dict):
        inp = vars(inp)
    size = int(inp.get("image_size", model.image_size))
    scale = float(inp.get("pixel_scale", 1) or 1)
    mean = tuple(float(m) / scale for m in inp.get("pixel_mean", IMAGENET_MEAN))
    std = tuple(float(s) / scale for s in inp.get("pixel_std", IMAGENET_STD))
    return size, mean, std


def preprocess(rgb: np.ndarray, size: int, mean, std, resample: str = "bilinear_aa"):
    """uint8 HxWx3 -> normalised float tensor [1,3,size,size] (squash resize).

    "bilinear_aa": the image predictor's torchvision tensor resize (antialiased bilinear on 0-1
    floats); "pil_bicubic": the video loader's PIL resize of the uint8 frame."""
    import torch
    import torch.nn.functional as F

    rgb = np.array(rgb[..., :3], dtype=np.uint8, copy=True)  # frames from a cache are read-only
    h, w = rgb.shape[:2]
    if (h, w) != (size, size) and resample == "pil_bicubic":
        from PIL import Image

        rgb = np.array(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))  # writable copy
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)[None]
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def sam2_point_prompt(points, labels, box):
    """SAM 2 prompt rule shared by the image and video paths: a box becomes two points with
    labels 2 and 3 placed before the clicks; clicks without labels are positive.
    Returns (coords float32 [n, 2] in image pixels, labels int64 [n]), or None."""
    pts = as_points(points)
    coords, labs = [], []
    if box is not None:
        coords.append(np.asarray(box, dtype=np.float32).reshape(2, 2))
        labs.append(np.array([2, 3], dtype=np.int64))
    if pts is not None:
        coords.append(pts)
        labs.append(np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1))
    if not coords:
        return None
    return np.concatenate(coords, 0).astype(np.float32), np.concatenate(labs, 0)


class Sam2ImagePredictor:
    """ImageSession-style predictor over a built `annotator.nn.sam2.Sam2Model`."""

    def __init__(self, model, card=None, weights_id: str | None = None, disk_cache: bool = True):
        from annotator.engines.feature_cache import FeatureCache

        self.model = model.eval()
        self.card = card
        self.name = str(card_value(card, "name", "sam2"))
        self.image_size, self.mean, self.std = input_spec(card, model)
        self.weights_id = weights_id
        # without a weights identity the embedding cannot be keyed safely: memory only
        self.cache = FeatureCache("embeddings", self.name, disk=disk_cache and weights_id is not None)
        self.features: dict | None = None
        self.orig_hw: tuple[int, int] | None = None
        self.last_object_score_logits = None
        self.encoder_runs = 0  # real encoder runs (the same image again reuses its embedding)
        self._key = None

    @property
    def disk_cache(self) -> bool:
        return self.cache.disk

    @disk_cache.setter
    def disk_cache(self, on: bool) -> None:
        self.cache.disk = bool(on) and self.weights_id is not None

    def encode_uncached(self, rgb: np.ndarray) -> dict:
        """The image encoder (no cache lookup): the memory-free embedding and the high-res maps."""
        import torch

        x = preprocess(rgb, self.image_size, self.mean, self.std)
        with torch.inference_mode():
            out = self.model.forward_image(x)
            embed = out["feat"] + self.model.no_mem_embed.view(1, -1, 1, 1)
        self.encoder_runs += 1
        arrays = {"image_embed": embed.numpy()}
        arrays.update({f"high_res_{i}": t.numpy() for i, t in enumerate(out["high_res"] or ())})
        return arrays

    def set_image(self, rgb: np.ndarray) -> None:
        import torch

        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
        rgb = np.asarray(rgb)
        prec = getattr(self, "precision", "fp32")
        tag = f"{self.name}|{self.weights_id}|{self.image_size}" + ("" if prec == "fp32" else f"|{prec}")
        key = self.cache.key(tag, rgb)
        if self.features is not None and key == self._key:
            return  # same image again (segment everything's passes, a reopened frame): keep the embedding
        hit = self.cache.get(key, lambda: self.encode_uncached(rgb))
        embed = torch.from_numpy(hit["image_embed"])
        n_high = sum(k.startswith("high_res_") for k in hit)
        # models without high-res features (use_high_res_features_in_sam off) carry None, as the encoder gives
        high = [torch.from_numpy(hit[f"high_res_{i}"]) for i in range(n_high)] if n_high else None
        with torch.inference_mode():
            # the decoder's image-only work, once per image (clicks then cost only prompt work)
            dec_cache = self.model.sam_mask_decoder.image_cache(embed, self.model.sam_prompt_encoder.get_dense_pe())
        self.features = {"image_embed": embed, "high_res_feats": high, "decoder": dec_cache}
        self.orig_hw = rgb.shape[:2]
        self._key = key

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask: bool = True) -> Prediction:
        import torch

        from annotator.nn.sam_heads import dense_lowrank

        if self.features is None:
            raise RuntimeError("set_image must be called before predict")
        h, w = self.orig_hw
        s = self.image_size
        prompt = sam2_point_prompt(points, labels, box)
        m = self.model
        with torch.inference_mode():
            if prompt is not None:
                c = torch.from_numpy(prompt[0])
                c = c / torch.tensor([w, h], dtype=torch.float32) * s
                point_in = (c[None], torch.from_numpy(prompt[1])[None])
            else:
                point_in = None
            mask_t = None
            if mask_input is not None:
                mi = np.asarray(mask_input, dtype=np.float32)
                mask_t = torch.from_numpy(mi.reshape(1, 1, *mi.shape[-2:]))
            sparse, _ = m.sam_prompt_encoder(points=point_in, boxes=None, masks=None, batch_size=1)
            out = m.sam_mask_decoder.forward_cached(self.features["decoder"], sparse,
                                                    dense_lowrank(m.sam_prompt_encoder, mask_t),
                                                    high_res_features=self.features["high_res_feats"])
            low, iou, _ = _select(out, multimask, m.dynamic_multimask)
            self.last_object_score_logits = out.object_score_logits[0].numpy().copy()
            masks = _upsample_masks(low[0].numpy(), h, w)
            lowres = torch.clamp(low, -32.0, 32.0)[0].numpy()
            scores = iou[0].numpy()
        best = int(np.argmax(scores)) if len(scores) > 1 else 0
        return Prediction(masks=masks, scores=scores.astype(np.float32), lowres_logits=lowres.astype(np.float32),
                          best=best)


    def predict_points(self, points_xy: np.ndarray):
        """Batched single positive clicks -> torch (low-res logits [B, 3, h, w], sigmoid IoU
        [B, 3]) of the multimask tokens, as the SAM 2 automatic mask generator asks for."""
        import torch

        from annotator.nn.sam_heads import dense_lowrank

        if self.features is None:
            raise RuntimeError("set_image must be called before predict_points")
        h, w = self.orig_hw
        s = self.image_size
        c = np.asarray(points_xy, np.float64).reshape(-1, 2) / (w, h) * s
        pts = torch.from_numpy(c.astype(np.float32))[:, None, :]
        labels = torch.ones(pts.shape[0], 1, dtype=torch.int64)
        m = self.model
        with torch.inference_mode():
            sparse, _ = m.sam_prompt_encoder(points=(pts, labels), boxes=None, masks=None, batch_size=pts.shape[0])
            out = m.sam_mask_decoder.forward_cached(self.features["decoder"], sparse,
                                                    dense_lowrank(m.sam_prompt_encoder, None),
                                                    high_res_features=self.features["high_res_feats"])
        return out.masks[:, 1:], out.iou_pred[:, 1:]

    def upsample_logits(self, low) -> np.ndarray:
        """Low-res logits [k, h', w'] -> float32 logits [k, H, W] (bilinear, half-pixel centres)."""
        import cv2

        h, w = self.orig_hw
        low = np.asarray(low.numpy() if hasattr(low, "numpy") else low, np.float32)
        out = np.empty((low.shape[0], h, w), np.float32)
        for i in range(low.shape[0]):
            out[i] = cv2.resize(np.ascontiguousarray(low[i]), (w, h), interpolation=cv2.INTER_LINEAR)
        return out


def _upsample_masks(low: np.ndarray, h: int, w: int) -> np.ndarray:
    """Low-res logits [k,h',w'] -> bool [k,h,w]: bilinear with half-pixel centres (as torch's
    align_corners=False), by OpenCV, several times faster on one-channel maps."""
    import cv2

    out = np.empty((low.shape[0], h, w), bool)
    for i in range(low.shape[0]):
        np.greater(cv2.resize(np.ascontiguousarray(low[i], np.float32), (w, h), interpolation=cv2.INTER_LINEAR),
                   0.0, out=out[i])
    return out


def _select(out, multimask: bool, dynamic: bool):
    from annotator.nn.sam_heads import select_sam2

    return select_sam2(out, multimask, dynamic)
