"""SAM-style heads shared by every family: prompt encoder (prompt_encoder.py), two-way
transformer (two_way_transformer.py), mask decoder and output rules (mask_decoder.py), built
from sam_blocks.py. This module keeps their common import path.

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

from annotator.nn.mask_decoder import (  # noqa: F401
    DecoderOutput,
    MaskDecoder,
    _unshuffle,
    select_sam1,
    select_sam2,
    stability_score,
)
from annotator.nn.prompt_encoder import DenseLowRank, PositionEmbeddingRandom, PromptEncoder, dense_lowrank  # noqa: F401
from annotator.nn.sam_blocks import MLP, LayerNorm2d  # noqa: F401
from annotator.nn.two_way_transformer import Attention, TwoWayAttentionBlock, TwoWayTransformer  # noqa: F401
