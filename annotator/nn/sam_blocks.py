"""Small blocks the SAM-style heads share: LayerNorm2d and the MLPs in both families' naming
(sam_heads.py says which family names its layers how)."""
from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn


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
