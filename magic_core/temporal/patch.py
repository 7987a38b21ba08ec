"""Patching temporal attention into a clone of an SD1.5 ModelPatcher.

* The motion modules live in their own ModelPatcher (ComfyUI loads, budgets and offloads them with the
  UNet through ``set_additional_models``).
* ``set_injections`` inserts one :class:`TemporalSlot` per motion module into the UNet's block sequences at
  ``patch_model()`` and takes them out at unpatch, under a new child name so no existing key moves.
* ``openaimodel.forward_timestep_embed`` calls unknown layers as ``layer(x)``; a forward_timestep_embed patch
  routes :class:`TemporalSlot` to :func:`temporal_slot_forward`, which reads the frame contract.
"""
from __future__ import annotations

import logging
from typing import Any

import comfy.model_management
import comfy.ops
import comfy.patcher_extension
import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock, Upsample
from comfy.model_patcher import ModelPatcher
from torch import nn

from ..call_options import TemporalEncoding, patch_list, set_temporal_encoding
from ..errors import MagicAnimateError
from ..frame_contract import frame_layout
from .groupnorm import cross_frame_norm_wrapper
from .loading import TemporalWeights
from .module import MotionModule, MotionModuleSet

log = logging.getLogger(__name__)

KEY = "magicanimate_temporal"
CHILD_NAME = "magicanimate_temporal"
FLOAT_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)


class TemporalSlot(nn.Module):
    """A motion module placed in the UNet: adds ``strength`` × its residual to the hidden states."""

    def __init__(self, module: MotionModule, strength: float, file_name: str) -> None:
        super().__init__()
        self.motion = module
        self.strength = float(strength)
        self.file_name = file_name


def temporal_slot_forward(layer: TemporalSlot, x: torch.Tensor, emb: Any, context: Any,
                          transformer_options: dict, *args: Any) -> torch.Tensor:
    """forward_timestep_embed handler: attend over the frames of each window of each cond/uncond chunk."""
    layout = frame_layout(transformer_options, x.shape[0])
    TemporalEncoding(layer.motion.max_frames, layer.file_name).check(layout.window_frames)
    if layer.strength == 0.0:
        return x
    video = x.view(layout.groups, layout.window_frames, *x.shape[1:])
    return x + layer.strength * layer.motion(video).to(x.dtype)


def unet_slot_positions(unet: nn.Module, mid_block: bool) -> dict[str, tuple[nn.Sequential, int]]:
    """Where each motion module goes: ``(block sequence, insert position)`` by checkpoint prefix."""
    positions: dict[str, tuple[nn.Sequential, int]] = {}
    levels = len(unet.num_res_blocks)
    index = 1
    for level in range(levels):
        for j in range(unet.num_res_blocks[level]):
            block = unet.input_blocks[index]
            positions[f"down_blocks.{level}.motion_modules.{j}"] = (block, len(block))
            index += 1
        index += 1  # the downsampler
    index = 0
    for up in range(levels):
        for j in range(unet.num_res_blocks[levels - 1 - up] + 1):
            block = unet.output_blocks[index]
            at = len(block) - 1 if isinstance(block[len(block) - 1], Upsample) else len(block)
            positions[f"up_blocks.{up}.motion_modules.{j}"] = (block, at)
            index += 1
    if mid_block:
        positions["mid_block.motion_modules.0"] = (unet.middle_block, len(unet.middle_block) - 1)
    return positions


def block_width(block: nn.Sequential) -> int:
    """Channels of a UNet block's output (its ResBlock's)."""
    return next(int(m.out_channels) for m in block if isinstance(m, ResBlock))


def check_fits(unet: nn.Module, weights: TemporalWeights) -> None:
    """Clear error when the temporal file was made for another UNet (block count or widths differ)."""
    try:
        positions = unet_slot_positions(unet, weights.has_mid_block)
    except (AttributeError, IndexError, TypeError) as exc:
        raise MagicAnimateError(f"MagicAnimate temporal attention: '{weights.name}' needs an SD1.5-layout "
                                f"UNet; this model is not one ({exc}). Connect an SD1.5 checkpoint's MODEL.") from exc
    if set(positions) != set(weights.widths):
        raise MagicAnimateError(f"MagicAnimate temporal attention: '{weights.name}' has {len(weights.widths)} motion "
                                f"modules but this model has {len(positions)} places for them; connect an SD1.5 model.")
    for slot, (block, _) in positions.items():
        if block_width(block) != weights.widths[slot]:
            raise MagicAnimateError(f"MagicAnimate temporal attention: '{weights.name}' has width "
                                    f"{weights.widths[slot]} at {slot} but the model's block there has "
                                    f"{block_width(block)} channels: the file is for a different model. Connect an "
                                    f"SD1.5 model (or the matching temporal file).")


