"""The one check of an IMAGE batch (ComfyUI's ``[frames, H, W, C]`` float 0..1) used by every entry point."""
from __future__ import annotations

import torch

from .errors import MagicAnimateError


def check_frames(frames: torch.Tensor, name: str = "frames") -> torch.Tensor:
    """Validate an IMAGE batch and return its RGB channels (an alpha channel is dropped)."""
    if frames.ndim != 4:
        raise MagicAnimateError(f"MagicAnimate {name}: expected an IMAGE batch [frames, height, width, channels], "
                                f"got a tensor of shape {tuple(frames.shape)}.")
    if frames.shape[0] == 0:
        raise MagicAnimateError(f"MagicAnimate {name}: the IMAGE batch is empty (0 frames); connect a video or image "
                                f"with frames.")
    if frames.shape[-1] == 4:
        frames = frames[..., :3]
    if frames.shape[-1] != 3:
        raise MagicAnimateError(f"MagicAnimate {name}: expected RGB frames (3 channels), got {frames.shape[-1]} "
                                f"channels; convert the DensePose frames to RGB images.")
    return frames
