"""The mask decoder (tokens -> low-res mask logits, IoU and object scores) and each family's
rule for picking outputs from its four mask tokens."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.fuse import affine_gelu
from annotator.nn.prompt_encoder import DenseLowRank
from annotator.nn.sam_blocks import MLP, LayerNorm2d
from annotator.nn.two_way_transformer import TwoWayTransformer, _block_few_tokens


class DecoderOutput(NamedTuple):
    masks: torch.Tensor  # [B, 4, 4h, 4w] low-res logits, token 0 = single-mask output
    iou_pred: torch.Tensor  # [B, 4] (sigmoid already applied where the family does)
    mask_tokens_out: torch.Tensor  # [B, 4, C] (SAM 2 object pointers are made from these)
    object_score_logits: torch.Tensor  # [B, 1]; 10.0 where the family has no object head


class MaskDecoder(nn.Module):
    def __init__(self, transformer_dim: int = 256, num_multimask_outputs: int = 3,
                 iou_head_depth: int = 3, iou_head_hidden_dim: int = 256,
                 transformer_depth: int = 2, transformer_heads: int = 8, transformer_mlp_dim: int = 2048,
                 mlp_naming: str = "lin", pred_obj_scores: bool = False, pred_obj_scores_mlp: bool = False,
                 use_high_res_features: bool = False, iou_prediction_use_sigmoid: bool = False) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = TwoWayTransformer(transformer_depth, transformer_dim, transformer_heads,
                                             transformer_mlp_dim, 2, mlp_naming)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth,
                                       sigmoid_output=iou_prediction_use_sigmoid)
        if pred_obj_scores:
            self.pred_obj_score_head = (MLP(transformer_dim, transformer_dim, 1, 3) if pred_obj_scores_mlp
                                        else nn.Linear(transformer_dim, 1))

    def forward(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor,
                sparse_prompt_embeddings: torch.Tensor, dense_prompt_embeddings: torch.Tensor,
                high_res_features: tuple[torch.Tensor, torch.Tensor] | None = None) -> DecoderOutput:
        """image_embeddings [1 or B,C,h,w] (broadcast over the B prompt sets), image_pe [1,C,h,w],
        sparse [B,T,C], dense [B,C,h,w]; high_res_features = (conv_s0 output, conv_s1 output)
        already projected, as the SAM 2 predictors cache them."""
        b = sparse_prompt_embeddings.shape[0]
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)  # placed first in SAM 2
        out_tokens = torch.cat(parts, dim=0).unsqueeze(0).expand(b, -1, -1)
        tokens = torch.cat([out_tokens, sparse_prompt_embeddings], dim=1)
        src = image_embeddings
        if src.shape[0] != b:
            src = src.expand(b, -1, -1, -1)
        src = src + dense_prompt_embeddings
        pos = image_pe.expand(b, -1, -1, -1)
        _, c, h, w = src.shape

        hs, src = self.transformer(src, pos, tokens)
        return self._heads_out(hs, src, (h, w), high_res_features)

    # -- per-image cache: interactive clicks on one image re-use the layer-0 image projections

    def image_cache(self, image_embeddings: torch.Tensor, image_pe: torch.Tensor) -> dict:
        """Everything of the decoder that depends only on the image (batch 1)."""
        l0 = self.transformer.layers[0]
        keys = image_embeddings.flatten(2).transpose(1, 2).contiguous()
        key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
        kpe = keys + key_pe
        return {
            "hw": tuple(image_embeddings.shape[-2:]),
            "keys": keys,
            "key_pe": key_pe,
            "t2i_k": l0.cross_attn_token_to_image.k_proj(kpe),
            "t2i_v": l0.cross_attn_token_to_image.v_proj(keys),
            "i2t_q": l0.cross_attn_image_to_token.q_proj(kpe),
        }

    def forward_cached(self, cache: dict, sparse_prompt_embeddings: torch.Tensor, dense: DenseLowRank,
                       high_res_features=None) -> DecoderOutput:
        """Same outputs as `forward` (up to float rounding) from `image_cache` and a low-rank
        dense prompt: the three image-side projections of layer 0 become rank-r updates."""
        b = sparse_prompt_embeddings.shape[0]
        parts = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            parts.insert(0, self.obj_score_token.weight)
        tokens = torch.cat([torch.cat(parts, 0).unsqueeze(0).expand(b, -1, -1), sparse_prompt_embeddings], dim=1)
        t = self.transformer
        l0 = t.layers[0]
        t2i, i2t = l0.cross_attn_token_to_image, l0.cross_attn_image_to_token
        keys = cache["keys"] + dense.tokens()
        key_pe = cache["key_pe"]
        if keys.shape[0] != b:
            keys = keys.expand(b, -1, -1)
        # layer 0 (no PE on the first self-attention, no residual)
        q = l0.norm1(l0.self_attn(tokens, tokens, tokens))
        att = t2i.attend(t2i.q_proj(q + tokens),
                         cache["t2i_k"] + dense.project(t2i.k_proj),
                         cache["t2i_v"] + dense.project(t2i.v_proj))
        q = l0.norm2(q + att)
        q = l0.norm3(q + l0.mlp(q))
        qt = q + tokens
        n = tokens.shape[1]
        q_img = cache["i2t_q"] + dense.project(i2t.q_proj)
        if i2t.folds(n):
            att = i2t.few_keys(None, qt, q, q_proj=q_img)
        else:
            att = i2t.attend(q_img, i2t.k_proj(qt), i2t.v_proj(q))
        keys = l0.norm4(att.add_(keys))  # att is a fresh tensor: sum in place
        for layer in t.layers[1:]:
            q, keys = _block_few_tokens(layer, q, keys, tokens, key_pe)
        fin = t.final_attn_token_to_image
        kpe = keys + key_pe
        att = fin.few_queries(q + tokens, kpe, keys) if fin.folds(n) else fin(q + tokens, kpe, keys)
        hs = t.norm_final_attn(q + att)
        return self._heads_out(hs, keys, cache["hw"], high_res_features)

    def _heads_out(self, hs, src, hw, high_res_features) -> DecoderOutput:
        h, w = hw
        s = 1 if self.pred_obj_scores else 0
        iou_token_out = hs[:, s, :]
        mask_tokens_out = hs[:, s + 1: s + 1 + self.num_mask_tokens, :]
        up = self._upscale(src, h, w, high_res_features)
        hyper_in = torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in
                                enumerate(self.output_hypernetworks_mlps)], dim=1)
        masks = _unshuffle(torch.matmul(hyper_in, up.transpose(1, 2)), h, w)
        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            obj = self.pred_obj_score_head(hs[:, 0, :])
        else:
            obj = 10.0 * iou_pred.new_ones(iou_pred.shape[0], 1)
        return DecoderOutput(masks, iou_pred, mask_tokens_out, obj)

    def _upscale(self, src: torch.Tensor, h: int, w: int, high_res_features) -> torch.Tensor:
        """`output_upscaling` on token-major features [B, h*w, C] -> [B, 16*h*w, C/8] with the
        pixels in sub-pixel order (i, j, dy1, dx1, dy2, dx2); `_unshuffle` restores rows/cols.

        A 2x2 stride-2 transposed conv is one matmul per input pixel, and LayerNorm/GELU and
        the next transposed conv act per pixel, so the whole chain runs as GEMMs without any
        spatial rearrangement; only the final 4-channel masks are shuffled (same sums as the
        ConvTranspose2d modules whose weights it uses)."""
        dc1, ln1, _, dc2, _ = self.output_upscaling
        b = src.shape[0]
        c1, c2 = dc1.weight.shape[1], dc2.weight.shape[1]
        w1 = dc1.weight.permute(0, 2, 3, 1).reshape(-1, 4 * c1)
        x = torch.addmm(dc1.bias.repeat(4), src.reshape(-1, src.shape[-1]), w1).reshape(b, 4 * h * w, c1)
        if high_res_features is not None:
            hb = high_res_features[1].shape[0]  # 1 when one image serves a batch of prompts
            s1 = high_res_features[1].reshape(hb, c1, h, 2, w, 2).permute(0, 2, 4, 3, 5, 1)
            x = x + s1.reshape(hb, 4 * h * w, c1)
        x = F.gelu(F.layer_norm(x, (c1,), ln1.weight, ln1.bias, ln1.eps))
        w2 = dc2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2).t()  # [4*c2, c1] (Linear layout)
        b2 = dc2.bias.repeat(4)
        if high_res_features is None:
            return affine_gelu(x, w2, b2).reshape(b, 16 * h * w, c2)
        y = F.linear(x, w2, b2).reshape(b, 16 * h * w, c2)
        hb = high_res_features[0].shape[0]
        s0 = high_res_features[0].reshape(hb, c2, h, 2, 2, w, 2, 2).permute(0, 2, 5, 3, 6, 4, 7, 1)
        return F.gelu(y + s0.reshape(hb, 16 * h * w, c2))


def _unshuffle(masks: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """[B, K, 16*h*w] in sub-pixel order -> [B, K, 4h, 4w]."""
    b, k = masks.shape[:2]
    # two 6-d permutes instead of one 8-d one: torch's strided copy is ~3x faster that way
    m = masks.reshape(b * k, h, w, 2, 2, 4).permute(0, 1, 3, 2, 4, 5)  # (i, dy1, j, dx1, [dy2 dx2])
    m = m.reshape(b * k, 2 * h, 2 * w, 2, 2).permute(0, 1, 3, 2, 4)  # (I, dy2, J, dx2)
    return m.reshape(b, k, 4 * h, 4 * w)


# --------------------------------------------------------------------------------------
# Output selection rules


def stability_score(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """|logits > t+o| / |logits > t-o| over the last two dims; an empty union scores 1.0
    (SAM 2 convention; SAM1 would divide by zero)."""
    inter = (logits > threshold + offset).flatten(-2).sum(-1, dtype=torch.int32).float()
    union = (logits > threshold - offset).flatten(-2).sum(-1, dtype=torch.int32).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))


def select_sam1(out: DecoderOutput, multimask: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM1 decoder slicing: tokens 1..3 when multimask, token 0 otherwise."""
    sl = slice(1, None) if multimask else slice(0, 1)
    return out.masks[:, sl], out.iou_pred[:, sl]


