"""A small SD1.5-shaped base (UNet + CLIP + VAE) built from an explicit architecture, for training without a
4 GB download.

ComfyUI's checkpoint loader detects a model from a fixed list of full-size configs; a small base is described
instead by a ``<checkpoint>.json`` beside the file (``{"magicanimate_base": 1, "unet": {...}, "clip": {...}}``),
read by :func:`base_architecture`, and built from it here with ComfyUI's own classes (an SD1.5 model config
instance, nothing registered globally).  The VAE is whatever the file holds (the synthetic base: the cell VAE).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models
import comfy.utils
import torch
from comfy import sd1_clip, supported_models_base

from ..errors import MagicAnimateError

ARCH_VERSION = 1
# the tests' tiny SD1.5: widths 32/32/64/64, two layers per block, cross-attention 32, 4 heads
TINY_UNET: dict[str, Any] = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
    "legacy": False, "adm_in_channels": None, "in_channels": 4, "model_channels": 32,
    "num_res_blocks": [2, 2, 2, 2], "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 1, 2, 2],
    "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": 32, "num_heads": 4,
    "num_head_channels": -1, "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    "use_temporal_attention": False, "use_temporal_resblock": False,
}
# a narrow, shallow CLIP text model with the real SD1 tokenizer (shipped with ComfyUI)
TINY_CLIP: dict[str, Any] = {
    "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
    "eos_token_id": 49407, "hidden_act": "quick_gelu", "hidden_size": 32, "initializer_factor": 1.0,
    "initializer_range": 0.02, "intermediate_size": 64, "layer_norm_eps": 1e-05, "max_position_embeddings": 77,
    "model_type": "clip_text_model", "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 1,
    "projection_dim": 32, "torch_dtype": "float32", "vocab_size": 49408,
}


def model_config(unet: dict[str, Any], clip: dict[str, Any]) -> comfy.supported_models.SD15:
    """An SD1.5 model config instance with the given UNet and CLIP architectures (not registered anywhere)."""

    class _Clip(sd1_clip.SDClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}):  # noqa: B006 - ComfyUI's signature
            super().__init__(device=device, dtype=dtype, model_options=model_options,
                             textmodel_json_config=dict(clip), return_projected_pooled=False)

    class _ClipModel(sd1_clip.SD1ClipModel):
        def __init__(self, device="cpu", dtype=None, model_options={}, **kwargs):  # noqa: B006
            super().__init__(device=device, dtype=dtype, model_options=model_options, clip_model=_Clip, **kwargs)

    class _Config(comfy.supported_models.SD15):
        supported_inference_dtypes = [torch.float32]

        def clip_target(self, state_dict={}):  # noqa: B006 - ComfyUI's signature
            return supported_models_base.ClipTarget(sd1_clip.SD1Tokenizer, _ClipModel)

    return _Config(dict(unet))


def architecture_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's architecture file lies: ``name.safetensors`` -> ``name.json``."""
    return Path(checkpoint).with_suffix(".json")


def base_architecture(checkpoint: str | Path) -> dict[str, Any] | None:
    """The architecture beside ``checkpoint`` (``None`` when there is none: a regular, detectable checkpoint)."""
    path = architecture_path(checkpoint)
    if not path.is_file():
        return None
    try:
        arch = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MagicAnimateError(f"MagicAnimate training: '{path}' (the architecture of '{checkpoint}') is not "
                                f"readable JSON: {exc}") from exc
    if not isinstance(arch, dict) or arch.get("magicanimate_base") != ARCH_VERSION or not all(
            isinstance(arch.get(k), dict) for k in ("unet", "clip")):
        raise MagicAnimateError(f"MagicAnimate training: '{path}' is not a MagicAnimate base architecture "
                                f"(expected magicanimate_base: {ARCH_VERSION} with 'unet' and 'clip' mappings)")
    return arch


def load_described_checkpoint(checkpoint: str | Path, arch: dict[str, Any]):
    """(model patcher, CLIP, VAE) of a single-file checkpoint whose architecture ``arch`` describes."""
    sd = comfy.utils.load_torch_file(str(checkpoint), safe_load=True)
    config = model_config(arch["unet"], arch["clip"])
    config.set_inference_dtype(torch.float32, None)
    prefix = "model.diffusion_model."
    if not any(k.startswith(prefix) for k in sd):
        raise MagicAnimateError(f"MagicAnimate training: '{checkpoint}' holds no UNet weights ({prefix}...)")
    model = config.get_model(sd, prefix, device=torch.device("cpu"))
    try:
        missing, _ = model.diffusion_model.load_state_dict(
            {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}, strict=False)
    except RuntimeError as exc:
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)[:200]
        raise MagicAnimateError(f"MagicAnimate training: '{checkpoint}' does not match its architecture "
                                f"'{architecture_path(checkpoint)}' ({first})") from None
    if missing:
        raise MagicAnimateError(f"MagicAnimate training: '{checkpoint}' does not match its architecture "
                                f"'{architecture_path(checkpoint)}': {len(missing)} UNet weights missing, e.g. "
                                f"{missing[:3]}")
    patcher = comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=comfy.model_management.unet_offload_device())
    vae_sd = comfy.utils.state_dict_prefix_replace(sd, {k: "" for k in config.vae_key_prefix}, filter_keys=True)
    clip_sd = config.process_clip_state_dict(sd)
    if not vae_sd or not clip_sd:
        missing_part = "VAE" if not vae_sd else "text encoder"
        raise MagicAnimateError(f"MagicAnimate training: '{checkpoint}' has no {missing_part} weights; a base "
                                f"needs UNet + CLIP + VAE")
    clip = comfy.sd.CLIP(config.clip_target(), embedding_directory=None)
    clip.load_sd(clip_sd, full_model=True)
    from .cell_vae import cell_vae, is_cell_vae

    vae_sd = config.process_vae_state_dict(vae_sd)
    return patcher, clip, cell_vae() if is_cell_vae(vae_sd) else comfy.sd.VAE(sd=vae_sd)


def save_described_checkpoint(path: str | Path, patcher, clip, vae, unet: dict, clip_config: dict) -> Path:
    """Write a single-file checkpoint with ComfyUI's own save path and its architecture file beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    comfy.sd.save_checkpoint(str(tmp), patcher, clip=clip, vae=vae, metadata={"magicanimate_base": "synthetic"})
    architecture_path(path).write_text(json.dumps({"magicanimate_base": ARCH_VERSION, "unet": unet,
                                                   "clip": clip_config}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
