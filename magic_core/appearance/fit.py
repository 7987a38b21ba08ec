"""Fitting the reference image to the video's aspect ratio: centre crop (the default) or pad with its edges."""
from __future__ import annotations

import torch

from ..errors import MagicAnimateError
from ..notices import REFERENCE_CROP, NoticeBoard, warn

REFERENCE_FITS = ("crop", "pad")
# Warn when the crop takes away more than this share of the reference's width or height.
CROP_WARN_FRACTION = 0.2


def check_reference_fit(fit: str) -> str:
    """``fit`` itself when it is a known mode; a clear error otherwise."""
    if fit not in REFERENCE_FITS:
        raise MagicAnimateError(f"MagicAnimate appearance encoder: reference_fit must be one of {REFERENCE_FITS}, "
                                f"got {fit!r}; crop (the original) or pad.")
    return fit


def crop_kept(image_size: tuple[int, int], target_size: tuple[int, int]) -> tuple[float, str]:
    """(share of the reference kept by a centre crop to the target's aspect ratio, the side it is cut on);
    sizes are ``(height, width)``."""
    (h, w), (th, tw) = image_size, target_size
    image_aspect, target_aspect = w / h, tw / th
    if image_aspect > target_aspect:
        return target_aspect / image_aspect, "width"
    return image_aspect / target_aspect, "height"


def pad_to_aspect(pixels: torch.Tensor, target_size: tuple[int, int]) -> torch.Tensor:
    """``pixels`` ``[B, C, H, W]`` padded (centred) to the aspect ratio of ``target_size = (h, w)``.

    The border repeats the image's edge pixels rather than one mean edge colour: it continues the photo's own
    background (wall, floor) outwards, so the encoder sees no frame with a hard edge that a flat colour makes
    wherever the edge is not uniform, and where the edge is uniform both give the same result.
    """
    h, w = pixels.shape[-2:]
    th, tw = target_size
    if w * th > tw * h:  # wider than the target: pad top and bottom
        new_h, new_w = round(w * th / tw), w
    else:
        new_h, new_w = h, round(h * tw / th)
    top, left = (new_h - h) // 2, (new_w - w) // 2
    if new_h == h and new_w == w:
        return pixels
    return torch.nn.functional.pad(pixels, (left, new_w - w - left, top, new_h - h - top), mode="replicate")


def say_crop(image_size: tuple[int, int], target_size: tuple[int, int], notices: NoticeBoard | None) -> None:
    """Warn (with the numbers) when a centre crop to ``target_size`` takes away more than 20% of the reference."""
    kept, side = crop_kept(image_size, target_size)
    if 1.0 - kept > CROP_WARN_FRACTION:
        warn(notices, REFERENCE_CROP, ref_w=image_size[1], ref_h=image_size[0], video_w=target_size[1],
             video_h=target_size[0], kept=round(kept * 100), side=side)