def select_sam2(out: DecoderOutput, multimask: bool, dynamic_multimask_via_stability: bool = True,
                delta: float = 0.05, thresh: float = 0.98, use_multimask_token_for_obj_ptr: bool = True):
    """SAM 2 decoder slicing -> (masks, iou, sam_tokens_out). Without multimask, token 0 is
    replaced by the best multimask token when its stability (±delta) is below thresh."""
    if multimask:
        masks, iou = out.masks[:, 1:], out.iou_pred[:, 1:]
    elif dynamic_multimask_via_stability:
        multi_m, multi_i = out.masks[:, 1:], out.iou_pred[:, 1:]
        best = multi_i.argmax(dim=-1)
        ar = torch.arange(multi_i.shape[0], device=best.device)
        best_m, best_i = multi_m[ar, best].unsqueeze(1), multi_i[ar, best].unsqueeze(1)
        single_m, single_i = out.masks[:, 0:1], out.iou_pred[:, 0:1]
        stable = stability_score(single_m, 0.0, delta) >= thresh  # [B, 1]
        masks = torch.where(stable[..., None, None], single_m, best_m)
        iou = torch.where(stable, single_i, best_i)
    else:
        masks, iou = out.masks[:, 0:1], out.iou_pred[:, 0:1]
    if multimask and use_multimask_token_for_obj_ptr:
        tokens = out.mask_tokens_out[:, 1:]
    else:
        tokens = out.mask_tokens_out[:, 0:1]
    return masks, iou, tokens
