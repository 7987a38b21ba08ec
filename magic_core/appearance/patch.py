"""Applying the appearance encoder to a denoising model: everything is attached to a clone of the model.

* the encoder's ModelPatcher is tied to the clone with ``set_additional_models`` (loaded/offloaded with the UNet);
* an OUTER_SAMPLE wrapper encodes the reference image at the video latent's size before the models are loaded;
* a PREDICT_NOISE wrapper (once per sampling step, around every window of the step) runs the encoder once on the
  clean reference latent at the step's timestep with the conditional text, and hands the recorded states to the
  model calls of that step in a copy of ``model_options["transformer_options"]`` (nothing is stored on a model:
  the states are dropped with the step, after an interrupt or error too); with MultiGPU clones each device
  records its own states once per step with its clone of the encoder (the bank is a per-device value of
  ``call_options``: ``ReferenceBank.for_device``);
* an ``attn1`` replace per paired block (the read side) lets those blocks attend to them.
"""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import comfy.model_patcher
import comfy.patcher_extension
import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ..call_options import sampling_notices, with_per_device_value
from ..errors import MagicAnimateError
from ..input_ranges import APPEARANCE_STRENGTH_MAX, check_percent_range
from ..notices import NoticeBoard
from .blocks import fused_blocks, pair_blocks, transformer_blocks
from .loading import AppearanceEncoder
from .reference import ReferenceAttentionReplace, ReferenceBank, run_encoder
from .source import ReferenceLatentSource

ADDITIONAL_MODELS_KEY = "magicanimate_appearance"


def apply_appearance_encoder(model: comfy.model_patcher.ModelPatcher, encoder: AppearanceEncoder, vae,
                             reference_image: torch.Tensor, strength: float = 1.0, fusion_blocks: str = "midup",
                             start_percent: float = 0.0, end_percent: float = 1.0, reference_fit: str = "crop",
                             notices: NoticeBoard | None = None) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` whose self-attention also attends to the appearance encoder's reference states.

    ``strength`` 1 is the original, 0 returns an unpatched clone (see ``reference`` for the blend).
    ``reference_fit``: ``crop`` (the original) or ``pad`` the reference to the video's aspect ratio; a batch of
    references is a warning on ``notices``, a large crop one on the sampler's board when sampling starts.
    """
    if not isinstance(encoder, AppearanceEncoder):
        raise TypeError(f"appearance_encoder must come from Load MagicAnimate Appearance Encoder, got "
                        f"{type(encoder).__name__}.")
    if vae is None or not hasattr(vae, "encode"):
        raise TypeError("vae must be a VAE (e.g. from Load VAE or the checkpoint loader).")
    check_percent_range(start_percent, end_percent, "appearance encoder")
    if not 0.0 <= strength <= APPEARANCE_STRENGTH_MAX:
        raise MagicAnimateError(f"MagicAnimate appearance encoder: strength {strength} is outside "
                                f"0..{APPEARANCE_STRENGTH_MAX}; 1.0 is the original MagicAnimate, 0 disables.")
    unet = getattr(model.model, "diffusion_model", None)
    if not isinstance(unet, UNetModel):
        raise MagicAnimateError(f"MagicAnimate appearance encoder: model is a {type(unet).__name__} model; the "
                                f"appearance encoder needs an SD1.5 (UNet) model such as the checkpoint loader's "
                                f"MODEL.")
    source = ReferenceLatentSource(vae, reference_image, reference_fit, notices)
    writers = fused_blocks(encoder.blocks, fusion_blocks)
    pairing = pair_blocks(writers, fused_blocks(transformer_blocks(unet), fusion_blocks))
    patched = model.clone()
    if strength == 0.0:
        return patched
    key = f"{ADDITIONAL_MODELS_KEY}_{uuid.uuid4().hex[:8]}"
    bank_key = f"{key}_bank"
    writer_keys = [w.key for w in writers]
    sampling = patched.model.model_sampling
    sigma_start, sigma_end = sampling.percent_to_sigma(start_percent), sampling.percent_to_sigma(end_percent)

    def outer_sample(executor, noise, latent_image, *args, **kwargs):
        source.say_fit(tuple(latent_image.shape[-2:]), sampling_notices(executor.class_obj.model_options))
        source.latent(tuple(latent_image.shape[-2:]), executor.class_obj.model_patcher.model)
        return executor(noise, latent_image, *args, **kwargs)

    def predict_noise(executor, x, timestep, model_options, seed):
        guider = executor.class_obj
        sigma = float(timestep.reshape(-1)[0])
        context = _positive_text(guider, sigma)
        if context is None or not sigma_end <= sigma <= sigma_start:
            return executor(x, timestep, model_options, seed)
        base_model = guider.model_patcher.model
        latent = source.latent(tuple(x.shape[-2:]), base_model, keep_loaded=True)
        t = base_model.model_sampling.timestep(timestep.reshape(-1)[:1]).float()
        states = run_encoder(encoder, writer_keys, latent, t, context)

        def on_device(clone: comfy.model_patcher.ModelPatcher) -> ReferenceBank:
            # A MultiGPU clone: its own (deep-cloned) encoder and attn1 modules, on its device.
            device_encoder = dataclasses.replace(encoder, patcher=clone.get_additional_models_with_key(key)[0])
            device_unet = clone.model.diffusion_model
            modules = {b.key: b for b in transformer_blocks(device_unet)}
            attention = {block: device_unet.get_submodule(modules[block].module_path).attn1 for block in pairing}
            return ReferenceBank(run_encoder(device_encoder, writer_keys, latent, t, context), pairing,
                                 float(strength), attention=attention)

        bank = ReferenceBank(states, pairing, float(strength), owner=base_model, on_device=on_device)
        options = dict(model_options)
        options["transformer_options"] = with_per_device_value(model_options.get("transformer_options", {}),
                                                               bank_key, bank)
        return executor(x, timestep, options, seed)

    patched.set_additional_models(key, [encoder.patcher])
    readers = {b.key: b for b in transformer_blocks(unet)}
    for block in pairing:
        attention = unet.get_submodule(readers[block].module_path).attn1
        patched.set_model_attn1_replace(ReferenceAttentionReplace(bank_key, block, attention), *block)
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, key, outer_sample)
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREDICT_NOISE, key, predict_noise)
    return patched


def _positive_text(guider: Any, sigma: float) -> torch.Tensor | None:
    """The text embedding (``[1, tokens, C]``) of the first positive conditioning active at ``sigma``."""
    for cond in (getattr(guider, "conds", None) or {}).get("positive", None) or []:
        if "timestep_start" in cond and sigma > cond["timestep_start"]:
            continue
        if "timestep_end" in cond and sigma < cond["timestep_end"]:
            continue
        cross = cond.get("model_conds", {}).get("c_crossattn")
        tensor = getattr(cross, "cond", None)
        if isinstance(tensor, torch.Tensor):
            return tensor[:1]
    return None
