"""A whole multi-window MagicAnimate video, end to end, against the original's algorithm written out with diffusers.

The pack: the official tiny base UNet, temporal attention, appearance encoder and DensePose ControlNet through
the pack's own loaders and patches, the fusion sampler (shared noise, ``ddim`` + ``ddim_uniform``, CFG 7.5),
frames decoded by ComfyUI's VAE.  The reference: diffusers ``DDIMScheduler`` with the original's
config driving, window by window, a diffusers ``UNetMotionModel`` with the original's norms, reference
attention from the appearance encoder and ``ControlNetModel`` residuals, fused per frame (sum and count, CFG
after the average), each frame decoded by diffusers' ``AutoencoderKL``; from the same initial noise.
"""
from __future__ import annotations

import logging

import comfy.sample
import comfy.samplers
import pytest
import torch
from harness.latents import empty_latent
from harness.official_vae import comfy_official_vae, diffusers_official_vae
from harness.reference_motion import motion_unet
from harness.tiny_appearance import DiffusersReference, official_base_patcher, official_base_unet
from harness.tiny_magicanimate import synthetic_reference_image

from magic_core.appearance.patch import apply_appearance_encoder
from magic_core.densepose.control import apply_densepose
from magic_core.densepose.loader import load_densepose_controlnet
from magic_core.fusion.beta_schedule import MAGICANIMATE_BETA, apply_beta_schedule
from magic_core.fusion.noise import NOISE_SHARED
from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings
from magic_core.motion import render_synthetic_motion
from magic_core.temporal.loading import load_temporal_file
from magic_core.temporal.patch import apply_temporal_attention

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

FRAMES, WINDOW, OVERLAP, STEPS, CFG, SEED, SIZE = 24, 16, 4, 4, 7.5, 1, 64
SD15_SCALE = 0.18215
# Measured float32 floor, not 1e-4: one UNet evaluation of the official tiny random weights differs by up to
# ~1e-4 (max, relative) between ComfyUI and diffusers, and by ~3e-5 between diffusers in float32 and float64; CFG
# 7.5 multiplies that in every step's guided prediction.  Each step is compared from the pack's own latent.
STEP_TOLERANCE = 5e-3
CONTROLNET = "MagicAnimate/densepose_controlnet"
TEMPORAL = "MagicAnimate/temporal_attention/temporal_attention.ckpt"


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def original_windows(frames: int, length: int, overlap: int) -> list[list[int]]:
    """The original's uniform schedule at step 0, stride 1, closed loop, written out."""
    if frames <= length:
        return [list(range(frames))]
    return [[(j + k) % frames for k in range(length)] for j in range(0, frames, length - overlap)]


@pytest.fixture(scope="module")
def inputs(fusion_conds) -> dict:
    empty = fusion_conds[1]  # the original's prompt and negative prompt are both empty
    return {"reference": synthetic_reference_image(SIZE, SIZE, seed=2)[None],
            "densepose": render_synthetic_motion(SIZE, SIZE, FRAMES, "walk", 3),
            "positive": empty, "negative": empty, "text": empty[0][0], "uncond_text": empty[0][0]}


def pack_video(official_tiny, appearance_encoder, inputs: dict, noise: str) -> tuple[torch.Tensor, list]:
    """The pack's decoded frames ``[F, H, W, 3]`` and, per step, (sigma, x, denoised) as its sampler saw them."""
    vae = comfy_official_vae(official_tiny)
    model = apply_temporal_attention(official_base_patcher(official_tiny),
                                     load_temporal_file(str(official_tiny / TEMPORAL)))
    model = apply_appearance_encoder(model, appearance_encoder, vae, inputs["reference"])
    control = load_densepose_controlnet(str(official_tiny / CONTROLNET / "diffusion_pytorch_model.safetensors"))
    positive, negative = apply_densepose(inputs["positive"], inputs["negative"], control, inputs["densepose"])
    steps: list = []
    sigmas = comfy.samplers.calculate_sigmas(apply_beta_schedule(model, MAGICANIMATE_BETA).get_model_object(
        "model_sampling"), "ddim_uniform", STEPS)

    def record(step, denoised, x, total):
        steps.append((float(sigmas[step]), x.detach().clone().float(), denoised.detach().clone().float()))

    latent = fusion_sample(model, positive, negative, empty_latent(FRAMES, SIZE), seed=SEED, steps=STEPS, cfg=CFG,
                           sampler_name="ddim", scheduler="ddim_uniform", noise=noise, callback=record,
                           settings=FusionSettings(WINDOW, OVERLAP, 1, True))
    return vae.decode(latent["samples"]).detach().float().cpu(), steps


