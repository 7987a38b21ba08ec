"""MagicAnimate's DensePose colour codec: part index <-> colour, both ways, in one place.

Each fine body-part index I (1..24, 0 = background) is drawn as OpenCV's VIRIDIS colour of the grey value
``uint8(I * 255 / 24)``; the background is viridis at 0, RGB (68, 1, 84). The "Parula (CivitAI)" renderings use
PARULA at the same grey values on a black background. Decoding takes each pixel's nearest palette colour: video
compression moves colours a little (the original project's videos have the background at about RGB 65, 0, 81), so
the distance is returned too and callers can tell palette pixels from anything else. Every motion step works in
label space (decode, change labels, `render_labels`), so its output pixels are exact palette colours.
"""
from __future__ import annotations

import torch

DENSEPOSE_BACKGROUND = (68, 1, 84)

# OpenCV COLORMAP_VIRIDIS at uint8(I * 255 / 24) for part index I = 0..24, as RGB.
PART_COLORS = torch.tensor([
    [68, 1, 84], [71, 16, 99], [72, 31, 112], [71, 44, 122], [68, 57, 131], [64, 70, 136], [59, 81, 139],
    [54, 93, 141], [49, 104, 142], [44, 113, 142], [40, 124, 142], [37, 133, 142], [33, 144, 141],
    [31, 154, 138], [32, 163, 134], [39, 173, 129], [53, 183, 121], [70, 192, 111], [92, 200, 99],
    [115, 208, 86], [142, 214, 69], [170, 220, 50], [197, 224, 33], [226, 228, 24], [253, 231, 37],
], dtype=torch.uint8)

# OpenCV COLORMAP_PARULA at the same grey values, as RGB; the background (index 0) stays black.
PARULA_COLORS = torch.tensor([
    [0, 0, 0], [37, 60, 163], [20, 80, 194], [4, 97, 223], [8, 110, 221], [14, 122, 216], [20, 132, 212],
    [15, 144, 208], [11, 156, 203], [6, 166, 198], [22, 173, 185], [38, 179, 172], [55, 185, 159],
    [86, 187, 144], [114, 189, 130], [145, 191, 116], [170, 189, 105], [192, 188, 96], [216, 186, 86],
    [228, 192, 74], [240, 199, 60], [252, 206, 46], [251, 220, 36], [250, 235, 25], [249, 251, 14],
], dtype=torch.uint8)

PARTS = PART_COLORS.shape[0]  # 25 labels: background + 24 parts
CHUNK = 1 << 20  # pixels decoded at once (bounds the [pixels, 25] distance table)


def render_labels(labels: torch.Tensor, palette: torch.Tensor = PART_COLORS) -> torch.Tensor:
    """Label maps ``[..., H, W]`` (0..24) -> IMAGE ``[..., H, W, 3]`` in 0..1 with the exact palette colours."""
    return palette.to(labels.device)[labels.long()].float() / 255.0  # long: uint8 would index as a mask


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
