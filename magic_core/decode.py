"""Decode a sampled video's latents to frames with bounded memory, in the batch that is fastest on the VAE's device.

On a CPU one frame per decode is both the smallest and the fastest (BENCHMARKS.md, issue 27: decoding 16 frames at
once held +236 MiB and took 3x as long on one thread as frame by frame: large activations fall out of the caches).
On an accelerator every frame goes to ComfyUI's ``VAE.decode`` at once, which splits them by free memory (what core's
VAE Decode does there, so the GPU path is core's). The frames are written into one ``[frames, H, W, C]`` batch
as they come, so the decode never holds more than that batch and one decode's frames.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

CPU_FRAMES_PER_DECODE = 1


@dataclass(frozen=True)
class DecodePlan:
    """How many frames go to each ``VAE.decode`` call, and why (for the node's UI text)."""

    frames: int
    per_decode: int
    device: str
    reason: str

    def describe(self) -> str:
        calls = -(-self.frames // self.per_decode)
        frames = f"{self.frames} frame{'s' if self.frames != 1 else ''}"
        return (f"MagicAnimate decode: {frames} on {self.device}, {self.per_decode} per VAE decode "
                f"({calls} decode{'s' if calls != 1 else ''}): {self.reason}.")


def plan_decode(frames: int, device: torch.device, frames_per_decode: int = 0) -> DecodePlan:
    """The batch for ``frames`` latents on ``device``; ``frames_per_decode`` > 0 is the user's own choice."""
    import comfy.model_management

    if frames_per_decode > 0:
        per, reason = min(frames_per_decode, frames), "frames_per_decode as set"
    elif comfy.model_management.is_device_cpu(device):
        per, reason = min(CPU_FRAMES_PER_DECODE, frames), "on a CPU one frame at a time is the fastest and smallest"
    else:
        per, reason = frames, "VAE decode splits them by the free memory of the device"
    return DecodePlan(frames=frames, per_decode=per, device=str(device), reason=reason)


def _latent_frames(samples: dict) -> torch.Tensor:
    if not isinstance(samples, dict) or "samples" not in samples:
        raise ValueError("MagicAnimate decode: samples must be a LATENT (a dict with 'samples').")
    latent = samples["samples"]
    if latent.is_nested:
        latent = latent.unbind()[0]
    if latent.ndim != 4:
        raise ValueError(f"MagicAnimate decode: expected an image latent [frames, channels, height, width], got "
                         f"shape {list(latent.shape)}; use core's VAE Decode for video-VAE latents.")
    if latent.shape[0] == 0:
        raise ValueError("MagicAnimate decode: the latent holds no frames.")
    return latent


def decode_frames(vae, samples: dict, frames_per_decode: int = 0, progress: bool = True
                  ) -> tuple[torch.Tensor, DecodePlan]:
    """Every frame of ``samples`` decoded by ``vae`` (a ComfyUI ``VAE``), in order, as one IMAGE batch."""
    import comfy.model_management
    import comfy.utils

    latent = _latent_frames(samples)
    plan = plan_decode(latent.shape[0], vae.device, frames_per_decode)
    bar = comfy.utils.ProgressBar(plan.frames) if progress else None
    images = None
    for start in range(0, plan.frames, plan.per_decode):
        comfy.model_management.throw_exception_if_processing_interrupted()
        chunk = vae.decode(latent[start:start + plan.per_decode])
        if chunk.ndim == 5:  # as core's VAE Decode: frames of a video VAE's output are one batch
            chunk = chunk.reshape(-1, *chunk.shape[-3:])
        if chunk.shape[0] != min(plan.per_decode, plan.frames - start):
            raise ValueError(f"MagicAnimate decode: the VAE gave {chunk.shape[0]} images for "
                             f"{min(plan.per_decode, plan.frames - start)} latents; use core's VAE Decode for it.")
        if plan.per_decode >= plan.frames:
            images = chunk  # one decode: its output as it is (as core's VAE Decode gives it), no copy
        elif images is None:
            images = torch.empty((plan.frames, *chunk.shape[1:]), dtype=chunk.dtype, device=chunk.device)
        if images is not chunk:
            images[start:start + chunk.shape[0]] = chunk
        del chunk
        if bar is not None:
            bar.update(min(plan.per_decode, plan.frames - start))
    log.info(plan.describe())
    return images, plan
