"""The optional MASK of ``person = by mask``, checked against the frames (count and size) with a defined fallback."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import MagicAnimateError
from ..notices import MASK_EMPTY, MASK_RESIZED, MASK_UNUSED, NoticeBoard, warn


def person_masks(mask: torch.Tensor | None, mode: str, frames: int, height: int, width: int,
                 notices: NoticeBoard | None = None) -> tuple[str, torch.Tensor | None]:
    """(the person mode to use, a bool ``[1 or frames, height, width]`` mask or None).

    ``by mask`` without a mask is an error; a mask whose frame count is neither 1 nor the frames' is an error; one
    of another size is stretched to the frames (nearest) with a warning; an empty mask falls back to ``all`` with a
    warning; a mask with another mode is unused, with a warning."""
    if mask is None:
        if mode == "by mask":
            raise MagicAnimateError("MagicAnimate DensePose estimator: person is by mask but no mask is connected; "
                                    "connect a MASK (e.g. from a SAM or background-removal node, or a painted "
                                    "mask) or pick another person mode.")
        return mode, None
    if mode != "by mask":
        warn(notices, MASK_UNUSED, mode=mode)
        return mode, None
    m = mask if mask.ndim == 3 else mask[None] if mask.ndim == 2 else None
    if m is None or m.shape[0] == 0:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: expected a MASK [frames, height, width], got "
                                f"shape {tuple(mask.shape)}.")
    if m.shape[0] not in (1, frames):
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: the mask has {m.shape[0]} frames but the images "
                                f"have {frames}; give one mask for all frames or one per frame.")
    if tuple(m.shape[1:]) != (height, width):
        warn(notices, MASK_RESIZED, mask_w=m.shape[2], mask_h=m.shape[1], width=width, height=height)
        m = F.interpolate(m[:, None].float(), size=(height, width), mode="nearest")[:, 0]
    m = m.cpu() > 0.5
    if not bool(m.any()):
        warn(notices, MASK_EMPTY)
        return "all", None
    return mode, m
