"""CLIP (ViT image tower + causal text tower) in plain PyTorch, in the Hugging Face layout
(`vision_model.*`, `text_model.*`, `visual_projection`, `text_projection`, `logit_scale`), so
the published `model.safetensors` files load with `strict=True`.

Beyond the pooled embeddings the image tower gives MaskCLIP's dense features: the last block's
query-key attention is skipped and each patch keeps its own value embedding, which then goes
through the rest of the block, the final norm and the projection, so every patch lands in the
joint image-text space. The last block's keys come out too (MaskCLIP's key smoothing uses them).
Position embeddings are resized (bicubic) for inputs other than the trained size.

arch (model card):  family: clip, vision: {width, layers, heads, patch_size, image_size},
text: {width, layers, heads, vocab_size, context_length, end_id}, embed_dim, act (quick_gelu|gelu),
layer_norm_eps.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _act(name: str):
    if name == "quick_gelu":  # OpenAI's CLIP activation: x * sigmoid(1.702 x)
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu
    raise ValueError(f"unknown CLIP activation {name!r}")


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        b, n, c = x.shape
        h = self.heads

        def split(t):
            return t.view(b, n, h, c // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out_proj(y.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self._act = _act(act)

    def forward(self, x):
        return self.fc2(self._act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, width: int, heads: int, act: str, eps: float):
        super().__init__()
        self.self_attn = Attention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.mlp = Mlp(width, 4 * width, act)
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x, causal: bool = False):
        x = x + self.self_attn(self.layer_norm1(x), causal=causal)
        return x + self.mlp(self.layer_norm2(x))

    def value_path(self, x: torch.Tensor, residual: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """MaskCLIP's last block: every token's own value (no query-key mixing); also the keys.
        residual=False drops the residual and the MLP as well (the noisier parts for dense use)."""
        y = self.layer_norm1(x)
        v = self.self_attn.out_proj(self.self_attn.v_proj(y))
        keys = self.self_attn.out_proj(self.self_attn.k_proj(y))  # MaskCLIP's keys: through out_proj too
        if not residual:
            return v, keys
        x = x + v
        return x + self.mlp(self.layer_norm2(x)), keys


class Encoder(nn.Module):
    def __init__(self, width, layers, heads, act, eps):
        super().__init__()
        self.layers = nn.ModuleList(Block(width, heads, act, eps) for _ in range(layers))


class VisionEmbeddings(nn.Module):
    def __init__(self, width: int, patch: int, image_size: int):
        super().__init__()
        self.patch_size = patch
        self.grid = image_size // patch
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.patch_embedding = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.position_embedding = nn.Embedding(self.grid * self.grid + 1, width)

    def positions(self, gh: int, gw: int) -> torch.Tensor:
        pos = self.position_embedding.weight
        if (gh, gw) == (self.grid, self.grid):
            return pos
        grid = pos[1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, -1)])

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        p = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype))
        gh, gw = p.shape[-2:]
        p = p.flatten(2).transpose(1, 2)
        cls = self.class_embedding.view(1, 1, -1).expand(p.shape[0], 1, -1)
        return torch.cat([cls, p], dim=1) + self.positions(gh, gw), (gh, gw)


class VisionTower(nn.Module):
    def __init__(self, cfg: dict, act: str, eps: float):
        super().__init__()
        w = int(cfg["width"])
        self.embeddings = VisionEmbeddings(w, int(cfg["patch_size"]), int(cfg["image_size"]))
        self.pre_layrnorm = nn.LayerNorm(w, eps=eps)  # sic: the published name
        self.encoder = Encoder(w, int(cfg["layers"]), int(cfg["heads"]), act, eps)
        self.post_layernorm = nn.LayerNorm(w, eps=eps)

    def tokens(self, pixels, upto: int | None = None):
        x, grid = self.embeddings(pixels)
        x = self.pre_layrnorm(x)
        layers = self.encoder.layers if upto is None else self.encoder.layers[:upto]
        for blk in layers:
            x = blk(x)
        return x, grid

    def forward(self, pixels):
        """Pooled output (the class token after the final norm), [B, width]."""
        x, _ = self.tokens(pixels)
        return self.post_layernorm(x[:, 0])


class TextEmbeddings(nn.Module):
    def __init__(self, width: int, vocab: int, context: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Embedding(context, width)


class TextTower(nn.Module):
    def __init__(self, cfg: dict, act: str, eps: float):
        super().__init__()
        w = int(cfg["width"])
        self.end_id = int(cfg["end_id"])
        self.embeddings = TextEmbeddings(w, int(cfg["vocab_size"]), int(cfg["context_length"]))
        self.encoder = Encoder(w, int(cfg["layers"]), int(cfg["heads"]), act, eps)
        self.final_layer_norm = nn.LayerNorm(w, eps=eps)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Pooled output at each row's first end token, [B, width]."""
        end = (ids == self.end_id).int().argmax(dim=1)
        # causal attention: tokens after the last end token cannot change any pooled output, so
        # they are not computed (a short prompt costs ~10 tokens, not the 77 of the context)
        n = int(end.max()) + 1 if ids.shape[0] else ids.shape[1]
        ids = ids[:, :n]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding.weight[:n]
        for blk in self.encoder.layers:
            x = blk(x, causal=True)
        x = self.final_layer_norm(x)
        return x[torch.arange(x.shape[0]), end]


