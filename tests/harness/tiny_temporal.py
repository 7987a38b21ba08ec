"""Tiny temporal attention files in the real on-disk layouts, made with diffusers' own ``MotionAdapter``.

The weights come from diffusers' AnimateDiff classes (seeded) and are renamed to the original
MagicAnimate/AnimateDiff key layout, so the pack's loader is checked against files it did not write.
Also: the original→diffusers key mapping (for parity references) and a UNet forward that sets up
``transformer_options`` the way ComfyUI's sampler does.
"""
from __future__ import annotations

import re
from pathlib import Path

import comfy.model_management
import comfy.patcher_extension
import safetensors.torch
import torch

from .tiny_models import seeded_init_

TINY_WIDTHS = (32, 32, 64, 64)

_TO_ORIGINAL = [  # diffusers → original, applied below a motion module prefix
    ("transformer_blocks.0.attn1.", "transformer_blocks.0.attention_blocks.0."),
    ("transformer_blocks.0.attn2.", "transformer_blocks.0.attention_blocks.1."),
    ("transformer_blocks.0.norm1.", "transformer_blocks.0.norms.0."),
    ("transformer_blocks.0.norm2.", "transformer_blocks.0.norms.1."),
    ("transformer_blocks.0.norm3.", "transformer_blocks.0.ff_norm."),
]
_MM = re.compile(r"^(.*?motion_modules\.\d+)\.(.*)$")


def motion_adapter(seed: int, widths: tuple[int, ...] = TINY_WIDTHS, max_frames: int = 24,
                   mid_block: bool = False):
    """A seeded diffusers ``MotionAdapter`` with the tiny SD1.5 widths (8 heads, GroupNorm 32)."""
    from diffusers import MotionAdapter

    adapter = MotionAdapter(block_out_channels=widths, motion_layers_per_block=2,
                            motion_mid_block_layers_per_block=1, motion_num_attention_heads=8,
                            motion_norm_num_groups=32, motion_max_seq_length=max_frames,
                            use_motion_mid_block=mid_block)
    seeded_init_(adapter, seed)
    return adapter


def diffusers_to_original(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MotionAdapter keys → MagicAnimate/AnimateDiff file keys (``temporal_transformer.`` level, one pe per
    attention block)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        prefix, rest = _MM.match(key).groups()
        if rest == "transformer_blocks.0.pos_embed.pe":
            for a in (0, 1):
                out[f"{prefix}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.pos_encoder.pe"] = \
                    value.clone()
            continue
        for old, new in _TO_ORIGINAL:
            if rest.startswith(old):
                rest = new + rest[len(old):]
        out[f"{prefix}.temporal_transformer.{rest}"] = value.clone()
    return out


def original_to_diffusers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """File keys → MotionAdapter keys (the first attention block's pe becomes the block's ``pos_embed``)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        prefix, rest = _MM.match(key).groups()
        rest = rest.removeprefix("temporal_transformer.")
        if rest.endswith("attention_blocks.1.pos_encoder.pe"):
            continue
        if rest.endswith("attention_blocks.0.pos_encoder.pe"):
            rest = "transformer_blocks.0.pos_embed.pe"
        for new, old in _TO_ORIGINAL:
            if rest.startswith(old):
                rest = new + rest[len(old):]
        out[f"{prefix}.{rest}"] = value
    return out


def temporal_state_dict(seed: int, widths: tuple[int, ...] = TINY_WIDTHS, max_frames: int = 24,
                        mid_block: bool = False) -> dict[str, torch.Tensor]:
    """Original-layout motion-module tensors with seeded weights."""
    return diffusers_to_original(motion_adapter(seed, widths, max_frames, mid_block).state_dict())


def write_temporal_file(path: Path, sd: dict[str, torch.Tensor], wrapped: bool = False) -> Path:
    """Write ``sd`` as ``.safetensors`` or as a torch pickle (optionally ``{"state_dict": {"module." + k}}``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    elif wrapped:
        torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "global_step": 1}, path)
    else:
        torch.save(sd, path)
    return path


def unet_forward(patcher, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor,
                 cond_or_uncond: list[int], extra: dict | None = None) -> torch.Tensor:
    """The patcher's diffusion model on one batch, loaded and with ``transformer_options`` as the sampler sets
    them (patches, wrappers, ``cond_or_uncond``)."""
    comfy.model_management.load_models_gpu([patcher])
    device = patcher.load_device
    options = comfy.patcher_extension.copy_nested_dicts(patcher.model_options["transformer_options"])
    options["wrappers"] = comfy.patcher_extension.copy_nested_dicts(patcher.wrappers)
    options["cond_or_uncond"] = list(cond_or_uncond)
    options.update(extra or {})
    dtype = patcher.model.get_dtype()
    with torch.no_grad():
        out = patcher.model.diffusion_model(x.to(device, dtype), timesteps=timesteps.to(device),
                                            context=context.to(device, dtype), transformer_options=options)
    return out.float().cpu()
