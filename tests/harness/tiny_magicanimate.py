"""A whole tiny ``MagicAnimate/`` release folder in the official layout, and a synthetic reference photo.

Used by the workflow tests and the demo on a fresh clone, where ``../shared`` (with the files written by the
original project) may be absent.  Architecture: the tiny SD1.5 widths (32/32/64/64, context 32, 4 heads).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .tiny_densepose import write_tiny_densepose_controlnet
from .tiny_models import seeded_init_
from .tiny_temporal import temporal_state_dict, write_temporal_file

TINY_APPEARANCE_CONFIG: dict = {
    "_class_name": "AppearanceEncoderModel", "_diffusers_version": "0.21.4", "act_fn": "silu",
    "attention_head_dim": 4, "block_out_channels": [32, 32, 64, 64], "center_input_sample": False,
    "cross_attention_dim": 32,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4, "layers_per_block": 2,
    "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05,
    "norm_num_groups": 32, "only_cross_attention": False, "out_channels": 4, "sample_size": 16,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": False, "use_linear_projection": False,
}
# The original appearance encoder cuts this block down to what its norm1 recording needs.
CUT_BLOCK = "up_blocks.3.attentions.2."
CUT_BLOCK_KEPT = ("norm.", "proj_in.", "transformer_blocks.0.norm1.")


def write_tiny_appearance_encoder(folder: Path, seed: int = 7) -> Path:
    """``diffusion_pytorch_model.safetensors`` + ``config.json`` as the original class saves them."""
    import safetensors.torch
    from diffusers import UNet2DConditionModel

    config = {k: v for k, v in TINY_APPEARANCE_CONFIG.items() if not k.startswith("_") and k != "mid_block_type"}
    unet = seeded_init_(UNet2DConditionModel(**config), seed)
    state = {k: v.contiguous() for k, v in unet.state_dict().items()
             if not k.startswith(CUT_BLOCK) or k[len(CUT_BLOCK):].startswith(CUT_BLOCK_KEPT)}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "diffusion_pytorch_model.safetensors"
    safetensors.torch.save_file(state, str(path))
    (folder / "config.json").write_text(json.dumps(TINY_APPEARANCE_CONFIG, indent=2))
    return path


def write_tiny_magicanimate_folder(folder: Path) -> Path:
    """``folder/{appearance_encoder,densepose_controlnet,temporal_attention}`` like the real download."""
    write_tiny_appearance_encoder(folder / "appearance_encoder")
    write_tiny_densepose_controlnet(folder / "densepose_controlnet")
    write_temporal_file(folder / "temporal_attention" / "temporal_attention.ckpt", temporal_state_dict(seed=11))
    return folder


def synthetic_reference_image(width: int, height: int, seed: int = 0) -> torch.Tensor:
    """A "person" photo stand-in ``[H, W, 3]``: the synthetic figure in clothing colours on a plain wall."""
    from magic_core.motion import render_part_indices

    gen = torch.Generator().manual_seed(seed)
    parts = render_part_indices(width, height, 1, "walk", seed)[0]
    palette = torch.rand(25, 3, generator=gen) * 0.8 + 0.1
    palette[0] = torch.tensor([0.85, 0.82, 0.75])          # wall
    palette[[23, 24, 3, 4]] = torch.tensor([0.87, 0.7, 0.58])  # skin: head and hands
    image = palette[parts]
    shade = torch.linspace(1.0, 0.8, height).view(height, 1, 1)
    return (image * shade).clamp(0, 1)
