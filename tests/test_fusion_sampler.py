"""The fusion sampler on the tiny SD1.5 model: equal to KSampler where it must be, windows where it must window."""
from __future__ import annotations

import inspect

import comfy.model_management
import comfy.samplers
import pytest
import torch
from harness.latents import empty_latent
from harness.tiny_models import tiny_sd15_patcher

from magic_core.fusion.beta_schedule import MAGICANIMATE_BETA, MODEL_DEFAULT_BETA, apply_beta_schedule
from magic_core.fusion.context import WRAPPER_KEY, FusionContextHandler
from magic_core.fusion.noise import NOISE_INDEPENDENT
from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings, context_windows

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

STEPS = 3


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    """Equal up to float32 rounding of a different batching, relative to the tensors' magnitude."""
    return torch.allclose(a, b, rtol=rel, atol=rel * float(b.abs().max()))


def ksampler(model, conds, latent, seed=1, steps=STEPS, cfg=7.5, sampler="ddim", scheduler="ddim_uniform",
             denoise=1.0, beta=MAGICANIMATE_BETA) -> torch.Tensor:
    """ComfyUI's own KSampler node path (common_ksampler), on the same beta schedule."""
    import nodes
    model = apply_beta_schedule(model, beta)
    return nodes.common_ksampler(model, seed, steps, cfg, sampler, scheduler, conds[0], conds[1], latent,
                                 denoise=denoise)[0]["samples"]


def fused(model, conds, latent, settings=None, seed=1, steps=STEPS, sampler="ddim", scheduler="ddim_uniform",
          denoise=1.0, beta=MAGICANIMATE_BETA, noise=NOISE_INDEPENDENT, **kwargs) -> torch.Tensor:
    """The fusion sampler with KSampler's noise (independent per frame), to compare with KSampler."""
    return fusion_sample(model, conds[0], conds[1], latent, seed=seed, steps=steps, cfg=7.5, sampler_name=sampler,
                         scheduler=scheduler, denoise=denoise, settings=settings or FusionSettings(),
                         beta_schedule=beta, progress=False, noise=noise, **kwargs)["samples"]


def test_magicanimate_beta_schedule_walks_the_original_timesteps():
    model = tiny_sd15_patcher(0)
    patched = apply_beta_schedule(model, MAGICANIMATE_BETA)
    sampling = patched.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "ddim_uniform", 25)
    timesteps = sampling.timestep(sigmas[:-1]).round().int().tolist()
    assert timesteps == list(range(961, 0, -40))
    assert sigmas[-1] == 0
    # diffusers "linear" betas = ComfyUI sqrt_linear: beta_t = linspace(0.00085, 0.012, 1000)
    betas = torch.linspace(0.00085, 0.012, 1000, dtype=torch.float64)
    expected = ((1 - torch.cumprod(1 - betas, 0)) / torch.cumprod(1 - betas, 0)) ** 0.5
    assert torch.allclose(sampling.sigmas.double(), expected, rtol=1e-5)
    # the model given is untouched; its own schedule (SD1.5 "linear") differs
    own = model.get_model_object("model_sampling")
    assert own is not sampling and not torch.allclose(own.sigmas, sampling.sigmas)
    assert apply_beta_schedule(model, MODEL_DEFAULT_BETA).get_model_object("model_sampling") is own
    with pytest.raises(ValueError, match="beta_schedule 'linear' is unknown"):
        apply_beta_schedule(model, "linear")


@pytest.mark.parametrize("frames", [1, 8, 16])
@pytest.mark.parametrize("beta", [MAGICANIMATE_BETA, MODEL_DEFAULT_BETA])
def test_short_video_equals_core_ksampler_bit_for_bit(fusion_conds, frames, beta):
    model = tiny_sd15_patcher(0)
    latent = empty_latent(frames)
    expected = ksampler(model, fusion_conds, latent, beta=beta)
    got = fused(model, fusion_conds, latent, FusionSettings(context_frames=16), beta=beta)
    assert torch.equal(got, expected)
    assert got.device == comfy.model_management.intermediate_device()


