"""The fusion sampler's ``noise`` option: MagicAnimate's noise shared across windows, and independent noise."""
from __future__ import annotations

import comfy.patcher_extension
import comfy.sample
import pytest
import torch
from harness.latents import empty_latent
from harness.tiny_models import tiny_sd15_patcher

from magic_core.densepose.control import apply_densepose
from magic_core.fusion.beta_schedule import MAGICANIMATE_BETA, apply_beta_schedule
from magic_core.fusion.noise import NOISE_INDEPENDENT, NOISE_SHARED, fusion_noise
from magic_core.fusion.sampler import fusion_model, fusion_sample
from magic_core.fusion.windows import FusionSettings
from magic_core.temporal.loading import load_temporal_file
from magic_core.temporal.patch import apply_temporal_attention

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

STEPS, SIZE, WINDOW = 2, 32, 16
SETTINGS = FusionSettings(WINDOW, 4, 1, True)


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    """Equal up to float32 rounding of a different batching, relative to the tensors' magnitude."""
    return torch.allclose(a, b, rtol=rel, atol=rel * float(b.abs().max()))


def fused(model, conds, latent, noise=NOISE_SHARED, seed=1, denoise=1.0, settings=SETTINGS) -> torch.Tensor:
    return fusion_sample(model, conds[0], conds[1], latent, seed=seed, steps=STEPS, cfg=7.5, denoise=denoise,
                         settings=settings, progress=False, noise=noise)["samples"]


def frame_hints(frames: int, period: int | None = None, seed: int = 3) -> torch.Tensor:
    """DensePose-like IMAGE frames; with ``period`` frame i repeats frame i mod period."""
    hints = torch.rand(frames, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(seed))
    return hints[torch.arange(frames) % period] if period else hints


class NoiseRecorder:
    """An OUTER_SAMPLE wrapper (on a clone) keeping the unscaled noise the sampler is given."""

    def __init__(self):
        self.noise: list[torch.Tensor] = []

    def __call__(self, executor, noise, latent_image, *args, **kwargs):
        self.noise.append(noise.clone())
        return executor(noise, latent_image, *args, **kwargs)

    def attach(self, model):
        clone = model.clone()
        clone.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, "noise_test_recorder", self)
        return clone


def test_shared_noise_is_the_first_windows_noise_repeated():
    latent = torch.zeros(40, 4, 4, 4)
    noise = fusion_noise(latent, 7, NOISE_SHARED, WINDOW)
    assert torch.equal(noise[:WINDOW], comfy.sample.prepare_noise(torch.zeros(WINDOW, 4, 4, 4), 7))
    assert all(torch.equal(noise[i], noise[i % WINDOW]) for i in range(40))
    assert torch.equal(fusion_noise(latent, 7, NOISE_INDEPENDENT, WINDOW), comfy.sample.prepare_noise(latent, 7))
    for frames in (1, 9, WINDOW):  # one window: nothing repeats, KSampler's noise
        short = torch.zeros(frames, 4, 3, 5)
        assert torch.equal(fusion_noise(short, 7, NOISE_SHARED, WINDOW), comfy.sample.prepare_noise(short, 7))
    with pytest.raises(ValueError, match="noise 'same' is unknown.*'shared \\(MagicAnimate\\)'"):
        fusion_noise(latent, 7, "same", WINDOW)