def temporal_patcher(weights: TemporalWeights, model: ModelPatcher) -> ModelPatcher:
    """The motion modules as a ModelPatcher in the UNet's dtype (cached per dtype and device)."""
    weight_dtype = model.model.get_dtype()
    compute_dtype = getattr(model.model, "manual_cast_dtype", None)
    if weight_dtype not in FLOAT_DTYPES:  # e.g. fp8 UNet weights: keep the small temporal weights in compute dtype
        weight_dtype = compute_dtype if compute_dtype in FLOAT_DTYPES else torch.float16
        compute_dtype = None
    cache_key = (weight_dtype, compute_dtype, str(model.load_device), str(model.offload_device))
    patcher = weights.built.get(cache_key)
    if patcher is None:
        patcher = _build_patcher(weights, weight_dtype, compute_dtype, model.load_device, model.offload_device)
        weights.built[cache_key] = patcher
        log.info("MagicAnimate: temporal attention '%s' (%s) built in %s.", weights.name, weights.variant,
                 weight_dtype)
    return patcher


def _build_patcher(weights: TemporalWeights, weight_dtype: torch.dtype, compute_dtype: torch.dtype | None,
                   load_device: torch.device, offload_device: torch.device, **_: Any) -> ModelPatcher:
    """A new ModelPatcher of the motion modules; also the factory of ComfyUI's MultiGPU deep clones (0.22+)."""
    ops = comfy.ops.manual_cast if compute_dtype is not None else comfy.ops.disable_weight_init
    modules = MotionModuleSet(weights.widths, weights.max_frames, ops, dtype=weight_dtype).requires_grad_(False)
    # assign: in the file's dtype the modules use the loaded (memory-mapped) tensors themselves, not a second copy
    modules.load_state_dict({k: v.to(weight_dtype) for k, v in weights.state_dict.items()}, strict=True, assign=True)
    patcher = ModelPatcher(modules, load_device=load_device, offload_device=offload_device)
    patcher.cached_patcher_init = (_build_patcher, (weights, weight_dtype, compute_dtype, load_device,
                                                    offload_device))
    return patcher


def apply_temporal_attention(model: ModelPatcher, weights: TemporalWeights, strength: float = 1.0,
                             cross_frame_norm: bool = True) -> ModelPatcher:
    """A clone of ``model`` with the temporal modules; ``model`` itself is never changed."""
    check_fits(model.model.diffusion_model, weights)
    patched = model.clone()
    temporal = temporal_patcher(weights, model)
    mid_block = weights.has_mid_block

    def inject(unet_patcher: ModelPatcher) -> None:
        unet = unet_patcher.model.diffusion_model
        # The patcher's own motion modules: a MultiGPU clone has deep-cloned ones on its device.
        own = unet_patcher.get_additional_models_with_key(KEY)
        modules: MotionModuleSet = (own[0] if own else temporal).model
        for slot, (block, at) in unet_slot_positions(unet, mid_block).items():
            _insert_child(block, at, TemporalSlot(modules.module(slot), strength, weights.name))

    def eject(unet_patcher: ModelPatcher) -> None:
        unet = unet_patcher.model.diffusion_model
        for block, _ in unet_slot_positions(unet, mid_block).values():
            block._modules.pop(CHILD_NAME, None)

    patched.set_additional_models(KEY, [temporal])
    set_temporal_encoding(patched.model_options["transformer_options"],
                          TemporalEncoding(int(weights.max_frames), weights.name))
    patched.set_injections(KEY, [comfy.patcher_extension.PatcherInjection(inject, eject)])
    patches = patch_list(patched.model_options["transformer_options"], "forward_timestep_embed_patch")
    if not any(cls is TemporalSlot for cls, _ in patches):
        patched.set_model_forward_timestep_embed_patch((TemporalSlot, temporal_slot_forward))
    patched.remove_wrappers_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, KEY)
    if cross_frame_norm and strength != 0.0:
        patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, KEY,
                                     cross_frame_norm_wrapper)
    return patched


def motion_modules(patched: ModelPatcher) -> MotionModuleSet:
    """The motion modules that :func:`apply_temporal_attention` attached to ``patched``."""
    return patched.get_additional_models_with_key(KEY)[0].model


def _insert_child(block: nn.Sequential, at: int, child: nn.Module) -> None:
    """Put ``child`` at position ``at`` of ``block`` under :data:`CHILD_NAME`, keeping the other keys."""
    items = [(k, m) for k, m in block._modules.items() if k != CHILD_NAME]
    items.insert(at, (CHILD_NAME, child))
    block._modules.clear()
    block._modules.update(items)
