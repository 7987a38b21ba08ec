"""A tiny DensePose ControlNet in the official release layout, generated (seeded) for tests.

``densepose_controlnet/diffusion_pytorch_model.safetensors`` (diffusers ``ControlNetModel`` keys) and its
``config.json``, with the tiny SD1.5 widths (32/32/64/64, context 32, 4 heads).  Used where the files written
by the original project (``../shared/data/official_format_tiny``) are absent.
"""
from __future__ import annotations

import json
from pathlib import Path

import comfy.cldm.cldm
import comfy.ops
import comfy.utils
import torch

from magic_core.densepose.loader import controlnet_key_map
from magic_core.diffusers_config import controlnet_unet_config

from .tiny_models import seeded_init_

TINY_CONTROLNET_CONFIG: dict = {
    "_class_name": "ControlNetModel", "act_fn": "silu", "attention_head_dim": 4,
    "block_out_channels": [32, 32, 64, 64], "class_embed_type": None,
    "conditioning_embedding_out_channels": [16, 32, 96, 256], "controlnet_conditioning_channel_order": "rgb",
    "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32, "only_cross_attention": False,
    "upcast_attention": False, "use_linear_projection": False,
}


def write_tiny_densepose_controlnet(folder: Path, seed: int = 5) -> Path:
    """Write ``folder/diffusion_pytorch_model.safetensors`` + ``config.json``; returns the weights path."""
    unet_config = controlnet_unet_config(TINY_CONTROLNET_CONFIG)
    model = seeded_init_(comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=torch.float32, device="cpu",
                                                    operations=comfy.ops.disable_weight_init, **unet_config), seed)
    ours = model.state_dict()
    # Invert the loader's key map on names of the diffusers layout (the map needs the block counts it finds).
    probe = {f"controlnet_down_blocks.{i}{s}": None for i in range(12) for s in (".weight", ".bias")}
    probe.update({f"controlnet_cond_embedding.blocks.{i}{s}": None for i in range(6) for s in (".weight", ".bias")})
    inverse = {v: k for k, v in controlnet_key_map(unet_config, probe).items()}
    missing = [k for k in ours if k not in inverse]
    if missing:
        raise RuntimeError(f"no diffusers name for {missing[:5]}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "diffusion_pytorch_model.safetensors"
    comfy.utils.save_torch_file({inverse[k]: v.contiguous() for k, v in ours.items()}, str(path))
    (folder / "config.json").write_text(json.dumps(TINY_CONTROLNET_CONFIG, indent=2))
    return path
