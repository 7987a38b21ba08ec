"""Appearance encoder: loading the official format, parity with a diffusers reference of the original's
write/read banks, once-per-step encoder runs, patch hygiene, strength, and clear errors for bad input."""
from __future__ import annotations

import gc
import logging
import shutil

import comfy.model_management
import comfy.patcher_extension
import comfy.sample
import comfy.utils
import pytest
import torch
from harness.recorders import ModelCalls
from harness.tiny_appearance import ENCODER_FILE, DiffusersReference, official_base_patcher
from harness.tiny_models import tiny_taesd_vae

from magic_core.appearance.blocks import fused_blocks, transformer_blocks
from magic_core.appearance.loading import load_appearance_encoder
from magic_core.appearance.patch import apply_appearance_encoder
from magic_core.appearance.reference import (
    ReferenceAttentionPatch,
    ReferenceAttentionReplace,
    ReferenceBank,
    run_encoder,
)
from magic_core.appearance.source import ReferenceImageError
from magic_core.checkpoints import CheckpointError
from magic_core.frame_contract import frame_layout, set_window

LATENT = 8  # tiny latents of 8x8 <-> 64x64 images
SD15_SCALE = 0.18215


def _text(seed: int) -> torch.Tensor:
    return torch.randn((1, 77, 32), generator=torch.Generator().manual_seed(seed))


def _image(seed: int, height: int = 64, width: int = 64) -> torch.Tensor:
    return torch.rand((1, height, width, 3), generator=torch.Generator().manual_seed(seed))


def _sample(model, frames: int = 2, steps: int = 1, cfg: float = 3.0, callback=None) -> torch.Tensor:
    latent = torch.zeros((frames, 4, LATENT, LATENT))
    noise = comfy.sample.prepare_noise(latent, 11)
    return comfy.sample.sample(model, noise, steps, cfg, "euler", "normal", [[_text(1), {}]], [[_text(2), {}]],
                               latent, callback=callback, disable_pbar=True, seed=11)


def _capture() -> ModelCalls:
    """A recorder of every UNet call (inputs, chunks, output, the step's bank)."""
    return ModelCalls(with_layout=False, keep_tensors=True, watch=ReferenceBank)


class _CountCalls:
    def __init__(self, module: torch.nn.Module):
        self.count = 0
        self.handle = module.register_forward_pre_hook(self._hook)

    def _hook(self, *args):
        self.count += 1


@pytest.fixture(scope="module")
def base(official_tiny, comfy_host):
    return official_base_patcher(official_tiny)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


# --- loading ---------------------------------------------------------------------------------------------

def test_official_tiny_encoder_loads_with_cut_down_block(appearance_encoder, official_tiny):
    enc = appearance_encoder
    assert len(enc.blocks) == 16 and len(fused_blocks(enc.blocks, "midup")) == 10
    assert enc.blocks[-1].module_path == "output_blocks.11.1.transformer_blocks.0"
    for pruned in ("out", "output_blocks.11.1.proj_out", "output_blocks.11.1.transformer_blocks.0.attn1",
                   "output_blocks.11.1.transformer_blocks.0.ff"):
        assert pruned in enc.pruned and isinstance(enc.unet.get_submodule(pruned), torch.nn.Identity)
    sd = comfy.utils.load_torch_file(str(official_tiny / ENCODER_FILE), safe_load=True)
    unet = enc.unet
    assert torch.equal(unet.input_blocks[0][0].weight, sd["conv_in.weight"])
    assert torch.equal(unet.output_blocks[11][1].transformer_blocks[0].norm1.weight,
                       sd["up_blocks.3.attentions.2.transformer_blocks.0.norm1.weight"])
    assert torch.equal(unet.output_blocks[11][1].proj_in.weight, sd["up_blocks.3.attentions.2.proj_in.weight"])


