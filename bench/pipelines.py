"""The benchmarked configurations, each a function that builds its models, patches them and samples once.

All configurations share frames, steps, CFG, sampler, scheduler, beta schedule, seed and windows.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import comfy.sample
import torch

from magic_core.appearance import apply_appearance_encoder
from magic_core.densepose import apply_densepose
from magic_core.fusion import MAGICANIMATE_BETA, FusionSettings, apply_beta_schedule, fusion_sample
from magic_core.temporal import apply_temporal_attention

from . import models
from .naive import apply_core_controlnet, apply_naive_appearance
from .sizes import BenchSize

CFG = 7.5
SAMPLER, SCHEDULER = "ddim", "ddim_uniform"
SETTINGS = FusionSettings(context_frames=16, context_overlap=4, context_stride=1, closed_loop=True)
SEED = 1


@dataclass
class Prepared:
    """A configuration ready to sample: ``run(latent, steps) -> samples``."""

    run: Callable[[dict, int], torch.Tensor]


def _fusion(model, positive, negative, settings: FusionSettings = SETTINGS) -> Callable[[dict, int], torch.Tensor]:
    def run(latent: dict, steps: int) -> torch.Tensor:
        return fusion_sample(model, positive, negative, latent, seed=SEED, steps=steps, cfg=CFG, sampler_name=SAMPLER,
                             scheduler=SCHEDULER, settings=settings, beta_schedule=MAGICANIMATE_BETA,
                             progress=False)["samples"]
    return run


def floor(size: BenchSize, frames: int) -> Prepared:
    """The fusion sampler on the plain UNet: no MagicAnimate parts."""
    data = models.inputs(size, frames)
    return Prepared(_fusion(models.base_model(size), data.positive, data.negative))


def ksampler(size: BenchSize, frames: int) -> Prepared:
    """ComfyUI's KSampler on the plain UNet, all frames in one batch (no windows), same schedule."""
    data = models.inputs(size, frames)
    model = apply_beta_schedule(models.base_model(size), MAGICANIMATE_BETA)

    def run(latent: dict, steps: int) -> torch.Tensor:
        noise = comfy.sample.prepare_noise(latent["samples"], SEED)
        return comfy.sample.sample(model, noise, steps, CFG, SAMPLER, SCHEDULER, data.positive, data.negative,
                                   latent["samples"], disable_pbar=True, seed=SEED)
    return Prepared(run)


def full(size: BenchSize, frames: int, window_batch: int = 1) -> Prepared:
    """The pack's MagicAnimate pipeline: temporal attention, appearance encoder, DensePose ControlNet, fusion
    (``window_batch`` windows per model call)."""
    data = models.inputs(size, frames)
    base = models.base_model(size)
    model = apply_temporal_attention(base, models.temporal_weights(base))
    model = apply_appearance_encoder(model, models.appearance_encoder(size), models.vae(), data.reference)
    control = models.frame_controlnet(models.controlnet_model(size))
    positive, negative = apply_densepose(data.positive, data.negative, control, data.densepose)
    settings = dataclasses.replace(SETTINGS, window_batch=window_batch)
    return Prepared(_fusion(model, positive, negative, settings))


def full_wb2(size: BenchSize, frames: int) -> Prepared:
    """The full pipeline with two windows per model call (``window_batch`` 2)."""
    return full(size, frames, window_batch=2)


def full_wb4(size: BenchSize, frames: int) -> Prepared:
    """The full pipeline with four windows per model call (``window_batch`` 4)."""
    return full(size, frames, window_batch=4)


def naive(size: BenchSize, frames: int) -> Prepared:
    """The same parts composed without sharing: core ControlNet per CFG half, encoder per call and half."""
    data = models.inputs(size, frames)
    base = models.base_model(size)
    model = apply_temporal_attention(base, models.temporal_weights(base))
    model = apply_naive_appearance(model, models.appearance_encoder(size), models.vae(), data.reference,
                                   (size.latent, size.latent))
    control = models.core_controlnet(models.controlnet_model(size))
    positive, negative = apply_core_controlnet(data.positive, data.negative, control, data.densepose)
    return Prepared(_fusion(model, positive, negative))


def temporal_only(size: BenchSize, frames: int) -> Prepared:
    """Ablation: floor + the pack's temporal attention (with cross-frame GroupNorm)."""
    data = models.inputs(size, frames)
    base = models.base_model(size)
    return Prepared(_fusion(apply_temporal_attention(base, models.temporal_weights(base)), data.positive,
                            data.negative))


def control_only(size: BenchSize, frames: int) -> Prepared:
    """Ablation: floor + the pack's DensePose ControlNet (cond residuals reused for uncond)."""
    data = models.inputs(size, frames)
    control = models.frame_controlnet(models.controlnet_model(size))
    positive, negative = apply_densepose(data.positive, data.negative, control, data.densepose)
    return Prepared(_fusion(models.base_model(size), positive, negative))


def appearance_only(size: BenchSize, frames: int) -> Prepared:
    """Ablation: floor + the pack's appearance encoder (once per step) and reference attention."""
    data = models.inputs(size, frames)
    model = apply_appearance_encoder(models.base_model(size), models.appearance_encoder(size), models.vae(),
                                     data.reference)
    return Prepared(_fusion(model, data.positive, data.negative))


CONFIGS: dict[str, Callable[[BenchSize, int], Prepared]] = {
    "floor": floor, "ksampler": ksampler, "full": full, "naive": naive,
    "temporal_only": temporal_only, "control_only": control_only, "appearance_only": appearance_only,
    "full_wb2": full_wb2, "full_wb4": full_wb4,
}
