"""The synthetic base as an SD1.5-layout checkpoint: the widening keeps the small model's function, ComfyUI's own
checkpoint loader detects the written file as SD1.5 with every weight present, and the training CLI reads it."""
from __future__ import annotations

import logging

import comfy.sd
import comfy.supported_models
import pytest
import torch

from magic_core.training.cell_vae import cell_vae
from magic_core.training.models import text_embedding
from magic_core.training.pretrain import new_small_base
from magic_core.training.sd15_base import SMALL_UNET, widen_base


def test_widened_base_computes_what_the_small_base_computes():
    small, clip = new_small_base(cell_vae(), 5, unet=SMALL_UNET)
    wide, wide_clip = widen_base(small, clip, SMALL_UNET)
    assert type(wide.model.model_config) is comfy.supported_models.SD15
    assert wide.model.diffusion_model.input_blocks[0][0].weight.shape[0] == 320
    context, wide_context = text_embedding(clip, "a person"), text_embedding(wide_clip, "a person")
    assert wide_context.shape == (1, 77, 768)
    assert (wide_context.view(1, 77, 32, 24) - context[..., None]).abs().max() < 2e-3  # fp16 text encoders
    x, t = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([900.0, 50.0])
    with torch.no_grad():
        ours = small.model.diffusion_model(x, timesteps=t, context=context.expand(2, -1, -1))
        theirs = wide.model.diffusion_model(x, timesteps=t, context=context.repeat_interleave(24, -1).expand(2, -1, -1))
    assert (ours - theirs).abs().max() < 1e-4 * ours.abs().max()


@pytest.mark.slow
def test_synthetic_checkpoint_loads_as_sd15_in_comfyui_and_trains(tmp_path, caplog):
    from magic_core.training.__main__ import main
    from magic_core.training.synthetic_base import BASE_NAME

    folder = tmp_path / "figures"
    assert main(["make-synthetic", str(folder), "--figures", "--base", "--base-steps", "2"]) == 0
    base = folder / "base" / BASE_NAME
    assert not base.with_suffix(".json").exists()  # nothing beside it: detected like any SD1.5 file
    with caplog.at_level(logging.INFO):
        model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(base), output_vae=True, output_clip=True)
    messages = caplog.text.lower()
    assert not any(word in messages for word in ("missing", "left over", "unexpected")), caplog.text[-2000:]
    assert type(model.model.model_config) is comfy.supported_models.SD15
    images = torch.rand(1, 128, 128, 3)
    assert (vae.encode(images) - cell_vae().encode(images)).abs().max() < 1e-4  # the cell VAE stays exact
    assert clip.cond_stage_model.clip_l.transformer.text_model.encoder.layers.__len__() == 12
    assert main(["stage1", "--set", f"base_checkpoint={base}", "--set", "width=128", "--set", "height=128",
                 "--set", "max_steps=1", "--set", "progress_bar=false", "--set", f"data_root={folder / 'train'}",
                 "--set", f"output_dir={tmp_path / 's1'}"]) == 0
    assert (tmp_path / "s1" / "MagicAnimate" / "densepose_controlnet" / "config.json").is_file()
