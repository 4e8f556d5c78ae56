"""SAM-style heads shared by every family: prompt encoder, two-way transformer, mask decoder.

One implementation serves SAM1 (SAM, MobileSAM, TinySAM, EdgeSAM) and the SAM 2 family
(SAM 2.1, EfficientTAM, EdgeTAM). The differences are constructor switches so that the
state-dict names match each family's official checkpoints (MODELS.md §0):

    switch                      SAM1 family        SAM 2 family
    mlp_naming                  "lin" (lin1/lin2)  "layers" (layers.0/1)
    pred_obj_scores             False              True  (obj_score_token placed first)
    pred_obj_scores_mlp         -                  True  (MLP head; False = one Linear)
    use_high_res_features       False              True for SAM 2.1/EdgeTAM (conv_s0/conv_s1)
    iou_prediction_use_sigmoid  False              True
    PromptEncoder box_rule      "sam1"             "sam2"

The decoder always returns all four mask tokens; picking outputs is the caller's job
(`select_sam1`, `select_sam2`), because every family has its own rule.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.fuse import affine_gelu


class LayerNorm2d(nn.Module):
    """Channel-first LayerNorm (mean/var over C), eps 1e-6 as in the official heads."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last layer_norm kernel is one fused pass; same maths as the official
        # mean/var formulation up to float rounding.
        return F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps).permute(0, 3, 1, 2)


class MLP(nn.Module):
    """`layers.0..n-1` Linear stack with ReLU between (official MLP in the decoder heads)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int,
                 sigmoid_output: bool = False) -> None:
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        outs = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, outs))
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return torch.sigmoid(x) if self.sigmoid_output else x


class _LinMLP(nn.Module):
    """SAM1 two-way-transformer MLP: `lin1`, ReLU, `lin2`."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(F.relu(self.lin1(x)))


def _make_mlp(dim: int, hidden: int, naming: str) -> nn.Module:
    if naming == "lin":
        return _LinMLP(dim, hidden)
    if naming == "layers":
        return MLP(dim, hidden, dim, 2)
    raise ValueError(f"mlp_naming must be 'lin' or 'layers', not {naming!r}")


# --------------------------------------------------------------------------------------
# Prompt encoder


