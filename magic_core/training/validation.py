"""Validation on a held-out split: does the model use the pose and the reference?

For each held-out item (reference image, DensePose, target image, target silhouette) the one-step prediction of
the clean image at high noise levels is compared with the target inside the silhouette:
``E`` with the right inputs, ``E_pose`` with another item's DensePose, ``E_ref`` with another person's
reference.  A model that uses its DensePose has ``E_pose > E``; one that uses its reference has ``E_ref > E``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .step import LatentBatch, denoise

TIMESTEP_INDICES = (900, 700)
NOISE_SEEDS = (0, 1)


@dataclass
class ValidationSet:
    """Held-out items, all ``[N, H, W, 3]`` in 0..1 (``masks`` ``[N, H, W]`` bool); ``other_pose[i]`` /
    ``other_reference[i]``: the item whose DensePose / reference replaces item i's for ``E_pose`` / ``E_ref``."""

    references: torch.Tensor
    densepose: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor
    other_pose: list[int]
    other_reference: list[int]


@dataclass
class ValidationErrors:
    E: float
    E_pose: float
    E_ref: float

    def as_row(self) -> dict[str, str]:
        return {"E": f"{self.E:.4f}", "E_pose": f"{self.E_pose:.4f}", "E_ref": f"{self.E_ref:.4f}"}


@torch.no_grad()
def one_step_images(models, vae, context: torch.Tensor, references: torch.Tensor, densepose: torch.Tensor,
                    targets: torch.Tensor, index: int, seed: int) -> torch.Tensor:
    """Decoded one-step predictions ``x0`` ``[N, H, W, 3]`` of ``targets`` noised at schedule ``index``."""
    base = models.unet.model
    device = next(base.diffusion_model.parameters()).device
    latents = base.process_latent_in(vae.encode(torch.cat([targets, references])).float()).to(device)
    n = targets.shape[0]
    batch = LatentBatch(latents[:n], latents[n:], densepose.movedim(-1, 1).to(device), [False] * n)
    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(seed))
    denoised, _, _ = denoise(models, batch, context, torch.full((n,), index, dtype=torch.long), noise)
    return vae.decode(base.process_latent_out(denoised).cpu()).float().clamp(0, 1)


def masked_error(images: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor) -> float:
    """Mean absolute error (over channels) inside the masks."""
    per_pixel = (images - targets).abs().mean(-1)
    return float(per_pixel[masks].mean())


def validation_errors(models, vae, context: torch.Tensor, data: ValidationSet,
                      indices: tuple[int, ...] = TIMESTEP_INDICES,
                      seeds: tuple[int, ...] = NOISE_SEEDS) -> ValidationErrors:
    """E, E_pose and E_ref over ``indices`` x ``seeds`` (the models' training flags are kept)."""
    modes = {m: m.training for m in models.trainable.values()}
    for m in modes:
        m.eval()
    try:
        out = {}
        for name, refs, poses in (("E", data.references, data.densepose),
                                  ("E_pose", data.references, data.densepose[data.other_pose]),
                                  ("E_ref", data.references[data.other_reference], data.densepose)):
            errors = [masked_error(one_step_images(models, vae, context, refs, poses, data.targets, i, s),
                                   data.targets, data.masks) for i in indices for s in seeds]
            out[name] = sum(errors) / len(errors)
        return ValidationErrors(**out)
    finally:
        for m, was in modes.items():
            m.train(was)
