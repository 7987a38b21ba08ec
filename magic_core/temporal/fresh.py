"""New motion modules for a UNet, not read from a file: stage-2 training's start and the benchmark's weights."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import comfy.ops
import torch
from torch import nn

from .loading import TemporalWeights, check_temporal_state_dict
from .module import MotionModuleSet, sinusoidal_encoding
from .patch import block_width, unet_slot_positions


def new_temporal_weights(unet: nn.Module, init: Callable[[nn.Module], Any], name: str, max_frames: int = 24,
                         zero_output: bool = True, dtype: torch.dtype | None = torch.float32) -> TemporalWeights:
    """Motion modules at ``unet``'s widths (no mid block), checked by the temporal loader as a file would be.

    ``init(modules)`` sets the weights; ``zero_output``: every ``proj_out`` zero, so the model starts as the image
    model (as training starts); the positional encodings are the sinusoidal ones every file holds.
    """
    widths = {slot: block_width(block) for slot, (block, _) in unet_slot_positions(unet, False).items()}
    modules = MotionModuleSet(widths, max_frames, comfy.ops.disable_weight_init, dtype=dtype)
    init(modules)
    with torch.no_grad():
        for slot in widths:
            module = modules.module(slot)
            if zero_output:
                for parameter in module.temporal_transformer.proj_out.parameters():
                    parameter.zero_()
            for block in module.temporal_transformer.transformer_blocks:
                for attention in block.attention_blocks:
                    attention.pos_encoder.pe.copy_(sinusoidal_encoding(max_frames, widths[slot]))
    return check_temporal_state_dict(modules.state_dict(), name)
