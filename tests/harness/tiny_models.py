"""Tiny model files in the real on-disk formats, generated (seeded) by the tests.

One place for every factory: each writes a file exactly as the real release or ComfyUI lays it out, only
smaller.  Add a factory here (seeded, returning the written path) and expose it as a session fixture in
``tests/conftest.py`` or a ``tests/harness/fixtures_*.py`` plugin.
"""
from __future__ import annotations

import math
from pathlib import Path

import comfy.clip_model
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import comfy.sd
import comfy.taesd.taesd
import torch

from .tiny_sd15 import TINY_CLIP_CONFIG, TINY_UNET_CONFIG, TinySD15, register_tiny_sd15


def seeded_init_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Initialise every parameter deterministically (ComfyUI's layers start uninitialised).

    Norm scales near 1, biases small, matrices ~ N(0, 1/fan_in): outputs stay in a sane range through
    deep stacks, and every weight is non-zero so nothing is trivially skipped.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1 and ("norm" in name or name.endswith("ln.weight")) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif p.ndim <= 1:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
    return module


def tiny_sd15_patcher(seed: int = 0, dtype: torch.dtype | None = None) -> comfy.model_patcher.ModelPatcher:
    """A tiny SD1.5 diffusion model (ComfyUI BaseModel in a ModelPatcher) with seeded weights.

    ``dtype``: the UNet's weight and inference dtype, as the checkpoint loader sets it (e.g. ``--fp64-unet``)."""
    register_tiny_sd15()
    config = TinySD15(dict(TINY_UNET_CONFIG))
    if dtype is not None:
        config.set_inference_dtype(dtype, None)
    model = config.get_model({}, device=torch.device("cpu"))
    seeded_init_(model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=torch.device("cpu"))


def tiny_clip(seed: int = 1) -> comfy.sd.CLIP:
    """The tiny CLIP text encoder (real SD1 tokenizer) as a ComfyUI CLIP object."""
    target = TinySD15(dict(TINY_UNET_CONFIG)).clip_target()
    clip = comfy.sd.CLIP(target=target, embedding_directory=None)
    text_model = clip.cond_stage_model.clip_l.transformer
    seeded_init_(text_model, seed)
    return clip


def tiny_taesd_vae(seed: int = 2) -> comfy.sd.VAE:
    """ComfyUI's TAESD architecture (4 latent channels, 8x) with seeded weights, as a ComfyUI VAE."""
    taesd = seeded_init_(comfy.taesd.taesd.TAESD(latent_channels=4), seed)
    return comfy.sd.VAE(sd=taesd.state_dict())


def write_tiny_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """A full SD1.5-architecture checkpoint (UNet + CLIP + VAE) written by ComfyUI's own save path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    comfy.sd.save_checkpoint(str(path), tiny_sd15_patcher(seed), clip=tiny_clip(seed + 1),
                             vae=tiny_taesd_vae(seed + 2), metadata={"magicanimate_test": "tiny_sd15"})
    return path


def write_tiny_vae(path: Path, seed: int = 2) -> Path:
    """The tiny TAESD VAE as a standalone VAE file (what ``VAELoader`` reads from ``models/vae/``)."""
    import comfy.utils

    path.parent.mkdir(parents=True, exist_ok=True)
    comfy.utils.save_torch_file(tiny_taesd_vae(seed).get_sd(), str(path))
    return path


def write_tiny_upscaler(path: Path, scale: int = 2, seed: int = 3) -> Path:
    """A tiny Real-ESRGAN "Compact" (SRVGGNet) upscaler that spandrel detects from its keys.

    Saved as a plain state dict (``.pth`` via ``torch.save`` of tensors only, or ``.safetensors``), the way
    ComfyUI's ``UpscaleModelLoader`` reads files in ``models/upscale_models/``.
    """
    from spandrel.architectures.Compact import Compact

    model = seeded_init_(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale), seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        import comfy.utils
        comfy.utils.save_torch_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def load_tiny_checkpoint(path: Path):
    """(model, clip, vae) through ComfyUI's checkpoint loader, as CheckpointLoaderSimple does."""
    register_tiny_sd15()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)
    return model, clip, vae


__all__ = ["TINY_CLIP_CONFIG", "TINY_UNET_CONFIG", "load_tiny_checkpoint", "seeded_init_", "tiny_clip",
           "tiny_sd15_patcher", "tiny_taesd_vae", "write_tiny_sd15_checkpoint", "write_tiny_upscaler",
           "write_tiny_vae"]
