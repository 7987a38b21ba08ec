"""Temporal attention patched into a ComfyUI model clone: parity with diffusers' AnimateDiff, cross-frame
GroupNorm against a direct 5-D reference, chunk/frame semantics, and a base model that stays untouched."""
from __future__ import annotations

import logging

import comfy.model_management
import comfy.sample
import comfy.utils
import pytest
import torch
from harness.paths import OFFICIAL_TINY, requires_shared
from harness.reference_motion import motion_unet
from harness.tiny_models import TINY_UNET_CONFIG, tiny_sd15_patcher
from harness.tiny_temporal import TINY_WIDTHS, unet_forward

from magic_core.frame_contract import set_window
from magic_core.temporal.loading import load_temporal_file
from magic_core.temporal.patch import CHILD_NAME, apply_temporal_attention

FRAMES, CHUNKS, LATENT = 4, 2, 8
OFFICIAL_FILE = OFFICIAL_TINY / "MagicAnimate" / "temporal_attention" / "temporal_attention.ckpt"


def _inputs(frames: int = FRAMES, chunks: int = CHUNKS, seed: int = 0):
    """Latents [chunks*frames, 4, h, w] (chunk-major), one timestep and one text context per chunk."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(chunks * frames, 4, LATENT, LATENT, generator=gen)
    context = torch.randn(chunks, 77, 32, generator=gen)
    t = torch.full((chunks,), 601.0)
    return x, t.repeat_interleave(frames), context.repeat_interleave(frames, 0), context, t


def _comfy(patcher, frames: int = FRAMES, chunks: int = CHUNKS, x=None, **extra):
    xi, t, ctx, _, _ = _inputs(frames, chunks)
    return unet_forward(patcher, xi if x is None else x, t, ctx, [0, 1][:chunks] if chunks <= 2 else [0] * chunks,
                        extra)


def _diffusers_reference(base_patcher, weights, cross_frame_norm: bool, frames: int = FRAMES):
    """diffusers' own AnimateDiff UNet (UNetMotionModel + MotionAdapter) with the same weights."""
    from diffusers import UNet2DConditionModel

    unet2d = UNet2DConditionModel(sample_size=16, block_out_channels=TINY_WIDTHS, layers_per_block=2,
                                  cross_attention_dim=32, attention_head_dim=4, norm_num_groups=32)
    comfy_sd = base_patcher.model.diffusion_model.state_dict()
    mapping = comfy.utils.unet_to_diffusers(dict(TINY_UNET_CONFIG))
    unet2d.load_state_dict({d: comfy_sd[c] for d, c in mapping.items() if c in comfy_sd}, strict=True)
    model = motion_unet(unet2d, weights, cross_frame_norm, frames)
    x, _, _, context, t = _inputs(frames)
    sample = x.reshape(CHUNKS, frames, 4, LATENT, LATENT).transpose(1, 2)
    with torch.no_grad():
        out = model(sample, t, context.repeat_interleave(frames, 0)).sample  # diffusers 0.42 takes it per frame
    return out.transpose(1, 2).reshape(CHUNKS * frames, 4, LATENT, LATENT)


def _rel(a, b) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture(scope="module")
def base():
    """The image model every test patches (tests must leave it unchanged)."""
    return tiny_sd15_patcher(3)


@pytest.fixture(scope="module")
def plain(base):
    """The image model's prediction on the standard inputs."""
    return _comfy(base)


@pytest.fixture(scope="module")
def v1_weights(temporal_files):
    return load_temporal_file(str(temporal_files["v1"]))


