"""SAM 2 family model (SAM 2.1, EfficientTAM, EdgeTAM): image encoder, SAM heads, memory.

`build(arch)` returns a `Sam2Model` whose state-dict names equal the official checkpoints'.
The model only does maths on tensors (one object per batch row); which memories a frame
attends to is decided by the video engine (annotator/engines/video.py). Behaviour follows
../shared/docs/MODELS.md 5.3-5.6 and pitfalls 10-13.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotator.nn.factory import DEFAULT_ENCODER
from annotator.nn.memory import MemoryEncoder, build_memory_attention, sine_pe_1d
from annotator.nn.sam_heads import MLP, MaskDecoder, PromptEncoder, select_sam2

NO_OBJ_SCORE = -1024.0

# SAM 2.1 defaults; EfficientTAM / EdgeTAM cards override what differs.
DEFAULTS = {
    "image_size": 1024,
    "hidden_dim": 256,
    "mem_dim": 64,
    "num_maskmem": 7,
    "max_obj_ptrs": 16,
    "use_high_res_features": True,
    "add_tpos_enc_to_obj_ptrs": True,  # with obj_ptr_tpos_proj (SAM 2.1 only)
    "no_obj_embed_spatial": True,
    "sigmoid_scale_for_mem_enc": 20.0,
    "sigmoid_bias_for_mem_enc": -10.0,
    "fixed_no_obj_ptr": True,
    "dynamic_multimask_via_stability": True,
    "multimask_min_pt_num": 0,
    "multimask_max_pt_num": 1,
}


def _build_image_encoder(arch: dict) -> nn.Module:
    enc = arch.get("encoder", DEFAULT_ENCODER["sam2"])
    if enc == "hiera":
        from annotator.nn.hiera import build_encoder
    elif enc == "vitdet":
        from annotator.nn.vitdet import build_encoder
    elif enc == "repvit_m1_timm":
        from annotator.nn.repvit_timm import build_encoder
    else:
        raise KeyError(f"unknown SAM 2 image encoder {enc!r}")
    return build_encoder(arch)


class Sam2Model(nn.Module):
    def __init__(self, arch: dict):
        super().__init__()
        cfg = {**DEFAULTS, **{k: v for k, v in arch.items() if not isinstance(v, dict)}}
        self.cfg = cfg
        self.image_size = int(cfg["image_size"])
        self.hidden_dim = c = int(cfg["hidden_dim"])
        self.mem_dim = int(cfg["mem_dim"])
        self.num_maskmem = int(cfg["num_maskmem"])
        self.max_obj_ptrs = int(cfg["max_obj_ptrs"])
        self.use_high_res = bool(cfg["use_high_res_features"])
        self.add_tpos = bool(cfg["add_tpos_enc_to_obj_ptrs"])
        self.fixed_no_obj_ptr = bool(cfg["fixed_no_obj_ptr"])
        self.mem_scale = float(cfg["sigmoid_scale_for_mem_enc"])
        self.mem_bias = float(cfg["sigmoid_bias_for_mem_enc"])
        self.dynamic_multimask = bool(cfg["dynamic_multimask_via_stability"])
        self.multimask_pts = (int(cfg["multimask_min_pt_num"]), int(cfg["multimask_max_pt_num"]))
        grid = self.image_size // 16

        self.image_encoder = _build_image_encoder(arch)
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.memory_attention = build_memory_attention({**arch, "mem_dim": self.mem_dim})
        self.memory_encoder = MemoryEncoder(self.mem_dim, c)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(self.num_maskmem, 1, 1, self.mem_dim))
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, c))
        self.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, c))
        if cfg["no_obj_embed_spatial"]:
            self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, self.mem_dim))
        else:
            self.no_obj_embed_spatial = None
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, c))
        self.obj_ptr_proj = MLP(c, c, c, 3)
        if self.add_tpos:
            self.obj_ptr_tpos_proj = nn.Linear(c, self.mem_dim)
        self.sam_prompt_encoder = PromptEncoder(
            embed_dim=c, image_embedding_size=(grid, grid),
            input_image_size=(self.image_size, self.image_size), mask_in_chans=16, box_rule="sam2",
        )
        self.sam_mask_decoder = MaskDecoder(
            transformer_dim=c, mlp_naming="layers", pred_obj_scores=True, pred_obj_scores_mlp=True,
            use_high_res_features=self.use_high_res, iou_prediction_use_sigmoid=True,
        )
        ma = arch.get("memory_attention", {}) or {}
        if ma.get("variant") == "perceiver":
            from annotator.nn.perceiver import build_perceiver

            self.spatial_perceiver = build_perceiver(arch.get("perceiver", {}))
        else:
            self.spatial_perceiver = None
        self._mem_pos_cache: dict = {}

    # ------------------------------------------------------------------ image features
    def forward_image(self, img: torch.Tensor) -> dict:
        """img [B,3,S,S] normalised -> {"feat": [B,C,h,w] raw top level, "pos": [B,C,h,w],
        "high_res": [s0, s1] (already through conv_s0/conv_s1) or None}."""
        out = self.image_encoder(img)
        fpn = list(out["backbone_fpn"])
        high = None
        if self.use_high_res:
            high = [self.sam_mask_decoder.conv_s0(fpn[0]), self.sam_mask_decoder.conv_s1(fpn[1])]
        return {"feat": fpn[-1], "pos": out["vision_pos_enc"][-1], "high_res": high}

    # ------------------------------------------------------------------ SAM heads
    def use_multimask(self, is_init_cond_frame: bool, num_points: int) -> bool:
        # multimask_output_in_sam and multimask_output_for_tracking are on in every released config
        lo, hi = self.multimask_pts
        return lo <= num_points <= hi

    def sam_heads(self, feat, coords=None, labels=None, mask_inputs=None, high_res=None,
                  multimask: bool = False) -> dict:
        """The video path's `_forward_sam_heads`: low/high-res logits of the selected mask (gated
        by the object score), IoUs, object pointer, object score logits."""
        b = feat.shape[0]
        if coords is None:
            coords = feat.new_zeros(b, 1, 2)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=feat.device)
        prompt = None
        if mask_inputs is not None:
            prompt = mask_inputs
            if tuple(prompt.shape[-2:]) != tuple(self.sam_prompt_encoder.mask_input_size):
                prompt = F.interpolate(prompt.float(), size=self.sam_prompt_encoder.mask_input_size,
                                       mode="bilinear", align_corners=False, antialias=True)
        sparse, dense = self.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=prompt)
        out = self.sam_mask_decoder(feat, self.sam_prompt_encoder.get_dense_pe(), sparse, dense,
                                    high_res_features=high_res)
        masks, ious, tokens = select_sam2(out, multimask, self.dynamic_multimask)
        score = out.object_score_logits
        present = score > 0
        masks = torch.where(present[:, None, None], masks, torch.full_like(masks, NO_OBJ_SCORE)).float()
        high = F.interpolate(masks, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        token = tokens[:, 0]
        if multimask:
            best = ious.argmax(dim=-1)
            ar = torch.arange(b, device=feat.device)
            low_best, high_best = masks[ar, best].unsqueeze(1), high[ar, best].unsqueeze(1)
            if tokens.shape[1] > 1:
                token = tokens[ar, best]
        else:
            low_best, high_best = masks, high
        ptr = self.obj_ptr_proj(token)
        lam = present.float()
        if self.fixed_no_obj_ptr:
            ptr = lam * ptr
        ptr = ptr + (1 - lam) * self.no_obj_ptr
        return {"low_res_multi": masks, "ious": ious, "low_res": low_best, "high_res": high_best,
                "obj_ptr": ptr, "object_score_logits": score}

    def mask_as_output(self, feat, high_res, mask: torch.Tensor) -> dict:
        """A mask prompt is taken as the output (logits ±10); its pointer comes from the SAM heads
        fed with the learned 4x downsample of the mask."""
        m = mask.float()
        high = m * 20.0 - 10.0
        low = F.interpolate(high, size=(high.shape[-2] // 4, high.shape[-1] // 4), mode="bilinear",
                            align_corners=False, antialias=True)
        ptr = self.sam_heads(feat, mask_inputs=self.mask_downsample(m), high_res=high_res)["obj_ptr"]
        present = torch.any(m.flatten(1) > 0.0, dim=1)[..., None]
        lam = present.float()
        score = 20.0 * lam - 10.0
        if self.fixed_no_obj_ptr:
            ptr = lam * ptr
        ptr = ptr + (1 - lam) * self.no_obj_ptr
        return {"low_res_multi": low, "ious": m.new_ones(m.shape[0], 1), "low_res": low, "high_res": high,
                "obj_ptr": ptr, "object_score_logits": score}

    # ------------------------------------------------------------------ memory
    def condition_on_memory(self, feat: torch.Tensor, pos: torch.Tensor, memories: list, pointers: list,
                            ptr_tpos_max: int) -> torch.Tensor:
        """feat/pos [B,C,h,w] of the current frame.
        memories: [(t_pos, feats [B,N,mem_dim], pos [1 or B,N,mem_dim])], t_pos 0 for conditioning
        frames, k for the frame k steps back.
        pointers: [(signed temporal distance, obj_ptr [B,C])].
        Returns the memory-conditioned feature [B,C,h,w]."""
        b, c, h, w = feat.shape
        mem, mem_pos = [], []
        for t_pos, f, p in memories:
            mem.append(f.float())
            tpos = self.maskmem_tpos_enc[self.num_maskmem - t_pos - 1].view(1, 1, -1)
            mem_pos.append(p.expand(b, -1, -1) + tpos)
        n_ptr_tokens = 0
        if pointers:
            dists, ptrs = zip(*pointers)
            ptr = torch.stack(ptrs, dim=1)  # [B, P, C]
            n = len(ptrs)
            if self.add_tpos:
                t = torch.tensor(dists, device=feat.device)
                ppos = self.obj_ptr_tpos_proj(sine_pe_1d(t / max(ptr_tpos_max, 1), dim=c))  # [P, mem_dim]
                ppos = ppos.unsqueeze(0).expand(b, -1, -1)
            else:
                ppos = ptr.new_zeros(b, n, self.mem_dim)
            if self.mem_dim < c:
                split = c // self.mem_dim  # one pointer -> `split` tokens, pointer-major
                ptr = ptr.reshape(b, n * split, self.mem_dim)
                ppos = ppos.repeat_interleave(split, dim=1)
            mem.append(ptr)
            mem_pos.append(ppos)
            n_ptr_tokens = ptr.shape[1]
        memory = torch.cat(mem, dim=1)
        memory_pos = torch.cat(mem_pos, dim=1)
        curr = feat.flatten(2).transpose(1, 2)
        curr_pos = pos.flatten(2).transpose(1, 2)
        out = self.memory_attention(curr, curr_pos, memory, memory_pos, num_obj_ptr_tokens=n_ptr_tokens,
                                    num_spatial_mem=len(memories))
        return out.transpose(1, 2).reshape(b, c, h, w)

    def encode_memory(self, feat: torch.Tensor, high_res_mask: torch.Tensor, object_score_logits: torch.Tensor,
                      binarize: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory of one frame: (features bf16 [B,N,mem_dim], pos [1,N,mem_dim])."""
        m = (high_res_mask > 0).float() if binarize else torch.sigmoid(high_res_mask)
        if self.mem_scale != 1.0:
            m = m * self.mem_scale
        if self.mem_bias != 0.0:
            m = m + self.mem_bias
        x, pos = self.memory_encoder(feat, m)
        if self.no_obj_embed_spatial is not None:
            absent = 1 - (object_score_logits > 0).float()
            x = x + absent[..., None, None] * self.no_obj_embed_spatial[..., None, None].expand(*x.shape)
        if self.spatial_perceiver is not None:
            x, pos = self.spatial_perceiver(x, pos)
        else:
            x = x.flatten(2).transpose(1, 2)
            pos = pos.flatten(2).transpose(1, 2)
        return x.to(torch.bfloat16), pos[:1]


def build(arch: dict) -> Sam2Model:
    return Sam2Model(arch)