def test_encoder_run_records_norm1_and_computes_nothing_after(appearance_encoder):
    enc = appearance_encoder
    keys = [b.key for b in fused_blocks(enc.blocks, "midup")]
    last_norm1 = _CountCalls(enc.unet.output_blocks[11][1].transformer_blocks[0].norm1)
    skipped = [_CountCalls(enc.unet.get_submodule(p)) for p in enc.pruned]
    try:
        states = run_encoder(enc, keys, torch.randn(1, 4, LATENT, LATENT), torch.tensor([500.0]), _text(1))
    finally:
        for c in [last_norm1, *skipped]:
            c.handle.remove()
    assert last_norm1.count == 1 and all(c.count == 0 for c in skipped)
    assert list(states) == keys
    assert states[("middle", 0, 0)].shape == (1, 1, 64) and states[("output", 11, 0)].shape == (1, 64, 32)


def test_single_file_comfyui_format_encoder_loads(comfy_host, appearance_encoder, tmp_path):
    path = tmp_path / "encoder_comfy.safetensors"
    sd = {"model.diffusion_model." + k: v.contiguous() for k, v in appearance_encoder.unet.state_dict().items()}
    comfy.utils.save_torch_file(sd, str(path))
    enc = load_appearance_encoder(str(path))
    assert [b.key for b in enc.blocks] == [b.key for b in appearance_encoder.blocks]
    for key, value in appearance_encoder.unet.state_dict().items():
        assert torch.equal(enc.unet.state_dict()[key], value), key


# --- parity with the diffusers reference ---------------------------------------------------------------------

def test_parity_with_diffusers_reference_banks(base, appearance_encoder, official_tiny):
    reference = DiffusersReference(official_tiny)
    assert all(k.startswith(("conv_out.", "conv_norm_out.", "up_blocks.3.attentions.2."))
               for k in reference.encoder_missing)
    vae = tiny_taesd_vae()
    image = _image(5)
    ref_latent = vae.encode(image) * SD15_SCALE  # latent mean x 0.18215, clean
    capture = _capture()
    patched = capture.attach(apply_appearance_encoder(base, appearance_encoder, vae, image))
    _sample(patched, frames=2, steps=2)
    assert len(capture.calls) == 2 and not torch.equal(capture.calls[0].t, capture.calls[1].t)
    unpatched_unet = base.model.diffusion_model
    effects = []
    for call in capture.calls:
        layout = frame_layout({"cond_or_uncond": call.chunks}, call.x.shape[0])
        mask = torch.zeros(call.x.shape[0], dtype=torch.bool)
        for chunk in layout.cond_chunks():
            mask[layout.chunk_slice(chunk)] = True
        assert mask.any() and (~mask).any()
        expected = reference.predict(call.x, call.t, call.context, mask, ref_latent, _text(1))
        with torch.no_grad():
            plain = unpatched_unet(call.x, call.t, call.context, transformer_options={})
        got = call.out
        error = _rel(got[mask], expected[mask])
        logging.info("appearance parity: cond relative error %.3g", error)
        assert error < 1e-4
        effects.append(_rel(plain[mask], expected[mask]))
        assert effects[-1] > 100 * error
        # uncond: plain self-attention (keys duplicated in a mixed batch: equal up to float rounding)
        assert _rel(got[~mask], plain[~mask]) < 1e-5 and float((got[~mask] - plain[~mask]).abs().max()) < 1e-5
        assert _rel(got[~mask], expected[~mask]) < 1e-4
    assert max(effects) > 1e-3  # the reference attention changes the cond prediction far beyond the tolerance


# --- once per step, windows, hygiene ---------------------------------------------------------------------

