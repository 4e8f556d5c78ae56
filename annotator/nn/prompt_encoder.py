"""The prompt encoder (points, boxes, mask prompts -> sparse and dense embeddings) and the
low-rank form of its dense output that the decoders use."""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from annotator.nn.sam_blocks import LayerNorm2d


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