@pytest.mark.parametrize("fuse_method", ["flat", "pyramid", "overlap_linear", "gaussian"])
def test_windowed_fusion_equals_unwindowed_for_a_frame_local_model(fusion_conds, record_model_calls, fuse_method):
    # The tiny SD1.5 UNet has no temporal layers: each frame's prediction depends on that frame only, so any
    # weighted average of window predictions must equal the whole-video prediction.
    model = tiny_sd15_patcher(0)
    latent = empty_latent(40)
    expected = ksampler(model, fusion_conds, latent)
    recorded, calls = record_model_calls(model)
    got = fused(recorded, fusion_conds, latent, FusionSettings(16, 4, 1, True, "uniform", fuse_method))
    assert max(calls.batches) == 32 and len(calls.batches) == STEPS * 4  # 4 windows x (cond + uncond)
    assert close(got, expected), (got - expected).abs().max()


@pytest.mark.slow
def test_denoise_and_other_samplers_with_shifting_windows(fusion_conds):
    model = tiny_sd15_patcher(0)
    gen = torch.Generator().manual_seed(5)
    latent = {"samples": torch.randn(24, 4, 4, 4, generator=gen)}
    settings = FusionSettings(8, 2, 2, False, "uniform_shifting", "pyramid")
    for sampler, scheduler, denoise in [("ddim", "ddim_uniform", 0.5), ("euler_ancestral", "karras", 0.7),
                                        ("dpmpp_2s_ancestral", "normal", 1.0)]:
        expected = ksampler(model, fusion_conds, latent, sampler=sampler, scheduler=scheduler, denoise=denoise)
        got = fused(model, fusion_conds, latent, settings, sampler=sampler, scheduler=scheduler, denoise=denoise)
        assert close(got, expected), (sampler, (got - expected).abs().max())
    # video-to-video keeps the input's content: lower denoise stays closer to it
    far = fused(model, fusion_conds, latent, settings, denoise=0.9)
    near = fused(model, fusion_conds, latent, settings, denoise=0.2)
    assert (near - latent["samples"]).norm() < (far - latent["samples"]).norm()


def test_same_seed_same_result(fusion_conds):
    model = tiny_sd15_patcher(0)
    latent = empty_latent(20)
    settings = FusionSettings(8, 2, 1, True)
    first = fused(model, fusion_conds, latent, settings, seed=7)
    assert torch.equal(first, fused(model, fusion_conds, latent, settings, seed=7))
    assert not torch.allclose(first, fused(model, fusion_conds, latent, settings, seed=8))


def test_120_frames_model_sees_one_window_at_a_time(fusion_conds, record_model_calls, monkeypatch):
    model = tiny_sd15_patcher(0)
    frames, settings = 120, FusionSettings(16, 4, 1, True)
    estimates: list[int] = []
    real_memory_required = model.model.memory_required

    def spy(input_shape, *args, **kwargs):
        estimates.append(int(input_shape[0]))
        return real_memory_required(input_shape, *args, **kwargs)

    monkeypatch.setattr(model.model, "memory_required", spy)  # this test's own model instance only
    recorded, calls = record_model_calls(model)
    out = fused(recorded, fusion_conds, empty_latent(frames), settings, steps=2)
    assert out.shape == (frames, 4, 4, 4) and torch.isfinite(out).all()
    windows = context_windows(frames, settings)
    assert len(windows) == 10
    assert max(calls.batches) == 16 * 2  # one window x (cond, uncond)
    assert estimates and max(estimates) <= 16 * 2  # VRAM estimate (prepare_sampling) sized for one window
    # every call tells the patches which frames it holds (frame contract), window by window, step by step
    seen = [(layout.frame_indices, tuple(sorted(layout.chunks)), layout.video_frames) for layout in calls.layouts]
    per_step = [(tuple(w), (0, 1), frames) for w in windows]
    assert seen == per_step * 2


def test_interrupt_leaves_model_unpatched_and_next_run_equals_fresh(fusion_conds, record_model_calls):
    model = tiny_sd15_patcher(0)
    options_before = repr(model.model_options)
    latent = empty_latent(40)
    settings = FusionSettings(16, 4, 1, True)
    interrupted, calls = record_model_calls(model, interrupt_after=3)  # mid-step, between windows
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        fused(interrupted, fusion_conds, latent, settings)
    assert len(calls.batches) == 3
    assert repr(model.model_options) == options_before and "context_handler" not in model.model_options
    assert not model.wrappers and not model.object_patches
    fresh = tiny_sd15_patcher(0)
    assert torch.equal(fused(model, fusion_conds, latent, settings), fused(fresh, fusion_conds, latent, settings))
    # a plain KSampler on the model afterwards runs on its own schedule, as on a fresh model
    assert torch.equal(ksampler(model, fusion_conds, latent, beta=MODEL_DEFAULT_BETA),
                       ksampler(fresh, fusion_conds, latent, beta=MODEL_DEFAULT_BETA))


