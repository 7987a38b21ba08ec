"""The synthetic base as a checkpoint ComfyUI detects as SD1.5: a small base pretrained at width 32 (stage 0,
cheap), widened by :mod:`.widen` to SD1.5's detected widths (UNet 320 everywhere, cross-attention 768, CLIP-L)
without changing what it computes, with the cell VAE (TAESD weights), saved as one ``.safetensors`` in SD1.5's
layout (``model.diffusion_model.*``, ``cond_stage_model.*``, ``first_stage_model.*``).

``CheckpointLoaderSimple`` loads it with every weight present, and the training CLI reads it as
``base_checkpoint`` like any SD1.5 file.
"""
from __future__ import annotations

from pathlib import Path

import comfy.model_patcher
import comfy.sd
import comfy.supported_models
import torch

from .tiny_base import TINY_UNET
from .widen import widen_clip, widen_unet

# the tiny UNet's block structure at one width (32) everywhere, so that one repeat factor (10) widens every layer
SMALL_UNET = dict(TINY_UNET, channel_mult=[1, 1, 1, 1])
SD15_WIDTH, SD15_CONTEXT = 320, 768


def wide_unet_config(small: dict) -> dict:
    """The detected SD1.5 config of the widened ``small`` UNet (ComfyUI's SD15 sets 8 heads)."""
    return dict(small, model_channels=SD15_WIDTH, context_dim=SD15_CONTEXT, num_heads=8)


def widen_base(patcher: comfy.model_patcher.ModelPatcher, clip: comfy.sd.CLIP, small_unet: dict):
    """(model patcher, CLIP) of ComfyUI's own SD1.5 classes computing what the small ``patcher``/``clip`` do."""
    config = comfy.supported_models.SD15(wide_unet_config(small_unet))
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=torch.device("cpu"))
    wide_unet = model.diffusion_model
    small = patcher.model.diffusion_model
    heads = next(m.heads for m in small.modules() if type(m).__name__ == "CrossAttention")
    wide_unet.load_state_dict(widen_unet(small.state_dict(), wide_unet.state_dict(), heads), strict=True)
    wide_patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                                    offload_device=torch.device("cpu"))
    text = comfy.sd.CLIP(config.clip_target(), embedding_directory=None)
    small_heads = clip.cond_stage_model.clip_l.transformer.text_model.encoder.layers[0].self_attn.heads
    small_sd = clip.cond_stage_model.state_dict()
    wide_sd = text.cond_stage_model.state_dict()
    missing, unexpected = text.cond_stage_model.load_state_dict(widen_clip(small_sd, wide_sd, small_heads),
                                                                strict=False)
    if missing or unexpected:
        raise RuntimeError(f"widened CLIP does not match CLIP-L: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return wide_patcher, text


def save_sd15_checkpoint(path: str | Path, patcher, clip, vae) -> Path:
    """One SD1.5-layout ``.safetensors`` (written beside, then moved into place: nothing half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    comfy.sd.save_checkpoint(str(tmp), patcher, clip=clip, vae=vae, metadata={"magicanimate_base": "synthetic"})
    tmp.replace(path)
    return path
