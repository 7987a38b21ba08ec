"""Run the fusion sampler from plain Python (the node, benchmarks and training evaluation all call this).

Same steps as ComfyUI's ``common_ksampler`` (noise from the seed, noise mask, previews, progress bar), on a
clone of the model with the chosen beta schedule and the fusion context handler.  The model given is never
changed.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import comfy.model_patcher
import comfy.sample
import comfy.samplers
import comfy.utils
import torch

from ..call_options import temporal_encoding, with_sampling_notices
from ..comfy_compat import LATENT_RATIO_KEYS, fix_empty_latent_channels
from ..errors import MagicAnimateError
from ..notices import NoticeBoard
from .beta_schedule import MAGICANIMATE_BETA, set_beta_schedule
from .context import set_fusion
from .noise import NOISE_SHARED, fusion_noise
from .windows import FusionSettings


def fusion_model(model: comfy.model_patcher.ModelPatcher, settings: FusionSettings,
                 beta_schedule: str = MAGICANIMATE_BETA,
                 notices: NoticeBoard | None = None) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` ready for windowed sampling: beta schedule + fusion context handler (one clone)."""
    patched = model.clone()
    set_beta_schedule(patched, beta_schedule)
    set_fusion(patched, settings, notices)
    return patched


def _check_inputs(latent: dict[str, Any], steps: int, sampler_name: str, scheduler: str, denoise: float) -> None:
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor):
        raise MagicAnimateError("MagicAnimate fusion: latent_image holds no 'samples' tensor; connect a LATENT "
                                "(e.g. EmptyLatentImage with batch_size = number of frames, or VAEEncode of the "
                                "frames).")
    if samples.ndim != 4:
        raise MagicAnimateError(f"MagicAnimate fusion: latent_image has shape {tuple(samples.shape)}; it must be "
                                f"[frames, channels, height, width] (an SD1.5 latent batch whose batch is the frames).")
    if samples.shape[0] < 1:
        raise MagicAnimateError("MagicAnimate fusion: latent_image has 0 frames; set the latent's batch_size to the "
                                "number of frames (at least 1).")
    if steps < 1:
        raise MagicAnimateError(f"MagicAnimate fusion: steps is {steps}; it must be at least 1 (25 is the original).")
    if not 0.0 <= denoise <= 1.0:
        raise MagicAnimateError(f"MagicAnimate fusion: denoise is {denoise}; it must be between 0 and 1 "
                                f"(1.0 = from pure noise, lower keeps more of latent_image).")
    if sampler_name not in comfy.samplers.KSampler.SAMPLERS:
        raise MagicAnimateError(f"MagicAnimate fusion: sampler_name '{sampler_name}' is not a ComfyUI sampler; "
                                f"use e.g. 'ddim' (the original).")
    if scheduler not in comfy.samplers.KSampler.SCHEDULERS:
        raise MagicAnimateError(f"MagicAnimate fusion: scheduler '{scheduler}' is not a ComfyUI scheduler; "
                                f"use e.g. 'ddim_uniform' (the original).")


def default_callback(model: comfy.model_patcher.ModelPatcher, steps: int) -> Callable:
    """ComfyUI's progress bar with latent previews (where the previewer is enabled), one tick per step."""
    import latent_preview  # ComfyUI's module: imported late, it reads the server's preview settings

    return latent_preview.prepare_callback(model, steps)


def fusion_sample(model: comfy.model_patcher.ModelPatcher, positive: list, negative: list, latent: dict[str, Any],
                  seed: int = 0, steps: int = 25, cfg: float = 7.5, sampler_name: str = "ddim",
                  scheduler: str = "ddim_uniform", denoise: float = 1.0, settings: FusionSettings | None = None,
                  beta_schedule: str = MAGICANIMATE_BETA, callback: Callable | None = None,
                  progress: bool = True, noise: str = NOISE_SHARED,
                  notices: NoticeBoard | None = None) -> dict[str, Any]:
    """Sample a video latent (frames = batch) window by window; returns a LATENT dict like KSampler's.

    ``noise``: ``shared (MagicAnimate)`` starts frame i from the noise of frame i mod ``context_frames`` (the
    original's); ``independent`` draws every frame's own (KSampler's noise).  ``denoise`` < 1 uses the same noise.

    ``callback(step, x0, x, total_steps)`` replaces the default progress bar/preview callback; with
    ``progress=False`` and no callback, nothing is reported.  ``notices``: the node's board, on which patches
    that learn something only when sampling starts (e.g. the reference crop) warn.
    """
    settings = settings or FusionSettings()
    _check_inputs(latent, steps, sampler_name, scheduler, denoise)
    # The window a model call sees: the whole video when it fits in one window. Checked here, before any model
    # is loaded, rather than in the first step.
    window = min(settings.context_frames, int(latent["samples"].shape[0]))
    encoding = temporal_encoding(model.model_options.get("transformer_options", {}))
    if encoding is not None:
        encoding.check(window)
    patched = fusion_model(model, settings, beta_schedule, notices)
    with_sampling_notices(patched.model_options, notices)
    latent_image = fix_empty_latent_channels(patched, latent)
    start_noise = fusion_noise(latent_image, seed, noise, settings.context_frames, latent.get("batch_index"))
    if callback is None and progress:
        callback = default_callback(patched, steps)
    samples = comfy.sample.sample(patched, start_noise, steps, cfg, sampler_name, scheduler, positive, negative,
                                  latent_image, denoise=denoise, noise_mask=latent.get("noise_mask"),
                                  callback=callback, disable_pbar=not (progress and comfy.utils.PROGRESS_BAR_ENABLED),
                                  seed=seed)
    out = {key: value for key, value in latent.items() if key not in LATENT_RATIO_KEYS}  # as core's KSampler
    out["samples"] = samples
    return out
