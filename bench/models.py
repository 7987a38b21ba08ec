"""Every model of the benchmark, built in memory with seeded random weights (no files written).

* the denoising UNet: ComfyUI's SD15 model config at the chosen widths, in a ModelPatcher;
* the appearance encoder: a UNet state dict built by the pack's own loader code
  (``appearance_encoder_from_state_dict``);
* the DensePose ControlNet: ``comfy.cldm.cldm.ControlNet`` from the pack's ``config.json`` path
  (``controlnet_unet_config``), as the pack's ``FrameControlNet`` and as core's ``ControlNet``;
* the temporal modules: the pack's ``new_temporal_weights`` (seeded, checked by the pack's loader);
* a TAESD-layout VAE for the reference image, random conditioning, DensePose frames and a reference image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import comfy.cldm.cldm
import comfy.controlnet
import comfy.model_management
import comfy.model_patcher
import comfy.ops
import comfy.sd
import comfy.supported_models
import comfy.taesd.taesd
import torch

from magic_core.appearance import AppearanceEncoder, appearance_encoder_from_state_dict
from magic_core.densepose import FrameControlNet
from magic_core.diffusers_config import HINT_EMBEDDING_CHANNELS, controlnet_unet_config
from magic_core.temporal import TemporalWeights, new_temporal_weights

from .sizes import BenchSize


def seeded_init_(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Deterministic weights that keep activations in range: norms ~1, biases small, matrices ~N(0, 1/fan_in)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1 and "norm" in name and name.endswith("weight"):
                value = 1.0 + 0.1 * torch.randn(p.shape, generator=gen)
            elif p.ndim <= 1:
                value = 0.02 * torch.randn(p.shape, generator=gen)
            else:
                value = torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel())
            p.data = value.to(p.dtype)  # replaces the (uninitialised) storage: no per-tensor copy
    return module


def weight_dtype(size: BenchSize) -> torch.dtype:
    return torch.float16 if size.fp16 else torch.float32


def unet_model_config(size: BenchSize) -> comfy.supported_models.SD15:
    """ComfyUI's SD15 model config with the size's widths (the real SD1.5 block structure)."""
    unet_config = {
        "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
        "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": size.model_channels,
        "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4],
        "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": size.context_dim,
        "num_heads": size.heads, "num_head_channels": -1,
        "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }
    config = comfy.supported_models.SD15(unet_config)
    config.unet_config["num_heads"] = size.heads
    config.set_inference_dtype(weight_dtype(size), None)
    return config


def base_model(size: BenchSize, seed: int = 0) -> comfy.model_patcher.ModelPatcher:
    """The denoising SD1.5-structured UNet (ComfyUI BaseModel) in a ModelPatcher."""
    model = unet_model_config(size).get_model({}, device=comfy.model_management.unet_offload_device())
    seeded_init_(model.diffusion_model, seed)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def appearance_encoder(size: BenchSize, seed: int = 1) -> AppearanceEncoder:
    """The appearance encoder, built by the pack's loader from an in-memory ComfyUI-key state dict."""
    config = unet_model_config(size)
    unet = config.get_model({}, device=torch.device("cpu")).diffusion_model
    state_dict = seeded_init_(unet, seed).state_dict()
    unet_config = {k: v for k, v in config.unet_config.items() if k != "dtype"}
    return appearance_encoder_from_state_dict("bench_appearance_encoder", unet_config, state_dict)


def controlnet_config(size: BenchSize) -> dict:
    """The diffusers ``ControlNetModel`` config of an SD1.5 DensePose ControlNet at this size."""
    return {
        "_class_name": "ControlNetModel", "attention_head_dim": size.heads,
        "block_out_channels": [size.model_channels * m for m in (1, 2, 4, 4)],
        "conditioning_embedding_out_channels": HINT_EMBEDDING_CHANNELS, "cross_attention_dim": size.context_dim,
        "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "in_channels": 4,
        "layers_per_block": 2, "norm_num_groups": 32, "use_linear_projection": False,
    }


def controlnet_model(size: BenchSize, seed: int = 2) -> comfy.cldm.cldm.ControlNet:
    """ComfyUI's ``cldm.ControlNet`` built from the pack's config.json translation, seeded."""
    dtype = weight_dtype(size)
    device = comfy.model_management.unet_offload_device()
    model = comfy.cldm.cldm.ControlNet(hint_channels=3, dtype=dtype, device=device,
                                       operations=comfy.ops.pick_operations(dtype, None),
                                       **controlnet_unet_config(controlnet_config(size)))
    return seeded_init_(model, seed)


def frame_controlnet(model: comfy.cldm.cldm.ControlNet) -> FrameControlNet:
    """The pack's frame-following ControlNet (what its DensePose loader returns)."""
    return FrameControlNet(model, load_device=comfy.model_management.get_torch_device())


def core_controlnet(model: comfy.cldm.cldm.ControlNet) -> comfy.controlnet.ControlNet:
    """Core's ControlNet object (what core's ControlNetLoader returns) around the same network."""
    return comfy.controlnet.ControlNet(model, load_device=comfy.model_management.get_torch_device())


def temporal_weights(model: comfy.model_patcher.ModelPatcher, seed: int = 3) -> TemporalWeights:
    """Seeded temporal modules for ``model``'s widths, checked by the pack's temporal loader."""
    return new_temporal_weights(model.model.diffusion_model, lambda modules: seeded_init_(modules, seed),
                                "bench_temporal_attention", zero_output=False, dtype=None)


def vae(seed: int = 4) -> comfy.sd.VAE:
    """A TAESD-layout VAE (8x, 4 channels) for the reference image: encoded once per run."""
    return comfy.sd.VAE(sd=seeded_init_(comfy.taesd.taesd.TAESD(latent_channels=4), seed).state_dict())


@dataclass
class BenchInputs:
    """Conditioning and images of one run."""

    positive: list
    negative: list
    densepose: torch.Tensor  # [frames, H, W, 3]
    reference: torch.Tensor  # [1, H, W, 3]
    latent: dict


def inputs(size: BenchSize, frames: int, seed: int = 5) -> BenchInputs:
    gen = torch.Generator().manual_seed(seed)
    cond = torch.randn(1, size.text_tokens, size.context_dim, generator=gen)
    uncond = torch.randn(1, size.text_tokens, size.context_dim, generator=gen)
    densepose = torch.rand(frames, size.pixels, size.pixels, 3, generator=gen)
    reference = torch.rand(1, size.pixels, size.pixels, 3, generator=gen)
    latent = {"samples": torch.zeros(frames, 4, size.latent, size.latent)}
    return BenchInputs([[cond, {}]], [[uncond, {}]], densepose, reference, latent)