class Clip(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        act = arch.get("act", "quick_gelu")
        eps = float(arch.get("layer_norm_eps", 1e-5))
        d = int(arch["embed_dim"])
        self.vision_model = VisionTower(arch["vision"], act, eps)
        self.text_model = TextTower(arch["text"], act, eps)
        self.visual_projection = nn.Linear(int(arch["vision"]["width"]), d, bias=False)
        self.text_projection = nn.Linear(int(arch["text"]["width"]), d, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.image_size = int(arch["vision"]["image_size"])
        self.patch_size = int(arch["vision"]["patch_size"])

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B,3,S,S] normalised pixels -> image embeddings [B, embed_dim] (not normalised)."""
        return self.visual_projection(self.vision_model(pixels))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_projection(self.text_model(ids))

    def logits(self, pixels, ids) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits_per_image [B_img, B_txt], logits_per_text) as CLIP scores them."""
        img = F.normalize(self.encode_image(pixels), dim=-1)
        txt = F.normalize(self.encode_text(ids), dim=-1)
        per_text = self.logit_scale.exp() * txt @ img.t()
        return per_text.t(), per_text

    def dense(self, pixels: torch.Tensor, residual: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """MaskCLIP dense features: ([B, gh, gw, embed_dim] patch embeddings in the joint space,
        [B, gh*gw, width] last-block keys). Any input size that is a multiple of the patch."""
        vm = self.vision_model
        x, (gh, gw) = vm.tokens(pixels, upto=len(vm.encoder.layers) - 1)
        y, keys = vm.encoder.layers[-1].value_path(x, residual=residual)
        feats = self.visual_projection(vm.post_layernorm(y[:, 1:]))
        return feats.reshape(x.shape[0], gh, gw, -1), keys[:, 1:]


def build(arch: dict) -> Clip:
    return Clip(arch)


# ---------------------------------------------------------------------------- OpenAI layout

# OpenAI's own names (the CLIP repository's model, also open_clip's files of the OpenAI
# weights) -> ours, per block and for the towers' ends. in_proj holds q, k, v stacked in that
# order; OpenAI's projections are [width, embed] matrices applied as x @ P (ours: Linear, P.T).
_OPENAI_BLOCK = {"ln_1": "layer_norm1", "ln_2": "layer_norm2", "mlp.c_fc": "mlp.fc1", "mlp.c_proj": "mlp.fc2",
                 "attn.out_proj": "self_attn.out_proj"}
_OPENAI_TOP = {"token_embedding.weight": "text_model.embeddings.token_embedding.weight",
               "positional_embedding": "text_model.embeddings.position_embedding.weight",
               "ln_final.weight": "text_model.final_layer_norm.weight",
               "ln_final.bias": "text_model.final_layer_norm.bias",
               "logit_scale": "logit_scale",
               "visual.class_embedding": "vision_model.embeddings.class_embedding",
               "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
               "visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
               "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight",
               "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
               "visual.ln_post.weight": "vision_model.post_layernorm.weight",
               "visual.ln_post.bias": "vision_model.post_layernorm.bias"}
_OPENAI_META = ("input_resolution", "context_length", "vocab_size", "attn_mask")  # not weights


# Index tensors that older exports saved beside the weights; they are arange() and carry no
# weight, so a file with or without them is the same model.
DERIVED_SUFFIXES = ("embeddings.position_ids",)


def standard_layout(sd: dict) -> dict:
    """Any published CLIP state dict (Hugging Face or OpenAI names, with or without the
    derived position ids) in our layout, ready for a strict load."""
    if is_openai_layout(sd):
        sd = from_openai_layout(sd)
    return {k: v for k, v in sd.items() if not k.endswith(DERIVED_SUFFIXES)}


def is_openai_layout(sd) -> bool:
    return any(k.startswith(("visual.", "transformer.resblocks.")) for k in sd)


def from_openai_layout(sd: dict) -> dict:
    """An OpenAI-layout CLIP (ViT) state dict in our layout. Unknown names are kept as they are,
    so the strict load that follows names them."""
    out = {}
    for name, t in sd.items():
        if name.endswith(_OPENAI_META):
            continue
        if name in _OPENAI_TOP:
            out[_OPENAI_TOP[name]] = t
        elif name == "visual.proj":
            out["visual_projection.weight"] = t.t().contiguous()
        elif name == "text_projection":
            out["text_projection.weight"] = t.t().contiguous()
        elif ".resblocks." in name:
            tower = "vision_model" if name.startswith("visual.") else "text_model"
            rest = name.split(".resblocks.", 1)[1]
            i, sub = rest.split(".", 1)
            prefix = f"{tower}.encoder.layers.{i}."
            if sub in ("attn.in_proj_weight", "attn.in_proj_bias"):
                kind = "weight" if sub.endswith("weight") else "bias"
                for part, chunk in zip(("q_proj", "k_proj", "v_proj"), t.chunk(3, dim=0)):
                    out[f"{prefix}self_attn.{part}.{kind}"] = chunk.contiguous()
                continue
            mod, leaf = sub.rsplit(".", 1)
            out[prefix + _OPENAI_BLOCK.get(mod, mod) + "." + leaf] = t
        else:
            out[name] = t
    return out