class OriginalLoop:
    """The original's sampling loop with diffusers: windows, per-frame sum and count, CFG after fusion,
    DDIM steps, frames decoded one by one."""

    @torch.no_grad()
    def __init__(self, official_tiny, inputs: dict):
        from diffusers import ControlNetModel

        self.scheduler = original_scheduler()
        unet = motion_unet(official_base_unet(official_tiny), load_temporal_file(str(official_tiny / TEMPORAL)),
                           cross_frame_norm=True, frames=WINDOW)
        self.model = DiffusersReference(official_tiny, base=unet)
        self.controlnet = ControlNetModel.from_pretrained(str(official_tiny / CONTROLNET)).eval()
        self.vae = diffusers_official_vae(official_tiny)
        reference = inputs["reference"].movedim(-1, 1) * 2 - 1
        self.ref_latent = self.vae.encode(reference).latent_dist.mean * SD15_SCALE
        self.hints = inputs["densepose"].movedim(-1, 1)
        self.text = inputs["text"]
        self.context = torch.cat([self.text.expand(WINDOW, -1, -1), inputs["uncond_text"].expand(WINDOW, -1, -1)])

    @torch.no_grad()
    def guided_noise(self, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """CFG noise prediction for the video ``latents`` ``[1, 4, F, h, w]`` at timestep ``t``."""
        timestep = t.reshape(1)
        cond_mask = torch.arange(2 * WINDOW) < WINDOW  # rows: the window's frames with the text, then without
        noise_pred = torch.zeros((2,) + latents.shape[1:])
        counter = torch.zeros((1, 1, latents.shape[2], 1, 1))
        for window in original_windows(latents.shape[2], WINDOW, OVERLAP):
            x = latents[:, :, window]
            down, mid = self.controlnet(x[0].transpose(0, 1), timestep,
                                        encoder_hidden_states=self.text.expand(WINDOW, -1, -1),
                                        controlnet_cond=self.hints[window], conditioning_scale=1.0, return_dict=False)
            pred = self.model.predict(torch.cat([x, x]), timestep, self.context, cond_mask, self.ref_latent, self.text,
                                      down_block_additional_residuals=[torch.cat([r, r]) for r in down],
                                      mid_block_additional_residual=torch.cat([mid, mid]))
            noise_pred[:, :, window] += pred
            counter[:, :, window] += 1
        cond, uncond = (noise_pred / counter).chunk(2)
        return uncond + CFG * (cond - uncond)

    @torch.no_grad()
    def step(self, latents: torch.Tensor, t: torch.Tensor):
        """One DDIM step: (x0 prediction, next latents)."""
        out = self.scheduler.step(self.guided_noise(latents, t), t, latents, eta=0.0)
        return out.pred_original_sample, out.prev_sample

    @torch.no_grad()
    def run(self, start_noise: torch.Tensor) -> torch.Tensor:
        latents = start_noise.transpose(0, 1)[None]  # b c f h w
        for t in self.scheduler.timesteps:
            latents = self.step(latents, t)[1]
        return self.decode(latents)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        frames = [self.vae.decode(latents[:, :, i] / SD15_SCALE).sample for i in range(latents.shape[2])]
        return (torch.cat(frames) / 2 + 0.5).clamp(0, 1).movedim(1, -1)


def video(x: torch.Tensor) -> torch.Tensor:
    """ComfyUI's frames-as-batch latent ``[F, 4, h, w]`` as the original's ``[1, 4, F, h, w]``."""
    return x.transpose(0, 1)[None]


def original_scheduler():
    """The original's DDIM: diffusers "linear" betas 0.00085..0.012, leading spacing + offset 1, final alpha 1."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                              steps_offset=1, set_alpha_to_one=True, clip_sample=False)
    scheduler.set_timesteps(STEPS)
    return scheduler


def comfy_start_scale() -> float:
    """ComfyUI starts ``ddim_uniform`` (first sigma below the maximum) from noise x sigma/sqrt(1 + sigma^2) in the
    original's scale, i.e. sqrt(1 - alpha_bar) of the first timestep; the original from the noise itself."""
    scheduler = original_scheduler()
    return float((1 - scheduler.alphas_cumprod[scheduler.timesteps[0]]) ** 0.5)


def test_whole_video_equals_the_original_algorithm(official_tiny, appearance_encoder, inputs):
    ours, steps = pack_video(official_tiny, appearance_encoder, inputs, NOISE_SHARED)
    loop = OriginalLoop(official_tiny, inputs)
    first_window = comfy.sample.prepare_noise(torch.zeros(WINDOW, 4, SIZE // 8, SIZE // 8), SEED)
    original_noise = first_window[torch.arange(FRAMES) % WINDOW]  # the original: one clip's noise, repeated
    scale = comfy_start_scale()
    assert 0.985 < scale < 0.995  # the 1.1% smaller start at 4 steps
    assert len(steps) == STEPS and [round(loop.scheduler.timesteps[i].item()) for i in range(STEPS)] == [751, 501,
                                                                                                           251, 1]
    # ComfyUI steps x in sigma space: x / sqrt(1 + sigma^2) is the original's latent, its denoised the x0 prediction
    errors = []
    for i, (sigma, x, denoised) in enumerate(steps):
        latents = video(x) / (1 + sigma ** 2) ** 0.5
        if i == 0:
            assert rel(latents, video(original_noise) * scale) < 1e-6  # the same (shared) starting noise
        x0, following = loop.step(latents, loop.scheduler.timesteps[i])
        errors.append(rel(video(denoised), x0))
        if i + 1 < STEPS:
            errors.append(rel(video(steps[i + 1][1]) / (1 + steps[i + 1][0] ** 2) ** 0.5, following))
    decoded = loop.decode(video(steps[-1][2]))  # the last denoised is the final latent (sigma 0)
    errors.append(rel(ours, decoded))
    logging.info("end-to-end parity, %d frames, %d steps: max relative error per step %.2e", FRAMES, STEPS,
                 max(errors))
    assert ours.shape == (FRAMES, SIZE, SIZE, 3)
    assert float(decoded.std()) > 0.05 and float((decoded - decoded[:1]).abs().max()) > 0.05  # frames differ
    assert max(errors) < STEP_TOLERANCE, errors
    # free-running, the two float32 loops drift apart (the tiny random model under CFG 7.5 is chaotic: a 1e-7 change
    # of the start noise moves the output by ~1e-2), but stay the same video
    free = loop.run(original_noise * scale)
    logging.info("end-to-end free-running relative error %.2e", rel(ours, free))
    assert rel(ours, free) < 5e-2