@pytest.mark.parametrize(("which", "cross_frame_norm"), [("official", False), ("official", True), ("v2", False)])
def test_parity_with_diffusers_animatediff(which, cross_frame_norm, temporal_files, base, plain):
    path = requires_shared(OFFICIAL_FILE) if which == "official" else temporal_files["v2"]
    weights = load_temporal_file(str(path))
    patched = apply_temporal_attention(base, weights, 1.0, cross_frame_norm)
    ours = _comfy(patched)
    reference = _diffusers_reference(base, weights, cross_frame_norm)
    logging.info("temporal parity %s cross_frame_norm=%s: max rel. error %.2e", which, cross_frame_norm,
                 _rel(ours, reference))
    assert _rel(plain, reference) > 1e-2, "the temporal modules must change the prediction for this to mean anything"
    assert _rel(ours, reference) < 1e-4


def test_cross_frame_norm_changes_only_the_patched_clone(v1_weights, base):
    on = _comfy(apply_temporal_attention(base, v1_weights, 1.0, True))
    off = _comfy(apply_temporal_attention(base, v1_weights, 1.0, False))
    assert _rel(on, off) > 1e-3
    assert not any(n._forward_hooks or n._forward_pre_hooks for n in base.model.diffusion_model.modules())


def test_chunks_are_independent_and_frames_attend(v1_weights, base, plain):
    patched = apply_temporal_attention(base, v1_weights, 1.0, True)
    x, *_ = _inputs()
    ref = _comfy(patched, x=x)
    other_uncond = x.clone()
    other_uncond[FRAMES:] = torch.randn_like(other_uncond[FRAMES:])
    moved = _comfy(patched, x=other_uncond)
    assert torch.allclose(moved[:FRAMES], ref[:FRAMES], atol=1e-5), "the cond chunk saw the uncond chunk"
    other_frame = x.clone()
    other_frame[FRAMES - 1] = torch.randn_like(other_frame[FRAMES - 1])
    assert _rel(_comfy(patched, x=other_frame)[0], ref[0]) > 1e-3, "frame 0 did not attend to frame 3"
    assert torch.allclose(_comfy(base, x=other_frame)[0], plain[0], atol=1e-6)


def test_strength_zero_is_the_image_model_and_one_frame_works(v1_weights, base, plain):
    assert torch.equal(_comfy(apply_temporal_attention(base, v1_weights, 0.0, True)), plain)
    half = _comfy(apply_temporal_attention(base, v1_weights, 0.5, False))
    full = _comfy(apply_temporal_attention(base, v1_weights, 1.0, False))
    assert _rel(half, plain) > 1e-3 and _rel(half, full) > 1e-3  # strength is used, not just on/off
    one = _comfy(apply_temporal_attention(base, v1_weights, 1.0, True), frames=1, chunks=1)
    assert one.shape == (1, 4, LATENT, LATENT) and torch.isfinite(one).all()
    assert torch.allclose(one, _comfy(apply_temporal_attention(base, v1_weights, 1.0, False), frames=1, chunks=1))


def test_window_longer_than_encoding_is_a_clear_error(v1_weights, temporal_files, base):
    with pytest.raises(ValueError, match=r"window of 25 frames is longer than the 24-frame positional encoding"):
        _comfy(apply_temporal_attention(base, v1_weights), frames=25, chunks=1)
    v3 = load_temporal_file(str(temporal_files["v3"]))
    assert torch.isfinite(_comfy(apply_temporal_attention(base, v3), frames=25, chunks=1)).all()


def test_fusion_sampler_checks_the_window_before_any_model_loads(v1_weights, base, monkeypatch):
    """The encoding length is recorded at patch time, so the fusion sampler refuses a too-long window at once."""
    from harness.latents import empty_latent

    from magic_core.call_options import temporal_encoding
    from magic_core.fusion import FusionSettings, fusion_sample

    patched = apply_temporal_attention(base, v1_weights)
    assert temporal_encoding(patched.model_options["transformer_options"]) == (24, v1_weights.name)

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the window check")

    monkeypatch.setattr(comfy.model_management, "load_models_gpu", no_loading)
    with pytest.raises(ValueError, match=r"window of 30 frames is longer than the 24-frame positional encoding"):
        fusion_sample(patched, [], [], empty_latent(30), settings=FusionSettings(30, 4), progress=False)
    with pytest.raises(ValueError, match=r"window of 25 frames"):   # a video as long as the window: one window
        fusion_sample(patched, [], [], empty_latent(25), settings=FusionSettings(4096, 4), progress=False)
    with pytest.raises(AssertionError, match="a model was loaded"):   # 24 frames fit: sampling goes on to load
        fusion_sample(patched, [], [], empty_latent(24), settings=FusionSettings(4096, 4), progress=False)


