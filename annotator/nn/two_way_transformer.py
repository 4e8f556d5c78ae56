"""The two-way transformer between prompt tokens and image embeddings (SAM's and SAM 2's)."""
from __future__ import annotations

import math

import torch
from torch import nn

from annotator.nn.sam_blocks import _make_mlp


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
