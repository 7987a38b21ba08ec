"""Loading the official DensePose ControlNet (diffusers ``ControlNetModel`` + ``config.json``) at any size.

Core's ``load_controlnet`` finds a diffusers ControlNet's architecture by matching weight shapes against a
fixed list of full-size configs, so it loads the real SD1.5 file but nothing else.  The ``config.json``
beside the official file states the architecture exactly; this loader reads it, maps keys with
``comfy.utils.unet_to_diffusers`` and builds ComfyUI's own ``cldm.ControlNet`` (comfy.ops layers, so
ComfyUI's memory management applies).  A file without ``config.json`` goes through core's loader.
"""
from __future__ import annotations

import logging
import os
from typing import Any

import comfy.cldm.cldm
import comfy.controlnet
import comfy.model_management
import comfy.ops
import comfy.utils
import torch

from ..checkpoints import FileKind, read_error_reason, read_state_dict
from ..diffusers_config import controlnet_unet_config, read_config_json
from .control import FrameControlNet

__all__ = ["DENSEPOSE_FILE", "controlnet_key_map", "load_densepose_controlnet"]
log = logging.getLogger(__name__)
DENSEPOSE_FILE = FileKind("DensePose ControlNet", "MagicAnimate/densepose_controlnet/diffusion_pytorch_model."
                          "safetensors with its config.json")


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
    state_dict = read_state_dict(path, DENSEPOSE_FILE)
    if not os.path.isfile(config_path):
        return _from_core(name, state_dict)
    unet_config = controlnet_unet_config(read_config_json(config_path, DENSEPOSE_FILE.name), config_path)
    if "controlnet_cond_embedding.conv_in.weight" not in state_dict:
        raise DENSEPOSE_FILE.error(f"'{name}' is not a diffusers ControlNet (no controlnet_cond_embedding weights); "
                                   f"pick densepose_controlnet/diffusion_pytorch_model.safetensors.")
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
        raise DENSEPOSE_FILE.error(f"'{name}' does not match its config.json: {mismatch}. Download the file and "
                                   f"its config.json again.")
    model.load_state_dict(converted, strict=True)
    log.info("MagicAnimate: loaded DensePose ControlNet %s (%s, widths from config.json)", name, unet_dtype)
    return FrameControlNet(model, load_device=load_device, manual_cast_dtype=manual_cast_dtype)


def _from_core(name: str, state_dict: dict[str, torch.Tensor]) -> FrameControlNet:
    """A ControlNet file without ``config.json``: core's detection builds it from the weights' shapes."""
    try:
        control, reason = comfy.controlnet.load_controlnet_state_dict(state_dict), ""
    except Exception as exc:  # noqa: BLE001 - core's detection errors become one clear message
        control, reason = None, f" ({read_error_reason(exc)})"
    if control is None:
        raise DENSEPOSE_FILE.error(f"ComfyUI found no ControlNet it can build in '{name}'{reason} and there is no "
                                   f"config.json beside it; pick the DensePose ControlNet (densepose_controlnet/"
                                   f"diffusion_pytorch_model.safetensors) and keep its config.json beside it.")
    return FrameControlNet.wrap(control)


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