def test_progress_bar_counts_steps(fusion_conds, monkeypatch):
    import comfy.utils
    # ComfyUI 0.4+ throttles the intermediate updates it forwards to the UI (0.1 s apart); count every one.
    monkeypatch.setattr(comfy.utils, "PROGRESS_THROTTLE_MIN_INTERVAL", 0.0, raising=False)
    updates: list[tuple[int, int]] = []
    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append((value, total)))
    try:
        fusion_sample(tiny_sd15_patcher(0), *fusion_conds, empty_latent(20), steps=4,
                      settings=FusionSettings(8, 2))
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
    assert updates == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_fusion_clone_carries_handler_and_window_sized_estimate():
    from magic_core.fusion.sampler import fusion_model
    model = tiny_sd15_patcher(0)
    patched = fusion_model(model, FusionSettings(12, 3))
    handler = patched.model_options["context_handler"]
    assert isinstance(handler, FusionContextHandler) and handler.settings.context_frames == 12
    import comfy.patcher_extension
    assert patched.wrappers[comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING][WRAPPER_KEY]
    assert "context_handler" not in model.model_options and not model.wrappers
    assert "model_sampling" in patched.object_patches and not model.object_patches  # one clone carries both


@pytest.mark.parametrize("latent, words", [
    ({"samples": torch.zeros(0, 4, 4, 4)}, ["latent_image", "0 frames", "batch_size"]),
    ({"samples": torch.zeros(1, 4, 8, 4, 4)}, ["latent_image", "(1, 4, 8, 4, 4)", "[frames, channels"]),
    ({}, ["latent_image", "LATENT"]),
])
def test_bad_latent_is_a_clear_error(fusion_conds, latent, words):
    with pytest.raises(ValueError) as err:
        fusion_sample(tiny_sd15_patcher(0), *fusion_conds, latent, progress=False)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_sampler_and_overlap_are_clear_errors(fusion_conds):
    with pytest.raises(ValueError, match="sampler_name 'dpm9'.*'ddim'"):
        fusion_sample(tiny_sd15_patcher(0), *fusion_conds, empty_latent(4), sampler_name="dpm9", progress=False)
    with pytest.raises(ValueError, match="context_overlap is 16 with context_frames 16"):
        fusion_sample(tiny_sd15_patcher(0), *fusion_conds, empty_latent(4),
                      settings=FusionSettings(context_overlap=16), progress=False)


def test_model_from_core_context_windows_samples_with_the_fusion_windows(fusion_conds, record_model_calls):
    """A model that went through core's Context Windows node: the fusion sampler replaces core's handler and
    the wrappers core added beside it (they read attributes only core's handler has)."""
    from comfy_extras.nodes_context_windows import ContextWindowsManualNode

    model = tiny_sd15_patcher(0)
    inputs = {i.id: i.default for i in ContextWindowsManualNode.define_schema().inputs if i.id != "model"}
    inputs.update(context_length=8, context_overlap=2, context_schedule="standard_static", freenoise=True)
    # (freenoise: 0.4+ adds a second wrapper)
    inputs = {k: v for k, v in inputs.items() if k in inspect.signature(ContextWindowsManualNode.execute).parameters}
    core = ContextWindowsManualNode.execute(model=model, **inputs).result[0]
    assert core.model_options.get("context_handler") is not None
    recorded, calls = record_model_calls(core)
    latent = empty_latent(20)
    settings = FusionSettings(8, 2)
    out = fused(recorded, fusion_conds, latent, settings)
    assert set(calls.batches) == {16}  # windows of 8 frames x cond/uncond, not core's
    windows = [tuple(w) for w in context_windows(20, settings, 0)]
    assert [layout.frame_indices for layout in calls.layouts[:len(windows)]] == windows
    assert torch.equal(out, fused(tiny_sd15_patcher(0), fusion_conds, latent, settings))
    assert core.model_options.get("context_handler") is not None and core.wrappers, "the given model was changed"
    from magic_core.fusion.sampler import fusion_model
    from magic_core.notices import NoticeBoard

    board = NoticeBoard()
    fusion_model(core, settings, notices=board)
    assert "already had a context handler" in board.text and "replace it" in board.text   # said on the node
    quiet = NoticeBoard()
    fusion_model(model, settings, notices=quiet)
    assert quiet.messages == []
