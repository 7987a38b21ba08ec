"""DensePose colours back to part indices: each pixel's nearest palette colour (viridis by default).

Video compression moves colours a little (the original project's videos have the background at about
RGB 65, 0, 81 instead of 68, 1, 84); the nearest colour and its distance are both returned so callers can tell
palette pixels from anything else.
"""
from __future__ import annotations

import torch

from .palette import PART_COLORS

CHUNK = 1 << 20  # pixels decoded at once (bounds the [pixels, 25] distance table)


def nearest_palette(frames: torch.Tensor, palette: torch.Tensor = PART_COLORS) -> tuple[torch.Tensor, torch.Tensor]:
    """IMAGE ``[..., 3]`` in 0..1 -> (uint8 index of the nearest palette colour, its RGB distance in 0..255
    units); decoded in chunks, so a long full-HD video needs no float copy of itself."""
    shape = frames.shape[:-1]
    pixels = frames.reshape(-1, 3)
    colors = palette.to(pixels.device).float()
    index = torch.empty(pixels.shape[0], dtype=torch.uint8, device=pixels.device)
    distance = torch.empty(pixels.shape[0], dtype=torch.float32, device=pixels.device)
    for start in range(0, pixels.shape[0], CHUNK):
        d = torch.cdist(pixels[start:start + CHUNK].float() * 255.0, colors)
        best = d.min(dim=1)
        distance[start:start + CHUNK] = best.values
        index[start:start + CHUNK] = best.indices.to(torch.uint8)
    return index.reshape(shape), distance.reshape(shape)


def decode_labels(frames: torch.Tensor, palette: torch.Tensor = PART_COLORS) -> torch.Tensor:
    """uint8 part-label maps ``[..., H, W]`` (0 = background, 1..24 parts) of DensePose renderings."""
    return nearest_palette(frames, palette)[0]
