"""The one check of an IMAGE batch (ComfyUI's ``[frames, H, W, C]`` float 0..1): motion frames, DensePose hints
and the reference image all go through it."""
from __future__ import annotations

import torch

from .errors import MagicAnimateError


def check_frames(frames: torch.Tensor, name: str = "frames", source: str = "a video or image with frames",
                 error: type[MagicAnimateError] = MagicAnimateError) -> torch.Tensor:
    """Validate an IMAGE batch and return its RGB channels (an alpha channel is dropped).

    ``name`` starts each message (``MagicAnimate <name>: ...``), ``source`` says what to connect instead of an
    empty batch, ``error`` is the class raised."""
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4:
        shape = (f"a tensor of shape {tuple(frames.shape)}" if isinstance(frames, torch.Tensor)
                 else type(frames).__name__)
        raise error(f"MagicAnimate {name}: expected an IMAGE batch [frames, height, width, channels], got {shape}.")
    if frames.shape[0] == 0:
        raise error(f"MagicAnimate {name}: the IMAGE batch is empty (0 frames); connect {source}.")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise error(f"MagicAnimate {name}: the IMAGE batch has shape {tuple(frames.shape)}; it needs at least 1x1 "
                    f"pixels.")
    if frames.shape[-1] == 4:
        frames = frames[..., :3]
    if frames.shape[-1] != 3:
        raise error(f"MagicAnimate {name}: expected RGB frames (3 channels), got {frames.shape[-1]} channels; "
                    f"convert the frames to RGB images.")
    return frames
