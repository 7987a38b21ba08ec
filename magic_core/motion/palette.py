"""MagicAnimate's DensePose colours: each fine body-part index I (1..24, 0 = background) is drawn as OpenCV's
VIRIDIS colour of the grey value ``uint8(I * 255 / 24)``; the background is viridis at 0, RGB (68, 1, 84)."""
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


def colorize_parts(parts: torch.Tensor) -> torch.Tensor:
    """Part-index maps -> IMAGE ``[frames, H, W, 3]`` in 0..1 with the viridis DensePose colours."""
    return PART_COLORS[parts].float() / 255.0

# OpenCV COLORMAP_PARULA at the same grey values, as RGB: the "Parula (CivitAI)" DensePose renderings, whose
# background stays black (index 0).
PARULA_COLORS = torch.tensor([
    [0, 0, 0], [37, 60, 163], [20, 80, 194], [4, 97, 223], [8, 110, 221], [14, 122, 216], [20, 132, 212],
    [15, 144, 208], [11, 156, 203], [6, 166, 198], [22, 173, 185], [38, 179, 172], [55, 185, 159],
    [86, 187, 144], [114, 189, 130], [145, 191, 116], [170, 189, 105], [192, 188, 96], [216, 186, 86],
    [228, 192, 74], [240, 199, 60], [252, 206, 46], [251, 220, 36], [250, 235, 25], [249, 251, 14],
], dtype=torch.uint8)
