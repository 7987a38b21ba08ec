"""Part-label canvases from DensePose detections, and label maps as MagicAnimate's palette images.

Per detection (in the model's order): the box becomes x, y, w, h truncated toward zero (w, h at least 1); the
coarse and fine logits are resized to (h, w) bilinearly (``align_corners=False``); the label is
``argmax(fine) * (argmax(coarse) > 0)``. Inside the box (the part of it within the canvas), labels > 0
overwrite the canvas (later people cover earlier ones), 0 leaves it. Colouring the canvas with `PART_COLORS` is
then exactly the reference renderer's viridis image with its background RGB (68, 1, 84): no viridis part colour
has a zero channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .palette import PART_COLORS


def detection_labels(coarse: torch.Tensor, fine: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``[h, w]`` int64 part labels (0..24) of one detection's logits ``[2, S, S]`` / ``[25, S, S]``."""
    size = (height, width)
    coarse = F.interpolate(coarse[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    fine = F.interpolate(fine[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return fine.argmax(0) * (coarse.argmax(0) > 0)


def paint_detections(boxes: torch.Tensor, coarse: torch.Tensor, fine: torch.Tensor, height: int,
                     width: int) -> torch.Tensor:
    """``[height, width]`` int64 label canvas of all detections (boxes XYXY in canvas pixels)."""
    canvas = torch.zeros(height, width, dtype=torch.int64, device=boxes.device)
    for i in range(boxes.shape[0]):
        x0, y0, x1, y1 = boxes[i].float().tolist()
        x, y = int(x0), int(y0)
        w, h = max(int(x1 - x0), 1), max(int(y1 - y0), 1)
        cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if cx0 >= cx1 or cy0 >= cy1:
            continue  # a box wholly outside the canvas
        labels = detection_labels(coarse[i], fine[i], w, h)
        patch = labels[cy0 - y:cy1 - y, cx0 - x:cx1 - x]
        canvas[cy0:cy1, cx0:cx1] = torch.where(patch > 0, patch, canvas[cy0:cy1, cx0:cx1])
    return canvas


def render_labels(labels: torch.Tensor) -> torch.Tensor:
    """Label maps ``[..., H, W]`` (0..24) -> IMAGE ``[..., H, W, 3]`` in 0..1 with the exact palette colours."""
    return PART_COLORS.to(labels.device)[labels.long()].float() / 255.0  # long: uint8 would index as a mask