def _two_windows(executor, model, conds, x_in, timestep, model_options):
    """Simulates a window sampler: two overlapping windows per step, averaged (as the fusion sampler does)."""
    frames = x_in.shape[0]
    windows = [list(range(0, 3)), list(range(frames - 3, frames))]
    outs, counts = None, torch.zeros(frames, device=x_in.device)
    for idx in windows:
        options = dict(model_options)
        options["transformer_options"] = dict(model_options.get("transformer_options", {}))
        set_window(options["transformer_options"], idx, frames)
        res = executor(model, conds, x_in[idx], timestep[idx], options)
        outs = outs or [torch.zeros_like(x_in) if r is not None else None for r in res]
        for o, r in zip(outs, res, strict=True):
            if r is not None:
                o[idx] += r
        counts[idx] += 1
    return [o / counts.view(-1, 1, 1, 1) if o is not None else None for o in outs]


@pytest.mark.slow
@pytest.mark.parametrize("frames,windows", [(1, False), (5, True)])
def test_encoder_runs_once_per_step(base, appearance_encoder, frames, windows):
    capture = _capture()
    patched = capture.attach(apply_appearance_encoder(base, appearance_encoder, tiny_taesd_vae(), _image(5)))
    if windows:
        patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.CALC_COND_BATCH, "test_windows",
                                     _two_windows)
    counter = _CountCalls(appearance_encoder.unet)
    try:
        _sample(patched, frames=frames, steps=3)
    finally:
        counter.handle.remove()
    assert counter.count == 3
    assert len(capture.calls) == (6 if windows else 3)
    assert len(capture.watched) == len(capture.calls) and len({id(b()) for b in capture.watched}) <= 3


def _snapshot(model) -> dict:
    return {"options": repr(model.model_options), "wrappers": repr(model.wrappers),
            "additional": list(model.additional_models), "attachments": list(model.attachments),
            "weights": {k: v.clone() for k, v in model.model.diffusion_model.state_dict().items()}}


def _assert_same(before: dict, after: dict) -> None:
    assert {k: v for k, v in before.items() if k != "weights"} == {k: v for k, v in after.items() if k != "weights"}
    assert all(torch.equal(v, after["weights"][k]) for k, v in before["weights"].items())


def test_base_untouched_after_sampling_and_interrupt_and_states_dropped(base, appearance_encoder):
    plain_before = _sample(base)
    before = _snapshot(base)
    capture = _capture()
    patched = capture.attach(apply_appearance_encoder(base, appearance_encoder, tiny_taesd_vae(), _image(5)))
    out = _sample(patched)
    assert not torch.equal(out, plain_before)
    _assert_same(before, _snapshot(base))

    def interrupt(step, *args):
        if step == 1:
            raise comfy.model_management.InterruptProcessingException()

    with pytest.raises(comfy.model_management.InterruptProcessingException):
        _sample(patched, steps=3, callback=interrupt)
    _assert_same(before, _snapshot(base))
    capture.calls.clear()
    gc.collect()
    assert capture.watched and all(b() is None for b in capture.watched), "reference states outlived sampling"
    assert torch.equal(_sample(base), plain_before)
    assert torch.equal(_sample(patched), out)  # the interrupted patch still works the same


