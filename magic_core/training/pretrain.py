"""Stage 0: a small SD1.5-shaped base pretrained as a plain denoiser (noise-prediction MSE, no reference, no
ControlNet), so that stage 1 starts, as with SD1.5, from a UNet that already denoises the kind of images it sees.
"""
from __future__ import annotations

import logging

import comfy.model_patcher
import comfy.sd
import torch
import torch.nn.functional as F
from torch import nn

from .models import BaseModels, text_embedding
from .tiny_base import TINY_CLIP, TINY_UNET, model_config

log = logging.getLogger(__name__)


def default_init_(module: nn.Module, seed: int) -> nn.Module:
    """PyTorch's default initialisation of every layer (ComfyUI's layers skip it), seeded; embeddings N(0, 0.02)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in module.modules():
            for base in (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.GroupNorm, nn.LayerNorm):
                if isinstance(layer, base):
                    base.reset_parameters(layer)
                    break
            if isinstance(layer, nn.Embedding):
                nn.init.normal_(layer.weight, std=0.02)
    return module


def new_small_base(vae: comfy.sd.VAE, seed: int = 0, unet: dict | None = None, clip: dict | None = None):
    """(model patcher, CLIP) of a freshly initialised small SD1.5-shaped base (default: the tests' tiny one)."""
    config = model_config(unet or TINY_UNET, clip or TINY_CLIP)
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=torch.device("cpu"))
    default_init_(model.diffusion_model, seed)
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=torch.device("cpu"),
                                               offload_device=torch.device("cpu"))
    text = comfy.sd.CLIP(config.clip_target(), embedding_directory=None)
    default_init_(text.cond_stage_model, seed + 1)
    return patcher, text


def pretrain_denoiser(base: BaseModels, images: torch.Tensor, steps: int, learning_rate: float = 1e-3,
                      batch_size: int = 16, seed: int = 0) -> list[float]:
    """Train ``base.model``'s UNet in place as a plain denoiser on ``images`` ``[N, H, W, 3]`` (uniform
    timesteps, the base's prompt embedding); returns the loss of every step."""
    model = base.model.model
    sampling = model.model_sampling
    with torch.no_grad():
        latents = model.process_latent_in(base.vae.encode(images).float())
    unet = model.diffusion_model
    unet.requires_grad_(True).train()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        rows = torch.randint(0, latents.shape[0], (batch_size,), generator=generator)
        x0 = latents[rows]
        index = torch.randint(0, sampling.sigmas.shape[0], (batch_size,), generator=generator)
        sigma = sampling.sigmas[index].float()
        noise = torch.randn(x0.shape, generator=generator)
        x = sampling.noise_scaling(sigma, noise, x0)
        context = base.context.expand(batch_size, -1, -1)
        denoised = model.apply_model(x, sigma, c_crossattn=context)
        loss = F.mse_loss((x - denoised) / sigma.view(-1, 1, 1, 1), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            log.info("MagicAnimate stage 0: step %d/%d, loss %.4f", step + 1, steps, sum(losses[-100:]) / 100)
    unet.requires_grad_(False).eval()
    return losses


def small_base(vae: comfy.sd.VAE, seed: int = 0, prompt: str = "") -> BaseModels:
    """A fresh (untrained) small base as :class:`BaseModels`."""
    patcher, clip = new_small_base(vae, seed)
    return BaseModels(patcher, vae, text_embedding(clip, prompt))
