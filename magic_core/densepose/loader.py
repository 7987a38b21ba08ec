"""Loading the official DensePose ControlNet (diffusers ``ControlNetModel`` + ``config.json``) at any size.

Core's ``load_controlnet`` finds a diffusers ControlNet's architecture by matching weight shapes against a
fixed list of full-size configs, so it loads the real SD1.5 file but nothing else.  The ``config.json``
beside the official file states the architecture exactly; this loader reads it, maps keys with
``comfy.utils.unet_to_diffusers`` and builds ComfyUI's own ``cldm.ControlNet`` (comfy.ops layers, so
ComfyUI's memory management applies).  A file without ``config.json`` goes through core's loader.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

import comfy.cldm.cldm
import comfy.controlnet
import comfy.model_management
import comfy.ops
import comfy.utils
import torch

from ..checkpoints import check_not_empty, read_error_reason
from .control import FrameControlNet

log = logging.getLogger(__name__)
HINT_EMBEDDING_CHANNELS = [16, 32, 96, 256]  # the only layout ComfyUI's cldm.ControlNet builds


def controlnet_unet_config(config: dict[str, Any], source: str = "config.json") -> dict[str, Any]:
    """ComfyUI ``cldm.ControlNet`` arguments from a diffusers ``ControlNetModel`` config."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"{source}: {what}; this is not an SD1.5-style diffusers ControlNet config.")

    need(config.get("_class_name", "ControlNetModel") == "ControlNetModel",
         f"_class_name is {config.get('_class_name')!r}, expected 'ControlNetModel'")
    widths = list(config["block_out_channels"])
    base = widths[0]
    need(all(w % base == 0 for w in widths), f"block_out_channels {widths} are not multiples of the first")
    need(config.get("norm_num_groups", 32) == 32, "norm_num_groups must be 32")
    need(config.get("class_embed_type") is None, "class embeddings are not supported")
    need(list(config.get("conditioning_embedding_out_channels", HINT_EMBEDDING_CHANNELS)) == HINT_EMBEDDING_CHANNELS,
         f"conditioning_embedding_out_channels must be {HINT_EMBEDDING_CHANNELS}")
    blocks = list(config["down_block_types"])
    layers = int(config["layers_per_block"])
    depth = int(config.get("transformer_layers_per_block", 1) or 1)
    transformer_depth = []
    for kind in blocks:
        transformer_depth += [depth if kind.startswith("CrossAttn") else 0] * layers
    heads = config.get("num_attention_heads") or config["attention_head_dim"]
    if isinstance(heads, (list, tuple)):
        need(len(heads) == len(widths), f"attention heads {heads} do not match block_out_channels {widths}")
        per_head = {w // h for w, h in zip(widths, heads, strict=True)}
        need(len(per_head) == 1, f"attention heads {heads} do not give one head width")
        num_heads, num_head_channels = -1, per_head.pop()
    else:
        num_heads, num_head_channels = int(heads), -1
    return {
        "image_size": 32, "in_channels": int(config.get("in_channels", 4)), "model_channels": base,
        "num_res_blocks": [layers] * len(widths), "channel_mult": [w // base for w in widths],
        "transformer_depth": transformer_depth, "transformer_depth_middle": depth,
        "transformer_depth_output": [0] * (len(widths) * (layers + 1)),
        "context_dim": int(config["cross_attention_dim"]), "num_heads": num_heads,
        "num_head_channels": num_head_channels, "use_linear_in_transformer": bool(config.get("use_linear_projection")),
        "use_spatial_transformer": True, "legacy": False, "use_checkpoint": False, "adm_in_channels": None,
        "use_temporal_attention": False, "use_temporal_resblock": False,
    }


def controlnet_key_map(unet_config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> dict[str, str]:
    """Diffusers ControlNet key -> ComfyUI ``cldm.ControlNet`` key."""
    keys = comfy.utils.unet_to_diffusers(unet_config)
    keys["controlnet_mid_block.weight"] = "middle_block_out.0.weight"
    keys["controlnet_mid_block.bias"] = "middle_block_out.0.bias"
    for suffix in (".weight", ".bias"):
        i = 0
        while f"controlnet_down_blocks.{i}{suffix}" in state_dict:
            keys[f"controlnet_down_blocks.{i}{suffix}"] = f"zero_convs.{i}.0{suffix}"
            i += 1
        keys[f"controlnet_cond_embedding.conv_in{suffix}"] = f"input_hint_block.0{suffix}"
        i = 0
        while f"controlnet_cond_embedding.blocks.{i}{suffix}" in state_dict:
            keys[f"controlnet_cond_embedding.blocks.{i}{suffix}"] = f"input_hint_block.{2 * (i + 1)}{suffix}"
            i += 1
        keys[f"controlnet_cond_embedding.conv_out{suffix}"] = f"input_hint_block.{2 * (i + 1)}{suffix}"
    return keys


def load_densepose_controlnet(path: str) -> FrameControlNet:
    """The DensePose ControlNet at ``path``; its architecture from ``config.json`` beside it when present."""
    name = os.path.basename(path)
    config_path = os.path.join(os.path.dirname(path), "config.json")
    check_not_empty(path, "DensePose ControlNet file")
    if not os.path.isfile(config_path):
        try:
            control = comfy.controlnet.load_controlnet(path)
        except Exception as exc:  # noqa: BLE001 - core's reader/detection errors become one clear message
            raise ValueError(f"DensePose ControlNet '{name}' could not be read ({read_error_reason(exc)}); it is "
                             f"truncated, corrupt or not a ControlNet. Pick MagicAnimate/densepose_controlnet/"
                             f"diffusion_pytorch_model.safetensors (keep config.json beside it) or download it "
                             f"again.") from exc
        if control is None:
            raise ValueError(f"DensePose ControlNet '{name}': ComfyUI could not detect a ControlNet in it and there "
                             f"is no config.json beside it; keep the official folder layout "
                             f"(densepose_controlnet/diffusion_pytorch_model.safetensors + config.json).")
        return FrameControlNet.wrap(control)
    with open(config_path, encoding="utf-8") as f:
        unet_config = controlnet_unet_config(json.load(f), config_path)
    try:
        state_dict = comfy.utils.load_torch_file(path, safe_load=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is one clear message
        raise ValueError(f"DensePose ControlNet '{name}' could not be read ({read_error_reason(exc)}); "
                         "the file is truncated or not a checkpoint: download it again.") from exc
    if "controlnet_cond_embedding.conv_in.weight" not in state_dict:
        raise ValueError(f"DensePose ControlNet '{name}' is not a diffusers ControlNet (no "
                         "controlnet_cond_embedding weights); pick densepose_controlnet/"
                         "diffusion_pytorch_model.safetensors.")
    keys = controlnet_key_map(unet_config, state_dict)
    converted = {keys[k]: v for k, v in state_dict.items() if k in keys}
    leftover = sorted(k for k in state_dict if k not in keys)

    weight_dtype = comfy.utils.weight_dtype(state_dict)
    unet_dtype = comfy.model_management.unet_dtype(model_params=-1, weight_dtype=weight_dtype,
                                                   supported_dtypes=[comfy.model_management.unet_dtype()])
    load_device = comfy.model_management.get_torch_device()
    manual_cast_dtype = comfy.model_management.unet_manual_cast(unet_dtype, load_device)
    model = comfy.cldm.cldm.ControlNet(
        hint_channels=state_dict["controlnet_cond_embedding.conv_in.weight"].shape[1], dtype=unet_dtype,
        device=comfy.model_management.unet_offload_device(),
        operations=comfy.ops.pick_operations(unet_dtype, manual_cast_dtype), **unet_config)
    mismatch = _mismatch(model, converted, leftover)
    if mismatch:
        raise ValueError(f"DensePose ControlNet '{name}' does not match its config.json: {mismatch}. "
                         "Download the file and its config.json again.")
    model.load_state_dict(converted, strict=True)
    log.info("MagicAnimate: loaded DensePose ControlNet %s (%s, widths from config.json)", name, unet_dtype)
    return FrameControlNet(model, load_device=load_device, manual_cast_dtype=manual_cast_dtype)


def _mismatch(model: torch.nn.Module, converted: dict[str, torch.Tensor], leftover: list[str]) -> str:
    """What differs between the model the config describes and the file's weights ('' when they agree)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in converted]
    unexpected = leftover + [k for k in converted if k not in expected]
    shapes = [f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}" for k, v in converted.items()
              if k in expected and v.shape != expected[k].shape]
    parts = [f"{len(items)} {what} (e.g. {items[:2]})" for what, items in
             (("weights missing", missing), ("unexpected weights", unexpected), ("shape mismatches", shapes)) if items]
    return "; ".join(parts)
