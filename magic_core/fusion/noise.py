"""The fusion sampler's starting noise: MagicAnimate's noise shared across windows, or ComfyUI's per frame.

The original draws noise for one clip of ``clip_length`` (= the window length) frames and repeats it along the
video, so frame i starts from the noise of frame i mod 16; the paper's ablation measures it (TikTok FID 32.08
shared against 32.74 independent).  ``independent`` is ComfyUI's ``prepare_noise`` over the whole batch.
"""
from __future__ import annotations

import comfy.sample
import torch

from ..errors import MagicAnimateError

NOISE_SHARED = "shared (MagicAnimate)"
NOISE_INDEPENDENT = "independent"
NOISE_MODES = (NOISE_SHARED, NOISE_INDEPENDENT)


def shared_noise(latent_image: torch.Tensor, seed: int, context_frames: int,
                 batch_index: list[int] | None = None) -> torch.Tensor:
    """Noise of a ``context_frames``-frame latent (``prepare_noise`` with ``seed``), frame i taking row i mod
    ``context_frames``.  A video no longer than one window gets ``prepare_noise`` of itself (nothing repeats)."""
    frames = int(latent_image.shape[0])
    if frames <= context_frames:
        return comfy.sample.prepare_noise(latent_image, seed, batch_index)
    window = latent_image[:context_frames]
    noise = comfy.sample.prepare_noise(window, seed, batch_index[:context_frames] if batch_index else None)
    return noise[torch.arange(frames) % context_frames]


def fusion_noise(latent_image: torch.Tensor, seed: int, mode: str, context_frames: int,
                 batch_index: list[int] | None = None) -> torch.Tensor:
    """The starting noise of a fusion run in ``mode`` (one of :data:`NOISE_MODES`)."""
    if mode == NOISE_SHARED:
        return shared_noise(latent_image, seed, context_frames, batch_index)
    if mode == NOISE_INDEPENDENT:
        return comfy.sample.prepare_noise(latent_image, seed, batch_index)
    raise MagicAnimateError(f"MagicAnimate fusion: noise '{mode}' is unknown; choose '{NOISE_SHARED}' (the "
                            f"original's) or '{NOISE_INDEPENDENT}'.")