class PositionEmbeddingRandom(nn.Module):
    """Random-Fourier positional encoding; the Gaussian matrix is a checkpoint buffer."""

    def __init__(self, num_pos_feats: int = 128) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords in [0, 1], last dim (x, y) -> [..., 2*num_pos_feats]."""
        c = 2 * coords - 1
        c = c @ self.positional_encoding_gaussian_matrix
        c = 2 * math.pi * c
        return torch.cat([torch.sin(c), torch.cos(c)], dim=-1)

    def dense(self, h: int, w: int) -> torch.Tensor:
        """[C, h, w] encoding of the cell centres of an h x w grid."""
        dev = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=dev, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=dev, dtype=torch.float32) + 0.5) / w
        grid = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        return self.encode(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        """coords in pixels of the (h, w) model input, (x, y) order."""
        scale = torch.tensor([image_size[1], image_size[0]], dtype=torch.float32, device=coords.device)
        return self.encode(coords.float() / scale)


class PromptEncoder(nn.Module):
    """Points, boxes and a low-res mask -> sparse tokens and a dense embedding.

    box_rule "sam1": a box is two corner tokens appended after the clicks, and a padding
    point is added only when there is no box. "sam2": the box becomes two points with labels
    2/3 placed before the clicks and a padding point is always added (what the SAM 2
    predictors do before calling their prompt encoder with boxes=None).
    """

    def __init__(self, embed_dim: int = 256, image_embedding_size: tuple[int, int] = (64, 64),
                 input_image_size: tuple[int, int] = (1024, 1024), mask_in_chans: int = 16,
                 box_rule: str = "sam1") -> None:
        super().__init__()
        if box_rule not in ("sam1", "sam2"):
            raise ValueError(f"box_rule must be 'sam1' or 'sam2', not {box_rule!r}")
        self.embed_dim = embed_dim
        self.image_embedding_size = tuple(image_embedding_size)
        self.input_image_size = tuple(input_image_size)
        self.box_rule = box_rule
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # 0 negative, 1 positive, 2 box top-left, 3 box bottom-right
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        return self.pe_layer.dense(*self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """coords [B,N,2] pixels of the model input; labels [B,N] in {-1,0,1,2,3}."""
        coords = coords + 0.5  # pixel centres
        h, w = self.input_image_size
        scale = torch.tensor([w, h], dtype=torch.float32, device=coords.device)
        return self.embed_normalized(coords.float() / scale, labels, pad)

    def embed_normalized(self, coords: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """coords [B,N,2] already as (pixel + 0.5) / input size; the automatic mask generator
        computes that in float64 as the official prompt encoder does."""
        labels = labels.to(coords.device)
        coords = coords.float()
        if pad:
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(labels.shape[0], 1)], dim=1)
        pe = self.pe_layer.encode(coords)
        # one gather instead of a masked add per label: table row 0 = not-a-point
        table = torch.cat([self.not_a_point_embed.weight] + [e.weight for e in self.point_embeddings], dim=0)
        idx = (labels.long() + 1).clamp(0, 4)
        pe = torch.where((labels == -1).unsqueeze(-1), torch.zeros_like(pe), pe)
        return pe + table[idx]

    def forward(self, points: tuple[torch.Tensor, torch.Tensor] | None = None,
                boxes: torch.Tensor | None = None, masks: torch.Tensor | None = None,
                batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """points: (coords [B,N,2], labels [B,N]); boxes [B,4] xyxy; masks [B,1,4h,4w] logits.
        Returns sparse [B,T,C] and dense [B,C,h,w]."""
        dev = self.no_mask_embed.weight.device
        if batch_size is None:
            batch_size = (points[0].shape[0] if points is not None
                          else boxes.shape[0] if boxes is not None
                          else masks.shape[0] if masks is not None else 1)
        if self.box_rule == "sam2" and boxes is not None:
            box_pts = boxes.reshape(-1, 2, 2)
            box_lab = torch.tensor([[2, 3]], dtype=torch.int64, device=box_pts.device).expand(box_pts.shape[0], 2)
            if points is not None:
                points = (torch.cat([box_pts, points[0]], dim=1), torch.cat([box_lab, points[1].long()], dim=1))
            else:
                points = (box_pts, box_lab)
            boxes = None
        parts = []
        if points is not None:
            parts.append(self.embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            lab = torch.tensor([[2, 3]], dtype=torch.int64, device=corners.device).expand(corners.shape[0], 2)
            parts.append(self.embed_points(corners, lab, pad=False))
        sparse = torch.cat(parts, dim=1) if parts else torch.empty(batch_size, 0, self.embed_dim, device=dev)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch_size, -1, h, w)
        return sparse, dense


class DenseLowRank(NamedTuple):
    """Dense prompt as tokens = coeff @ basis.T + offset, where coeff is [B, h*w or 1, r].

    A dense prompt is either the constant no-mask embedding (r = 1) or the output of
    mask_downscaling's last 1x1 conv (r = 16): projecting it through a Linear costs r instead
    of C multiply-adds per pixel, which lets the decoder reuse per-image projections."""

    coeff: torch.Tensor
    basis: torch.Tensor  # [C, r]
    offset: torch.Tensor  # [C]

    def tokens(self) -> torch.Tensor:
        return torch.matmul(self.coeff, self.basis.t()) + self.offset

    def project(self, linear: nn.Linear) -> torch.Tensor:
        """tokens() @ linear.weight.T, without the Linear's bias."""
        w = linear.weight
        return torch.matmul(self.coeff, (w @ self.basis).t()) + w @ self.offset


def dense_lowrank(prompt_encoder: "PromptEncoder", masks: torch.Tensor | None, batch_size: int = 1) -> DenseLowRank:
    if masks is None:
        e = prompt_encoder.no_mask_embed.weight
        return DenseLowRank(e.new_ones(batch_size, 1, 1), e.t(), torch.zeros_like(e[0]))
    ds = prompt_encoder.mask_downscaling
    h = ds[:-1](masks)
    last = ds[-1]
    return DenseLowRank(h.flatten(2).transpose(1, 2), last.weight[:, :, 0, 0], last.bias)


