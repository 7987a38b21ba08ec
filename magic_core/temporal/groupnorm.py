"""Cross-frame GroupNorm: the original's ResBlock and output GroupNorms with statistics over all frames.

Installed only for one forward pass of one patched model clone, through a ``DIFFUSION_MODEL`` wrapper that
lives in that clone's options: it adds per-instance forward hooks to the UNet's ResBlock norms and output
norm and removes them in ``finally`` (also on errors and interrupts). Nothing global is replaced; the norm
modules keep their own forward (so ComfyUI's low-VRAM weight casting and weight patches still apply): the
pre-hook hands them a 5-D ``[chunks, C, frames, H, W]`` view and the hook folds the result back.
"""
from __future__ import annotations

import weakref
from typing import Any

import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock
from torch import nn

from ..frame_contract import frame_layout

_NORMS: weakref.WeakKeyDictionary[nn.Module, list[nn.Module]] = weakref.WeakKeyDictionary()


def cross_frame_norms(unet: nn.Module) -> list[nn.Module]:
    """The GroupNorms that the original computes over all frames: every ResBlock's two and the output norm.

    Remembered per UNet (weakly), so the module walk is done once, not at every model call."""
    if unet not in _NORMS:
        _NORMS[unet] = _find_cross_frame_norms(unet)
    return _NORMS[unet]


def _find_cross_frame_norms(unet: nn.Module) -> list[nn.Module]:
    norms = []
    for module in unet.modules():
        if isinstance(module, ResBlock):
            norms += [module.in_layers[0], module.out_layers[0]]
    norms.append(unet.out[0])
    return [n for n in norms if isinstance(n, nn.GroupNorm)]


def cross_frame_norm_wrapper(executor: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``DIFFUSION_MODEL`` wrapper: run the UNet with its ResBlock/output GroupNorms spanning each window's frames."""
    x = args[0]
    transformer_options = args[5] if len(args) > 5 else kwargs.get("transformer_options", {})
    layout = frame_layout(transformer_options, x.shape[0])
    if layout.window_frames == 1:
        return executor(*args, **kwargs)
    handles = []
    try:
        for norm in cross_frame_norms(executor.class_obj):
            handles.append(norm.register_forward_pre_hook(_to_video_hook(layout.groups, layout.window_frames)))
            handles.append(norm.register_forward_hook(_from_video_hook))
        return executor(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()


def _to_video_hook(chunks: int, frames: int):
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...] | None:
        x = inputs[0]
        if x.ndim != 4 or x.shape[0] != chunks * frames:
            return None
        n, c, h, w = x.shape
        return (x.view(chunks, frames, c, h, w).transpose(1, 2),) + tuple(inputs[1:])
    return hook


def _from_video_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
    if output.ndim != 5:
        return None
    chunks, c, frames, h, w = output.shape
    return output.transpose(1, 2).reshape(chunks * frames, c, h, w)
