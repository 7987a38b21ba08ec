"""A tiny SD1.5-architecture model config for ComfyUI, so tiny checkpoints load like real ones.

ComfyUI's model detection only knows full-size configs; :func:`register_tiny_sd15` puts :class:`TinySD15`
first in ``comfy.supported_models.models`` so ``load_checkpoint_guess_config`` / ``load_diffusion_model``
accept files of this shape.  The widths match ``../shared/data/official_format_tiny`` (32/32/64/64, two
layers per block, cross-attention 32, 4 heads), so the tiny MagicAnimate parts fit this UNet.
Imported both by the pytest harness and, inside the test server, by the ``tiny_host_plugin`` custom node.
"""
from __future__ import annotations

import comfy.supported_models
import torch
from comfy import sd1_clip, supported_models_base

TINY_CONTEXT_DIM = 32
TINY_HEADS = 4

# ComfyUI UNetModel arguments of the tiny SD1.5 layout (SD1.5's own with smaller widths).
TINY_UNET_CONFIG: dict = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 32,
    "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 1, 2, 2],
    "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": TINY_CONTEXT_DIM,
    "num_heads": TINY_HEADS, "num_head_channels": -1,
    "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}

# A small CLIP text model: the real SD1 tokenizer and vocabulary, narrow and shallow.
TINY_CLIP_CONFIG: dict = {
    "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
    "eos_token_id": 49407, "hidden_act": "quick_gelu", "hidden_size": TINY_CONTEXT_DIM, "initializer_factor": 1.0,
    "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
    "model_type": "clip_text_model", "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 1,
    "projection_dim": TINY_CONTEXT_DIM, "torch_dtype": "float32", "vocab_size": 49408,
}


class TinyCheckpointClip(sd1_clip.SDClipModel):
    def __init__(self, device="cpu", dtype=None, model_options={}):
        super().__init__(device=device, dtype=dtype, model_options=model_options,
                         textmodel_json_config=TINY_CLIP_CONFIG, return_projected_pooled=False)


class TinyClipModel(sd1_clip.SD1ClipModel):
    def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):
        super().__init__(device=device, dtype=dtype, model_options=model_options, clip_model=TinyCheckpointClip,
                         **kwargs)


class TinySD15(comfy.supported_models.SD15):
    """SD1.5 with the tiny widths; detection matches it only for tiny files (model_channels 32)."""

    unet_config = {"context_dim": TINY_CONTEXT_DIM, "model_channels": 32, "use_linear_in_transformer": False,
                   "adm_in_channels": None, "use_temporal_attention": False}
    unet_extra_config = {"num_heads": TINY_HEADS, "num_head_channels": -1}
    supported_inference_dtypes = [torch.float32]

    def clip_target(self, state_dict={}):
        return supported_models_base.ClipTarget(sd1_clip.SD1Tokenizer, TinyClipModel)


def register_tiny_sd15() -> None:
    """Make ComfyUI's loaders detect tiny SD1.5 files (idempotent)."""
    models = comfy.supported_models.models
    if not any(getattr(m, "__name__", "") == "TinySD15" for m in models):
        models.insert(0, TinySD15)