def test_clones_independent_and_strength(base, appearance_encoder):
    vae = tiny_taesd_vae()
    plain = _sample(base)
    a = apply_appearance_encoder(base, appearance_encoder, vae, _image(5))
    a_options = repr(a.model_options)
    b = apply_appearance_encoder(a.clone(), appearance_encoder, vae, _image(6), strength=0.0)
    c = apply_appearance_encoder(base, appearance_encoder, vae, _image(6))
    assert repr(a.model_options) == a_options
    out_a, out_b, out_c = _sample(a), _sample(b), _sample(c)
    assert torch.equal(out_a, out_b)  # strength 0 adds nothing to the clone
    assert not torch.equal(out_a, out_c)
    assert torch.equal(_sample(apply_appearance_encoder(base, appearance_encoder, vae, _image(5), strength=0.0)),
                       plain)
    small = _sample(apply_appearance_encoder(base, appearance_encoder, vae, _image(5), strength=1e-3))
    assert _rel(small, plain) < 0.01 * _rel(out_a, plain)  # continuous at 0
    # start/end percent: "normal" with 2 steps has sigmas 14.6, 0.029; start 0.5 (sigma ~1) skips the first step
    counter = _CountCalls(appearance_encoder.unet)
    try:
        late = _sample(apply_appearance_encoder(base, appearance_encoder, vae, _image(5), start_percent=0.5), steps=2)
        assert counter.count == 1 and not torch.equal(late, _sample(base, steps=2))
        never = _sample(apply_appearance_encoder(base, appearance_encoder, vae, _image(5), start_percent=0.5,
                                                 end_percent=0.5), steps=2)
        assert counter.count == 1 and torch.equal(never, _sample(base, steps=2))
    finally:
        counter.handle.remove()


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_fast_read_side_equals_plain_patch_form(base, appearance_encoder, strength):
    """The per-block replace (reference projected once, plain self-attention for uncond rows) computes what the
    plain ``attn1`` patch form (concat for every row, reference projected per frame) computes, under CFG."""
    fast = apply_appearance_encoder(base, appearance_encoder, tiny_taesd_vae(), _image(5), strength=strength)
    replaces = fast.model_options["transformer_options"]["patches_replace"]["attn1"]
    assert replaces and all(isinstance(r, ReferenceAttentionReplace) for r in replaces.values())
    plain = fast.clone()
    del plain.model_options["transformer_options"]["patches_replace"]["attn1"]
    plain.set_model_attn1_patch(ReferenceAttentionPatch(next(iter(replaces.values())).bank_key))
    assert fast.model_options["transformer_options"]["patches_replace"]["attn1"] is replaces   # clone's own copy
    fast_out, plain_out = _sample(fast, frames=3, cfg=3.0), _sample(plain, frames=3, cfg=3.0)
    assert _rel(fast_out, plain_out) < 1e-5                     # float rounding only
    assert _rel(fast_out, _sample(base, frames=3, cfg=3.0)) > 1e-3   # and the reference does matter


def test_clone_keeps_the_live_attention_modules(base, appearance_encoder):
    patched = apply_appearance_encoder(base, appearance_encoder, tiny_taesd_vae(), _image(5))
    unet = base.model.diffusion_model
    for key, replace in patched.clone().model_options["transformer_options"]["patches_replace"]["attn1"].items():
        assert replace.attention is unet.get_submodule(
            {b.key: b.module_path for b in transformer_blocks(unet)}[key]).attn1   # not a deep copy


def test_reference_resized_by_centre_crop(base, appearance_encoder):
    """A 32x96 reference (aspect 3:1) is centre-cropped to 32x32 and resized to 64x64 for 8x8 latents."""
    from magic_core.appearance.source import ReferenceLatentSource

    vae = tiny_taesd_vae()
    wide = torch.rand((1, 32, 96, 3), generator=torch.Generator().manual_seed(3))
    latent = ReferenceLatentSource(vae, wide).latent((LATENT, LATENT), base.model)
    centre = comfy.utils.common_upscale(wide[:, :, 32:64].movedim(-1, 1), 64, 64, "bicubic", "disabled")
    expected = vae.encode(centre.clamp(0, 1).movedim(1, -1)) * SD15_SCALE
    assert latent.shape == (1, 4, LATENT, LATENT)
    torch.testing.assert_close(latent, expected, rtol=1e-4, atol=1e-5)