# --------------------------------------------------------------------------------------
# Two-way transformer


class Attention(nn.Module):
    """Multi-head attention with q/k/v/out projections and an optional internal downsample."""

    def __init__(self, embedding_dim: int, num_heads: int, downsample_rate: int = 1,
                 kv_in_dim: int | None = None) -> None:
        super().__init__()
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        kv_in_dim = kv_in_dim or embedding_dim
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.attend(self.q_proj(q), self.k_proj(k), self.v_proj(v))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention on already projected q/k/v [B, N, internal_dim] (batch 1 broadcasts)."""
        bmax = max(q.shape[0], k.shape[0], v.shape[0])
        q, k, v = (t.expand(bmax, -1, -1) if t.shape[0] != bmax else t for t in (q, k, v))
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        # explicit softmax attention: one side is always a handful of tokens, where SDPA's
        # blocked kernel costs more than the three small matmuls (and this is the official order)
        if q.shape[-2] > k.shape[-2]:
            # many queries, few keys (image -> tokens): softmax over a size-7 last dim is slow,
            # so keep keys on the outer dim where the reduction vectorises over the queries
            attn_t = torch.matmul(k, q.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            out = torch.matmul(attn_t.softmax(dim=-2).transpose(-2, -1), v)
        else:
            attn = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
            out = torch.matmul(attn.softmax(dim=-1), v)
        b, h, n, d = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * d))

    # -- Folded forms for the per-click decoder. One side of every decoder attention is a
    # handful of prompt tokens (n), the other the 4096 image tokens. Multiplying the n-side
    # through the projection weights instead of projecting all image tokens turns each
    # [4096 x 256] x [256 x 128] projection into a [4096 x 256] x [256 x heads*n] product, a
    # saving while heads*n < internal_dim. Same maths up to float rounding.

    def folds(self, n_tokens: int) -> bool:
        return self.num_heads * n_tokens < self.internal_dim

    def _w_heads(self, linear: nn.Linear) -> torch.Tensor:
        """Linear weight [internal_dim, C] as [heads, head_dim, C]."""
        return linear.weight.view(self.num_heads, -1, linear.weight.shape[1])

    def few_queries(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """`forward(q, k, v)` for few queries q [B,n,C] over many keys/values [B,M,C].

        Scores: (q Wq_h) (k Wk_h + bk_h)^T = ((q Wq_h) Wk_h) k^T + const per query row, and a
        softmax ignores a constant per row, so k is never projected. Values: the attention
        rows sum to one, so A (v Wv_h + bv_h) = (A v) Wv_h + bv_h."""
        b, n, _ = q.shape
        hds, d = self.num_heads, self.internal_dim // self.num_heads
        qh = (self.q_proj(q) / math.sqrt(d)).view(b, n, hds, d).transpose(1, 2)  # [B,h,n,d]
        g = torch.matmul(qh, self._w_heads(self.k_proj)).reshape(b, hds * n, -1)  # [B,h*n,C]
        attn = torch.matmul(g, k.transpose(1, 2)).softmax(dim=-1)  # [B,h*n,M]
        z = torch.matmul(attn, v).view(b, hds, n, -1)  # [B,h,n,C]
        out = torch.matmul(z, self._w_heads(self.v_proj).transpose(1, 2))  # [B,h,n,d]
        out = out + self.v_proj.bias.view(hds, 1, d)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, hds * d))

    def few_keys(self, x: torch.Tensor | None, k: torch.Tensor, v: torch.Tensor,
                 q_proj: torch.Tensor | None = None) -> torch.Tensor:
        """`forward(x, k, v)` for many queries x [B,M,C] over few keys/values [B,n,C]
        (`q_proj` = the already projected queries [B,M,internal_dim], then x is unused).

        Scores: (x Wq_h + bq_h) k_h^T = x (Wq_h^T k_h^T) + bq_h k_h^T, so x is multiplied by
        a [C, h*n] matrix instead of being projected; output: sum_h A_h (v_h Wo_h^T) + bo
        replaces the [M x internal_dim] x [internal_dim x C] out projection."""
        b, n, _ = k.shape
        hds, d = self.num_heads, self.internal_dim // self.num_heads
        kh = (self.k_proj(k) / math.sqrt(d)).view(b, n, hds, d).transpose(1, 2)  # [B,h,n,d]
        vh = self.v_proj(v).view(b, n, hds, d).transpose(1, 2)
        if q_proj is None:
            e = torch.matmul(kh, self._w_heads(self.q_proj)).reshape(b, hds * n, -1)  # [B,h*n,C]
            bias = torch.matmul(kh, self.q_proj.bias.view(hds, d, 1)).reshape(b, hds * n, 1)
            st = torch.matmul(e, x.transpose(1, 2)).add_(bias)
        else:
            qh = q_proj.view(q_proj.shape[0], -1, hds, d).permute(0, 2, 3, 1)  # [B,h,d,M]
            st = torch.matmul(kh, qh).reshape(b, hds * n, -1)
        attn = st.view(b, hds, n, -1).softmax(dim=2).view(b, hds * n, -1)  # over the n keys
        wo = self.out_proj.weight.view(-1, hds, d).permute(1, 2, 0)  # [h,d,C]
        # each head's attention row sums to one, so a row of attn^T sums to `heads`: the out
        # bias rides along as bias/heads on every row of f, with no extra pass over the output
        f = (torch.matmul(vh, wo) + self.out_proj.bias / hds).reshape(b, hds * n, -1)  # [B,h*n,C]
        return torch.matmul(attn.transpose(1, 2), f)


class TwoWayAttentionBlock(nn.Module):
    def __init__(self, embedding_dim: int, num_heads: int, mlp_dim: int = 2048,
                 attention_downsample_rate: int = 2, skip_first_layer_pe: bool = False,
                 mlp_naming: str = "lin") -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = _make_mlp(embedding_dim, mlp_dim, mlp_naming)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(self, queries, keys, query_pe, key_pe):
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)  # no residual in the first layer
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)
        k = keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(queries + query_pe, k, keys))
        queries = self.norm3(queries + self.mlp(queries))
        q = queries + query_pe
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class TwoWayTransformer(nn.Module):
    def __init__(self, depth: int = 2, embedding_dim: int = 256, num_heads: int = 8, mlp_dim: int = 2048,
                 attention_downsample_rate: int = 2, mlp_naming: str = "lin") -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(embedding_dim, num_heads, mlp_dim, attention_downsample_rate,
                                 skip_first_layer_pe=(i == 0), mlp_naming=mlp_naming)
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(embedding_dim, num_heads, attention_downsample_rate)
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(self, image_embedding, image_pe, point_embedding):
        """image_embedding/pe [B,C,h,w], point_embedding [B,T,C] -> (tokens [B,T,C], image [B,hw,C])."""
        # token-major, contiguous: every later add/LayerNorm/Linear streams through memory
        keys = image_embedding.flatten(2).transpose(1, 2).contiguous()
        key_pe = image_pe.flatten(2).transpose(1, 2).contiguous()
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, key_pe)
        attn = self.final_attn_token_to_image(queries + point_embedding, keys + key_pe, keys)
        return self.norm_final_attn(queries + attn), keys


def _block_few_tokens(layer: TwoWayAttentionBlock, queries, keys, query_pe, key_pe):
    """`layer.forward` (a block after the first) with the folded attentions when they pay."""
    n = queries.shape[1]
    q = queries + query_pe
    queries = layer.norm1(queries + layer.self_attn(q, q, queries))
    k = keys + key_pe
    t2i, i2t = layer.cross_attn_token_to_image, layer.cross_attn_image_to_token
    q = queries + query_pe
    att = t2i.few_queries(q, k, keys) if t2i.folds(n) else t2i(q, k, keys)
    queries = layer.norm2(queries + att)
    queries = layer.norm3(queries + layer.mlp(queries))
    q = queries + query_pe
    att = i2t.few_keys(k, q, queries) if i2t.folds(n) else i2t(k, q, queries)
    return queries, layer.norm4(att.add_(keys))


# --------------------------------------------------------------------------------------
# Mask decoder


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
