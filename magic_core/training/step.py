"""One training forward pass: noise a batch with ComfyUI's model sampling and return the noise-prediction MSE.

The denoising UNet runs through ``BaseModel.apply_model`` with the same patches as at inference: the reference
attention read side (a :class:`ReferenceBank` of this step's appearance-encoder states), the DensePose ControlNet
residuals (``control``), and in stage 2 the temporal modules over each sample's frames (one cond/uncond chunk
per sample, see ``frame_contract``).  A sample whose reference is dropped (``reference_drop_prob``) is marked
as an unconditional chunk, which reference attention leaves unpatched, as the unconditional half at inference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .. import call_options
from ..appearance import ReferenceBank, record_write_side
from ..frame_contract import COND, UNCOND
from ..temporal import TemporalSlot, temporal_slot_forward
from .models import BANK_KEY, TrainingModels


@dataclass
class LatentBatch:
    """A batch ready for the model: ``latents`` ``[B*F, 4, h, w]`` (sample-major), ``reference`` ``[B, 4, h, w]``
    (clean, scaled), ``hints`` ``[B*F, 3, H, W]`` in 0..1, ``dropped`` one flag per sample."""

    latents: torch.Tensor
    reference: torch.Tensor
    hints: torch.Tensor
    dropped: list[bool]

    @property
    def samples(self) -> int:
        return self.reference.shape[0]

    @property
    def frames(self) -> int:
        return self.latents.shape[0] // self.reference.shape[0]


def reference_states(models: TrainingModels, latent: torch.Tensor, timestep: torch.Tensor,
                     context: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The appearance encoder's write side for each sample (``[B, tokens, C]`` per writer block, in order):
    the same recorder as inference, without its ``detach`` so the encoder can learn."""
    order = models.encoder.run_order(models.writer_keys)
    states = record_write_side(models.encoder.unet, order, latent, timestep, context, detach=False)
    return tuple(states[k] for k in order)


def _control(models: TrainingModels, x_in: torch.Tensor, hints: torch.Tensor, timestep: torch.Tensor,
             context: torch.Tensor) -> tuple[torch.Tensor, ...]:
    out = models.controlnet(x=x_in, hint=hints, timesteps=timestep, context=context)
    return tuple(out["output"]) + tuple(out["middle"])


class _SkipResiduals:
    """``output_block_patch`` adding the ControlNet's skip residuals out of place.

    Core's ``apply_control`` adds them in place (``h += ctrl``) to skip tensors that, once temporal modules in
    the down blocks carry gradients, autograd still needs; the sum is the same, only not in place.
    """

    def __init__(self, residuals: list[torch.Tensor]):
        self.residuals = list(residuals)

    def __call__(self, h, hsp, transformer_options):
        return h, hsp + self.residuals.pop()


def _run(fn, checkpointed: bool, *args):
    if checkpointed and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def _checkpointed_temporal(layer, x, *args):
    return checkpoint(temporal_slot_forward, layer, x, *args, use_reentrant=False)


def denoise(models: TrainingModels, batch: LatentBatch, context: torch.Tensor, index: torch.Tensor, noise: torch.Tensor,
            gradient_checkpointing: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's prediction of the clean latents from ``batch`` noised with ``noise`` at the schedule indices
    ``index`` (one per sample, shared by its frames): ``(denoised, x_noisy, sigma_rows)``.

    ``context``: ``[1, tokens, C]`` (one prompt) or ``[B, tokens, C]`` (one caption per sample).
    """
    base = models.unet.model
    sampling = base.model_sampling
    device = batch.latents.device
    samples, frames = batch.samples, batch.frames
    sigma = sampling.sigmas.detach()[index.to(sampling.sigmas.device)].to(device=device, dtype=torch.float32)
    sigma_rows = sigma.repeat_interleave(frames)
    x_noisy = sampling.noise_scaling(sigma_rows, noise.to(device), batch.latents)
    timestep = sampling.timestep(sigma).float()
    timestep_rows = timestep.repeat_interleave(frames)
    ctx = context.to(device)
    ctx_samples = ctx.expand(samples, -1, -1)
    ctx_rows = ctx_samples.repeat_interleave(frames, dim=0)

    train_side = "appearance_encoder" in models.trainable
    with torch.set_grad_enabled(torch.is_grad_enabled() and train_side):
        states = _run(lambda lat, t, c: reference_states(models, lat, t, c), gradient_checkpointing and train_side,
                      batch.reference, timestep, ctx_samples)
        residuals = _run(lambda x, h, t, c: _control(models, x, h, t, c), gradient_checkpointing and train_side,
                         sampling.calculate_input(sigma_rows, x_noisy), batch.hints, timestep_rows, ctx_rows)
    depth = len(models.controlnet.zero_convs)
    control = {"input": [], "output": [], "middle": list(residuals[depth:])}
    order = models.encoder.run_order(models.writer_keys)
    bank = ReferenceBank({k: s.repeat_interleave(frames, dim=0) for k, s in zip(order, states, strict=True)},
                         models.pairing, 1.0)

    options = dict(models.unet.model_options["transformer_options"])
    call_options.set_chunks(options, [UNCOND if d else COND for d in batch.dropped])
    call_options.set_sigmas(options, sigma_rows)
    options = call_options.with_per_device_value(options, BANK_KEY, bank)
    call_options.add_patch(options, "output_block_patch", _SkipResiduals(residuals[:depth]))
    if gradient_checkpointing and models.temporal is not None:
        call_options.add_patch(options, "forward_timestep_embed_patch", (TemporalSlot, _checkpointed_temporal),
                               first=True)
    denoised = base.apply_model(x_noisy, sigma_rows, c_crossattn=ctx_rows, control=control,
                                transformer_options=options)
    return denoised, x_noisy, sigma_rows


def sample_timesteps(count: int, samples: int, generator: torch.Generator, how: str = "uniform") -> torch.Tensor:
    """Schedule indices, one per sample: ``uniform`` over all, or ``cubic`` (``t = (1 - u^3) T``, most draws at
    high noise, where the pose and the reference decide the image; the sampling T2I-Adapter uses for structure)."""
    if how == "cubic":
        u = torch.rand(samples, generator=generator)
        return ((1 - u ** 3) * count).long().clamp(0, count - 1)
    return torch.randint(0, count, (samples,), generator=generator)


def diffusion_loss(models: TrainingModels, batch: LatentBatch, context: torch.Tensor, generator: torch.Generator,
                   gradient_checkpointing: bool = False, timestep_sampling: str = "uniform",
                   loss_weighting: str = "eps") -> torch.Tensor:
    """Noise-prediction MSE of the batch (one timestep per sample, shared by its frames); ``loss_weighting="x0"``:
    the MSE of the predicted clean latent instead (the noise MSE weighted by sigma^2, so the high-noise steps,
    where an eps error of d becomes an x0 error of sigma * d, count as much as they matter for the image)."""
    sampling = models.unet.model.model_sampling
    index = sample_timesteps(sampling.sigmas.shape[0], batch.samples, generator, timestep_sampling)
    noise = torch.randn(batch.latents.shape, generator=generator)
    denoised, x_noisy, sigma_rows = denoise(models, batch, context, index, noise, gradient_checkpointing)
    if loss_weighting == "x0":
        return F.mse_loss(denoised.float(), batch.latents.float())
    predicted_noise = (x_noisy - denoised) / sigma_rows.view(-1, 1, 1, 1)
    return F.mse_loss(predicted_noise.float(), noise.float().to(predicted_noise.device))