def test_reference_pad_keeps_all_of_it_with_its_edge_pixels(base, appearance_encoder):
    """A 96x32 portrait reference for a square video: padded left and right (32 columns each, repeating its
    edge columns) to 96x96, then resized to 64x64; nothing of the image is cut."""
    from magic_core.appearance.fit import pad_to_aspect
    from magic_core.appearance.source import ReferenceLatentSource

    vae = tiny_taesd_vae()
    tall = torch.rand((1, 96, 32, 3), generator=torch.Generator().manual_seed(4))
    padded = pad_to_aspect(tall.movedim(-1, 1), (64, 64))
    assert padded.shape == (1, 3, 96, 96)
    assert torch.equal(padded[:, :, :, 32:64], tall.movedim(-1, 1))
    assert torch.equal(padded[:, :, :, 0], tall[:, :, 0].movedim(-1, 1))        # edge column repeated
    assert torch.equal(padded[:, :, :, 95], tall[:, :, 31].movedim(-1, 1))
    latent = ReferenceLatentSource(vae, tall, "pad").latent((LATENT, LATENT), base.model)
    resized = comfy.utils.common_upscale(padded, 64, 64, "bicubic", "disabled")
    expected = vae.encode(resized.clamp(0, 1).movedim(1, -1)) * SD15_SCALE
    torch.testing.assert_close(latent, expected, rtol=1e-4, atol=1e-5)


def test_large_reference_crop_is_a_warning_with_the_numbers():
    from magic_core.appearance.fit import crop_kept, say_crop
    from magic_core.notices import NoticeBoard

    kept, side = crop_kept((960, 540), (288, 512))          # the portrait photo, a 16:9 video
    assert side == "height" and round(kept * 100) == 32
    board = NoticeBoard()
    say_crop((960, 540), (288, 512), board)
    assert len(board.messages) == 1
    assert all(w in board.text for w in ("540x960", "512x288", "32% of its height", "reference_fit to pad"))
    quiet = NoticeBoard()
    say_crop((600, 500), (512, 512), quiet)                  # 17% cut: below the 20% at which it speaks
    say_crop((512, 512), (512, 512), quiet)
    assert quiet.messages == []


def test_reference_batch_is_a_warning_and_the_first_image_is_used():
    from magic_core.appearance.source import check_reference_image
    from magic_core.notices import NoticeBoard

    board = NoticeBoard()
    images = torch.rand(3, 8, 8, 3)
    assert torch.equal(check_reference_image(images, board), images[:1])
    assert "holds 3 images" in board.text
    quiet = NoticeBoard()
    check_reference_image(images[:1], quiet)
    assert quiet.messages == []


# --- bad input -----------------------------------------------------------------------------------------

def test_bad_files_give_clear_errors(official_tiny, tmp_path):
    with pytest.raises(CheckpointError, match="temporal attention"):
        load_appearance_encoder(str(official_tiny / "MagicAnimate/temporal_attention/temporal_attention.ckpt"))
    with pytest.raises(CheckpointError, match="ControlNet"):
        load_appearance_encoder(str(official_tiny / "MagicAnimate/densepose_controlnet/"
                                                    "diffusion_pytorch_model.safetensors"))
    other = tmp_path / "other.safetensors"
    comfy.utils.save_torch_file({"encoder.layer.weight": torch.zeros(2, 2)}, str(other))
    with pytest.raises(CheckpointError, match="not a UNet checkpoint"):
        load_appearance_encoder(str(other))
    lonely = tmp_path / "lonely" / "diffusion_pytorch_model.safetensors"
    lonely.parent.mkdir()
    shutil.copy(official_tiny / ENCODER_FILE, lonely)
    with pytest.raises(CheckpointError, match="config.json"):
        load_appearance_encoder(str(lonely))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_appearance_encoder(str(broken))


def test_bad_apply_inputs_give_clear_errors(base, appearance_encoder):
    vae = tiny_taesd_vae()
    with pytest.raises(ReferenceImageError, match="0 frames"):
        apply_appearance_encoder(base, appearance_encoder, vae, torch.zeros((0, 64, 64, 3)))
    with pytest.raises(ValueError, match="fusion_blocks 'bogus'"):
        apply_appearance_encoder(base, appearance_encoder, vae, _image(5), fusion_blocks="bogus")
    with pytest.raises(ValueError, match="start_percent"):
        apply_appearance_encoder(base, appearance_encoder, vae, _image(5), start_percent=0.8, end_percent=0.2)
