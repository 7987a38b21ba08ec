"""A whole multi-window MagicAnimate video, end to end, against the original's algorithm written out with diffusers.

The pack: the official tiny base UNet, temporal attention, appearance encoder and DensePose ControlNet through
the pack's own loaders and patches, the fusion sampler (shared noise, ``ddim`` + ``ddim_uniform``, CFG 7.5),
frames decoded by ComfyUI's VAE.  The reference: diffusers ``DDIMScheduler`` with the original's
config driving, window by window, a diffusers ``UNetMotionModel`` with the original's norms, reference
attention from the appearance encoder and ``ControlNetModel`` residuals, fused per frame (sum and count, CFG
after the average), each frame decoded by diffusers' ``AutoencoderKL``; from the same initial noise.

Both sides compute in float64 (the pack under ComfyUI's ``--fp64-unet``), so the comparison is of the algorithm:
within 1e-4 relative per step and for the decoded video.  Each step of the reference starts from the pack's
latent, as the model saw it: ComfyUI keeps the sampler state and the model outputs in float32 whatever the
model's dtype, and the tiny random model amplifies a 6e-8 change of its input 3e3-2e4 times in one step at CFG
7.5, so free-running loops drift apart by rounding alone (4e-3 in float64, 2e-2 in float32: not asserted).
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
from harness.tiny_appearance import ENCODER_FILE, DiffusersReference, official_base_patcher, official_base_unet
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

FRAMES, WINDOW, OVERLAP, STEPS, CFG, SEED, SIZE = 12, 8, 2, 4, 7.5, 1, 64  # two windows, one wrapping around
SD15_SCALE = 0.18215
TOLERANCE = 1e-4
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


def pack_video(official_tiny, inputs: dict, dtype: torch.dtype | None = None,
               steps_count: int = STEPS, vae_dtype: torch.dtype | None = None) -> tuple[torch.Tensor, list]:
    """The pack's decoded frames ``[F, H, W, 3]`` and, per step, (sigma, x, denoised) as its sampler saw them.

    Every part is loaded by the pack's own loaders; ``dtype`` is the UNet's (the other parts follow it as with
    ComfyUI's ``--fp64-unet``) and the VAE's unless ``vae_dtype`` is given."""
    from magic_core.appearance.loading import load_appearance_encoder

    vae = comfy_official_vae(official_tiny, vae_dtype or dtype)
    model = apply_temporal_attention(official_base_patcher(official_tiny, dtype),
                                     load_temporal_file(str(official_tiny / TEMPORAL)))
    encoder = load_appearance_encoder(str(official_tiny / ENCODER_FILE))
    model = apply_appearance_encoder(model, encoder, vae, inputs["reference"])
    control = load_densepose_controlnet(str(official_tiny / CONTROLNET / "diffusion_pytorch_model.safetensors"))
    positive, negative = apply_densepose(inputs["positive"], inputs["negative"], control, inputs["densepose"])
    steps: list = []
    sigmas = comfy.samplers.calculate_sigmas(apply_beta_schedule(model, MAGICANIMATE_BETA).get_model_object(
        "model_sampling"), "ddim_uniform", steps_count)

    def record(step, denoised, x, total):
        steps.append((sigmas[step], x.detach().clone(), denoised.detach().clone()))

    latent = fusion_sample(model, positive, negative, empty_latent(FRAMES, SIZE), seed=SEED, steps=steps_count, cfg=CFG,
                           sampler_name="ddim", scheduler="ddim_uniform", noise=NOISE_SHARED, callback=record,
                           settings=FusionSettings(WINDOW, OVERLAP, 1, True))
    return vae.decode(latent["samples"]).detach().double().cpu(), steps


class OriginalLoop:
    """The original's sampling loop with diffusers in ``dtype``: windows, per-frame sum and count, CFG after fusion,
    DDIM steps, frames decoded one by one."""

    @torch.no_grad()
    def __init__(self, official_tiny, inputs: dict, dtype: torch.dtype = torch.float64):
        from diffusers import ControlNetModel

        self.dtype = dtype
        self.scheduler = original_scheduler(dtype)
        unet = motion_unet(official_base_unet(official_tiny), load_temporal_file(str(official_tiny / TEMPORAL)),
                           cross_frame_norm=True, frames=WINDOW)
        self.model = DiffusersReference(official_tiny, base=unet)
        self.model.base.to(dtype)
        self.model.encoder.to(dtype)
        self.controlnet = ControlNetModel.from_pretrained(str(official_tiny / CONTROLNET)).eval().to(dtype)
        self.vae = diffusers_official_vae(official_tiny).to(dtype)
        reference = inputs["reference"].movedim(-1, 1).to(dtype) * 2 - 1
        self.ref_latent = self.vae.encode(reference).latent_dist.mean * SD15_SCALE
        self.hints = inputs["densepose"].movedim(-1, 1).to(dtype)
        self.text = inputs["text"].to(dtype)
        self.context = torch.cat([self.text.expand(WINDOW, -1, -1),
                                  inputs["uncond_text"].to(dtype).expand(WINDOW, -1, -1)])

    @torch.no_grad()
    def guided_noise(self, latents: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """CFG noise prediction for the video ``latents`` ``[1, 4, F, h, w]`` at timestep ``t``."""
        timestep = t.reshape(1)
        cond_mask = torch.arange(2 * WINDOW) < WINDOW  # rows: the window's frames with the text, then without
        noise_pred = torch.zeros((2,) + latents.shape[1:], dtype=self.dtype)
        counter = torch.zeros((1, 1, latents.shape[2], 1, 1), dtype=self.dtype)
        for window in original_windows(latents.shape[2], WINDOW, OVERLAP):
            x = latents[:, :, window].to(self.dtype)
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
        out = self.scheduler.step(self.guided_noise(latents, t), t, latents.to(self.dtype), eta=0.0)
        return out.pred_original_sample, out.prev_sample

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        latents = latents.to(self.dtype)
        frames = [self.vae.decode(latents[:, :, i] / SD15_SCALE).sample for i in range(latents.shape[2])]
        return (torch.cat(frames) / 2 + 0.5).clamp(0, 1).movedim(1, -1)


def video(x: torch.Tensor) -> torch.Tensor:
    """ComfyUI's frames-as-batch latent ``[F, 4, h, w]`` as the original's ``[1, 4, F, h, w]``."""
    return x.transpose(0, 1)[None]


def model_input(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The original's latent of ComfyUI's sampler state ``x`` at ``sigma``: x / sqrt(1 + sigma^2), computed as
    ComfyUI computes the model input (in the sampler's float32), so both models get the same input."""
    return video(x / (sigma ** 2 + 1) ** 0.5)


def original_scheduler(dtype: torch.dtype = torch.float32):
    """The original's DDIM: diffusers "linear" betas 0.00085..0.012, leading spacing + offset 1, final alpha 1;
    in float64 its alphas_cumprod is the same cumulative product taken in float64 (diffusers takes it in
    float32)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                              steps_offset=1, set_alpha_to_one=True, clip_sample=False)
    if dtype == torch.float64:
        betas = torch.linspace(0.00085, 0.012, 1000, dtype=torch.float64)
        scheduler.betas, scheduler.alphas = betas, 1.0 - betas
        scheduler.alphas_cumprod = torch.cumprod(scheduler.alphas, dim=0)
        scheduler.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    scheduler.set_timesteps(STEPS)
    return scheduler


def comfy_start_scale() -> float:
    """ComfyUI starts ``ddim_uniform`` (first sigma below the maximum) from noise x sigma/sqrt(1 + sigma^2) in the
    original's scale, i.e. sqrt(1 - alpha_bar) of the first timestep; the original from the noise itself."""
    scheduler = original_scheduler(torch.float64)
    return float((1 - scheduler.alphas_cumprod[scheduler.timesteps[0]]) ** 0.5)


def step_errors(steps: list, loop: OriginalLoop, original_noise: torch.Tensor) -> list[float]:
    """Relative errors of every step's x0 prediction and next latent, each step run by ``loop`` from the input
    the pack's model saw (the tiny random model amplifies an input change ~1e3-1e4 times in one step)."""
    errors = []
    for i, (sigma, x, denoised) in enumerate(steps):
        latents = model_input(sigma, x)
        if i == 0:
            assert rel(latents, video(original_noise) * comfy_start_scale()) < 1e-6  # the same (shared) noise
        x0, following = loop.step(latents, loop.scheduler.timesteps[i])
        errors.append(rel(video(denoised).to(x0.dtype), x0))
        if i + 1 < STEPS:
            errors.append(rel(model_input(*steps[i + 1][:2]).to(x0.dtype), following))
    return errors


@pytest.fixture
def fp64_unet(monkeypatch):
    """ComfyUI's ``--fp64-unet`` for one test: the UNet, appearance encoder and ControlNet load in float64."""
    import comfy.cli_args

    monkeypatch.setattr(comfy.cli_args.args, "fp64_unet", True)


@pytest.mark.slow
def test_whole_video_equals_the_original_algorithm(official_tiny, inputs, fp64_unet):
    """float64 on both sides: the pack's algorithm equals the original's (only ComfyUI's float32 sampler state
    and model outputs are rounded), per step and for the whole decoded video."""
    ours, steps = pack_video(official_tiny, inputs, torch.float64)
    loop = OriginalLoop(official_tiny, inputs, torch.float64)
    first_window = comfy.sample.prepare_noise(torch.zeros(WINDOW, 4, SIZE // 8, SIZE // 8), SEED)
    original_noise = first_window[torch.arange(FRAMES) % WINDOW]  # the original: one clip's noise, repeated
    scale = comfy_start_scale()
    assert 0.985 < scale < 0.995  # the 1.1% smaller start at 4 steps
    assert len(steps) == STEPS and [round(loop.scheduler.timesteps[i].item()) for i in range(STEPS)] == [751, 501,
                                                                                                           251, 1]
    errors = step_errors(steps, loop, original_noise)
    decoded = loop.decode(video(steps[-1][2]))  # the last denoised is the final latent (sigma 0)
    errors.append(rel(ours, decoded))
    logging.info("end-to-end parity (float64), %d frames, %d steps: max relative error per step %.2e", FRAMES, STEPS,
                 max(errors))
    assert ours.shape == (FRAMES, SIZE, SIZE, 3)
    assert float(decoded.std()) > 0.05 and float((decoded - decoded[:1]).abs().max()) > 0.05  # frames differ
    assert max(errors) < TOLERANCE, errors


def test_pipeline_runs_with_a_bfloat16_unet(official_tiny, inputs):
    """A bf16 UNet (its temporal modules built in bf16) with the appearance encoder and ControlNet in their own
    dtype (float32 here): every injected tensor follows the tensors it joins, no dtype error."""
    ours, steps = pack_video(official_tiny, inputs, torch.bfloat16, steps_count=1)
    assert ours.shape == (FRAMES, SIZE, SIZE, 3) and bool(torch.isfinite(ours).all())
    assert steps[0][2].dtype == torch.float32 and float(steps[0][2].std()) > 0.01
    # the bf16 option (ComfyUI's --bf16-unet, off by default; the VAE stays float32 as with that flag): the latent
    # after one full step (the first of 4) against float32, as relative L2 ||a-b||/||b|| and max|a-b|/max|b|.
    # Measured 3.6e-2-4.1e-2 / 6.1e-2-6.4e-2 here; the plain tiny UNet (no MagicAnimate part, same sampler) is at
    # 2.4e-2 / 4.7e-2, and keeping any one part in float32 (temporal attention, GroupNorms, reference attention,
    # timestep embedding, output layer) moves it by less than 0.5e-2 (BENCHMARKS.md, issue 27): the 1e-2 is
    # missed on these random weights; the bound catches a broken bf16 path, not rounding.
    _, bf16_steps = pack_video(official_tiny, inputs, torch.bfloat16, steps_count=4, vae_dtype=torch.float32)
    _, fp32_steps = pack_video(official_tiny, inputs, torch.float32, steps_count=4)
    ours_x, fp32_x = bf16_steps[1][1].double(), fp32_steps[1][1].double()
    l2 = float((ours_x - fp32_x).norm() / fp32_x.norm())
    error = rel(ours_x, fp32_x)
    logging.info("bf16 UNet vs float32, latent after one full step: relative L2 %.2e, max-abs %.2e", l2, error)
    assert l2 < 6e-2 and error < 1e-1, (l2, error)