def test_sampler_window_sets_the_frames(v1_weights, base):
    """With a fusion-sampler window the module attends over the window's frames (the batch of one chunk)."""
    patched = apply_temporal_attention(base, v1_weights)
    window: dict = {}
    set_window(window, [5, 6, 7, 0], 9)
    assert torch.allclose(_comfy(patched, **window), _comfy(patched), atol=1e-6)
    set_window(window, [0, 1], 9)
    with pytest.raises(ValueError, match="window has 2 frames"):
        _comfy(patched, **window)


def test_model_width_mismatch(temporal_files):
    wide = load_temporal_file(str(temporal_files["wide"]))
    with pytest.raises(ValueError, match=r"width 64 at down_blocks.0.motion_modules.0 but the model's block"):
        apply_temporal_attention(tiny_sd15_patcher(3), wide)


def _snapshot(patcher):
    unet = patcher.model.diffusion_model
    return ([n for n, _ in unet.named_modules()], {k: v.clone() for k, v in unet.state_dict().items()})


def _assert_untouched(base, before_modules, before_sd, before_out):
    comfy.model_management.unload_all_models()
    unet = base.model.diffusion_model
    assert [n for n, _ in unet.named_modules()] == before_modules
    assert not any(CHILD_NAME in n for n in before_modules)
    after = unet.state_dict()
    assert after.keys() == before_sd.keys() and all(torch.equal(after[k], v) for k, v in before_sd.items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in unet.modules())
    assert torch.equal(_comfy(base), before_out)


def _sample(patcher, frames: int, callback=None):
    latent = torch.zeros(frames, 4, LATENT, LATENT)
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(0))
    cond = [[torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(1)), {}]]
    uncond = [[torch.zeros(1, 77, 32), {}]]
    return comfy.sample.sample(patcher, noise, 1, 3.0, "euler", "normal", cond, uncond, latent, callback=callback,
                               disable_pbar=True, seed=0)


@pytest.mark.slow
def test_base_model_untouched_after_sampling_interrupt_and_error(v1_weights, base, plain):
    before_out = plain
    modules, state = _snapshot(base)
    patched = apply_temporal_attention(base, v1_weights)
    samples = _sample(patched, FRAMES)
    assert samples.shape == (FRAMES, 4, LATENT, LATENT) and torch.isfinite(samples).all()
    _assert_untouched(base, modules, state, before_out)

    def interrupt(step, *args):
        comfy.model_management.interrupt_current_processing(True)
        comfy.model_management.throw_exception_if_processing_interrupted()

    with pytest.raises(comfy.model_management.InterruptProcessingException):
        _sample(patched, FRAMES, callback=interrupt)
    _assert_untouched(base, modules, state, before_out)
    with pytest.raises(ValueError, match="25 frames"):
        _sample(patched, 25)
    _assert_untouched(base, modules, state, before_out)


@pytest.mark.slow
def test_clones_with_different_temporal_modules_are_independent(v1_weights, temporal_files, base):
    other = load_temporal_file(str(temporal_files["v1_other"]))
    a = apply_temporal_attention(base, v1_weights)
    b = apply_temporal_attention(base, other, 0.7, False)
    out_a = _comfy(a)
    out_b = _comfy(b)
    assert _rel(out_a, out_b) > 1e-3
    again = apply_temporal_attention(a, other, 0.7, False)  # re-applying replaces, never stacks
    assert torch.allclose(_comfy(again), out_b, atol=1e-6)
    assert torch.equal(_comfy(a), out_a)