def test_frames_16_apart_start_alike_and_differ_only_through_densepose_and_window(
        fusion_conds, densepose_cn, temporal_files):
    frames = 40
    latent = empty_latent(frames, SIZE)
    base = tiny_sd15_patcher(0)  # frame-local: a frame's prediction depends on its own noise and hint only

    def gap(out: torch.Tensor) -> float:
        return float((out[:frames - WINDOW] - out[WINDOW:]).abs().max() / out.abs().max())

    plain = fused(base, fusion_conds, latent)
    assert close(plain[:frames - WINDOW], plain[WINDOW:])
    periodic = fused(base, apply_densepose(*fusion_conds, densepose_cn, frame_hints(frames, WINDOW)), latent)
    # the ControlNet reuses overlap frames' residuals within a step, so some frames' come from batches of another
    # size: float rounding (measured 2.2e-5 relative), against 5.4e-3 for other poses below
    assert close(periodic[:frames - WINDOW], periodic[WINDOW:], rel=1e-4)
    other_poses = fused(base, apply_densepose(*fusion_conds, densepose_cn, frame_hints(frames)), latent)
    assert gap(other_poses) > 2e-3  # 20x the tolerance of "alike" above
    # temporal attention sees frame i and i + 16 at other positions of other windows
    temporal = apply_temporal_attention(base, load_temporal_file(str(temporal_files["v1"])))
    assert gap(fused(temporal, fusion_conds, latent)) > 1e-3


def test_16_frame_video_is_unchanged_by_the_option_and_equals_ksampler(fusion_conds):
    import nodes
    model = tiny_sd15_patcher(0)
    for frames in (8, WINDOW):
        latent = empty_latent(frames, SIZE)
        shared = fused(model, fusion_conds, latent)
        assert torch.equal(shared, fused(model, fusion_conds, latent, noise=NOISE_INDEPENDENT))
        expected = nodes.common_ksampler(apply_beta_schedule(model, MAGICANIMATE_BETA), 1, STEPS, 7.5, "ddim",
                                         "ddim_uniform", *fusion_conds, latent)[0]["samples"]
        assert torch.equal(shared, expected)


def test_40_frame_video_is_the_16_frame_video_repeated_for_a_frame_local_model(fusion_conds):
    model = tiny_sd15_patcher(0)
    video = fused(model, fusion_conds, empty_latent(40, SIZE), seed=4)
    first_window = fused(model, fusion_conds, empty_latent(WINDOW, SIZE), seed=4)
    assert video.shape == (40, 4, 4, 4) and torch.isfinite(video).all()
    assert close(video, first_window[torch.arange(40) % WINDOW])


def test_same_seed_same_video(fusion_conds, densepose_cn):
    model = tiny_sd15_patcher(0)
    conds = apply_densepose(*fusion_conds, densepose_cn, frame_hints(24))
    latent = empty_latent(24, SIZE)
    first = fused(model, conds, latent, seed=7)
    assert torch.equal(first, fused(model, conds, latent, seed=7))
    assert not torch.allclose(first, fused(model, conds, latent, seed=8))


def test_independent_equals_the_previous_sampler_bit_for_bit(fusion_conds, densepose_cn):
    model = tiny_sd15_patcher(0)
    positive, negative = apply_densepose(*fusion_conds, densepose_cn, frame_hints(40))
    latent = empty_latent(40, SIZE)
    got = fused(model, (positive, negative), latent, noise=NOISE_INDEPENDENT, seed=3)
    # the sampler before the option: KSampler's noise over the whole batch, the same fusion clone
    patched = fusion_model(model, SETTINGS, MAGICANIMATE_BETA)
    before = comfy.sample.sample(patched, comfy.sample.prepare_noise(latent["samples"], 3), STEPS, 7.5, "ddim",
                                 "ddim_uniform", positive, negative, latent["samples"], disable_pbar=True, seed=3)
    assert torch.equal(got, before)
    assert not torch.equal(got, fused(model, (positive, negative), latent, seed=3))


def test_denoise_below_one_uses_the_same_shared_noise(fusion_conds):
    recorder = NoiseRecorder()
    model = recorder.attach(tiny_sd15_patcher(0))
    source = torch.randn(WINDOW, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    latent = {"samples": source[torch.arange(40) % WINDOW]}
    out = fused(model, fusion_conds, latent, denoise=0.5, seed=9)
    (noise,) = recorder.noise
    assert torch.equal(noise, fusion_noise(latent["samples"], 9, NOISE_SHARED, WINDOW))
    assert close(out[:40 - WINDOW], out[WINDOW:])
    assert (out - latent["samples"]).abs().max() > 1e-3
