"""Saving trained parts in the official release formats, so the pack's loaders read them unchanged.

* appearance encoder: ``appearance_encoder/diffusion_pytorch_model.safetensors`` (diffusers keys, mapped back
  from ComfyUI keys with ``comfy.utils.unet_to_diffusers``) + ``config.json`` like the release's;
* DensePose ControlNet: ``densepose_controlnet/diffusion_pytorch_model.safetensors`` (diffusers
  ``ControlNetModel`` keys, the DensePose loader's key map inverted) + ``config.json``;
* temporal modules: ``temporal_attention/temporal_attention.safetensors`` with the ``temporal_attention.ckpt``
  keys (``down_blocks.i.motion_modules.j.temporal_transformer...``, ``pos_encoder.pe`` included).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import comfy.utils
import safetensors.torch
import torch

from ..densepose import controlnet_key_map
from ..diffusers_config import HINT_EMBEDDING_CHANNELS, controlnet_unet_config
from ..errors import MagicAnimateError

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
TEMPORAL_NAME = "temporal_attention.safetensors"
DIFFUSERS_VERSION = "0.21.4"


def _levels(unet_config: dict[str, Any]) -> tuple[list[int], int]:
    widths = [unet_config["model_channels"] * m for m in unet_config["channel_mult"]]
    layers = unet_config["num_res_blocks"]
    layers = list(layers) if isinstance(layers, (list, tuple)) else [layers] * len(widths)
    if len(set(layers)) != 1:
        raise MagicAnimateError(f"MagicAnimate training export: only UNets with the same number of layers per block "
                                f"can be exported, got {layers}")
    return widths, layers[0]


def diffusers_unet_config(unet_config: dict[str, Any], class_name: str = "AppearanceEncoderModel") -> dict[str, Any]:
    """A diffusers ``UNet2DConditionModel`` config.json (as the release's) for a ComfyUI SD1.5-style UNet config."""
    widths, layers = _levels(unet_config)
    depth = list(unet_config["transformer_depth"])
    depth_out = list(unet_config.get("transformer_depth_output") or [])
    levels = len(widths)
    down = ["CrossAttnDownBlock2D" if depth[level * layers] > 0 else "DownBlock2D" for level in range(levels)]
    up = []
    for i in range(levels):
        level = levels - 1 - i
        d = depth_out[level * (layers + 1)] if depth_out else depth[level * layers]
        up.append("CrossAttnUpBlock2D" if d > 0 else "UpBlock2D")
    heads = unet_config.get("num_heads", -1)
    if heads is None or heads <= 0:
        heads = [w // unet_config["num_head_channels"] for w in widths]
    return {
        "_class_name": class_name, "_diffusers_version": DIFFUSERS_VERSION, "act_fn": "silu",
        "attention_head_dim": heads, "block_out_channels": widths, "center_input_sample": False,
        "cross_attention_dim": unet_config["context_dim"], "down_block_types": down, "downsample_padding": 1,
        "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": unet_config.get("in_channels", 4),
        "layers_per_block": layers, "mid_block_scale_factor": 1, "mid_block_type": "UNetMidBlock2DCrossAttn",
        "norm_eps": 1e-05, "norm_num_groups": 32, "out_channels": unet_config.get("out_channels", 4),
        "sample_size": 64, "transformer_layers_per_block": max(1, int(unet_config.get("transformer_depth_middle", 1))),
        "up_block_types": up, "upcast_attention": False,
        "use_linear_projection": bool(unet_config.get("use_linear_in_transformer", False)),
    }


def diffusers_controlnet_config(unet_config: dict[str, Any]) -> dict[str, Any]:
    """A diffusers ``ControlNetModel`` config.json (3-channel RGB conditioning) for a ComfyUI UNet config."""
    unet = diffusers_unet_config(unet_config)
    keep = ("act_fn", "attention_head_dim", "block_out_channels", "cross_attention_dim", "down_block_types",
            "downsample_padding", "flip_sin_to_cos", "freq_shift", "in_channels", "layers_per_block",
            "mid_block_scale_factor", "norm_eps", "norm_num_groups", "upcast_attention", "use_linear_projection")
    config = {"_class_name": "ControlNetModel", "_diffusers_version": DIFFUSERS_VERSION}
    config.update({k: unet[k] for k in keep})
    config.update({"class_embed_type": None, "conditioning_embedding_out_channels": list(HINT_EMBEDDING_CHANNELS),
                   "controlnet_conditioning_channel_order": "rgb", "only_cross_attention": False,
                   "resnet_time_scale_shift": "default"})
    return config


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def _write(folder: Path, weights: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WEIGHTS_NAME
    safetensors.torch.save_file(_contiguous(weights), str(path))
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def save_appearance_encoder(comfy_state: dict[str, torch.Tensor], unet_config: dict[str, Any], folder: Path,
                            skip_prefixes: tuple[str, ...] = ()) -> Path:
    """Write an appearance encoder (ComfyUI ``UNetModel`` keys) in the release's diffusers layout.

    Keys with no diffusers name (none in an SD1.5 UNet) are an error; ``skip_prefixes`` (diffusers names) are left
    out, as the original class leaves out its cut-down block.
    """
    to_diffusers = {comfy_key: diff_key for diff_key, comfy_key in comfy.utils.unet_to_diffusers(unet_config).items()}
    unmapped = sorted(k for k in comfy_state if k not in to_diffusers)
    if unmapped:
        raise MagicAnimateError(f"MagicAnimate training export: the appearance encoder has {len(unmapped)} weights "
                                f"with no diffusers name, e.g. {unmapped[:3]}")
    weights = {to_diffusers[k]: v for k, v in comfy_state.items() if not to_diffusers[k].startswith(skip_prefixes)}
    return _write(folder, weights, diffusers_unet_config(unet_config))


def save_controlnet(comfy_state: dict[str, torch.Tensor], unet_config: dict[str, Any], folder: Path) -> Path:
    """Write a ComfyUI ``cldm.ControlNet`` state dict as a diffusers ``ControlNetModel`` + config.json."""
    config = diffusers_controlnet_config(unet_config)
    probe = {f"controlnet_down_blocks.{i}{s}": None for i in range(64) for s in (".weight", ".bias")
             if f"zero_convs.{i}.0{s}" in comfy_state}
    probe.update({f"controlnet_cond_embedding.blocks.{i}{s}": None for i in range(16) for s in (".weight", ".bias")
                  if f"input_hint_block.{2 * (i + 1)}{s}" in comfy_state and f"input_hint_block.{2 * (i + 2)}{s}"
                  in comfy_state})
    keys = controlnet_key_map(controlnet_unet_config(config), probe)
    to_diffusers = {comfy_key: diff_key for diff_key, comfy_key in keys.items()}
    unmapped = sorted(k for k in comfy_state if k not in to_diffusers)
    if unmapped:
        raise MagicAnimateError(f"MagicAnimate training export: the ControlNet has {len(unmapped)} weights with no "
                                f"diffusers name, e.g. {unmapped[:3]}")
    return _write(folder, {to_diffusers[k]: v for k, v in comfy_state.items()}, config)


def save_temporal(state: dict[str, torch.Tensor], folder: Path) -> Path:
    """Write motion-module weights (``temporal_attention.ckpt`` key layout) as safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TEMPORAL_NAME
    safetensors.torch.save_file(_contiguous(state), str(path), metadata={"format": "magicanimate_temporal"})
    return path
