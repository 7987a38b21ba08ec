"""Part-label canvases from DensePose detections (the model's boxes and logits).

Per detection (in the model's order): the float32 XYXY box becomes XYWH in float32 (w = x1 - x0, h = y1 - y0), then
each value is truncated toward zero; a box under 1 pixel wide or high draws nothing. The
coarse and fine logits are resized to (h, w) bilinearly (``align_corners=False``); the label is
``argmax(fine) * (argmax(coarse) > 0)``. Inside the box (the part of it within the canvas), labels > 0
overwrite the canvas (later people cover earlier ones), 0 leaves it. Colouring the canvas with ``codec.render_labels``
is then exactly the reference renderer's viridis image with its background RGB (68, 1, 84): no viridis part colour
has a zero channel.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def detection_labels(coarse: torch.Tensor, fine: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``[h, w]`` int64 part labels (0..24) of one detection's logits ``[2, S, S]`` / ``[25, S, S]``."""
    size = (height, width)
    coarse = F.interpolate(coarse[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    fine = F.interpolate(fine[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return fine.argmax(0) * (coarse.argmax(0) > 0)


def boxes_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """``[N, 4]`` XYXY boxes -> int64 XYWH: the subtraction in float32, then truncation toward zero."""
    xywh = boxes.to(torch.float32).clone()
    xywh[:, 2:] -= xywh[:, :2]
    return xywh.long()


def paint_detections(boxes: torch.Tensor, coarse: torch.Tensor, fine: torch.Tensor, height: int, width: int,
                     chosen: list[int] | None = None) -> torch.Tensor:
    """``[height, width]`` int64 label canvas of the detections ``chosen`` (default all; boxes XYXY in canvas
    pixels), painted in the model's order."""
    canvas = torch.zeros(height, width, dtype=torch.int64, device=boxes.device)
    xywh = boxes_xywh(boxes).tolist()
    for i in range(boxes.shape[0]) if chosen is None else sorted(chosen):
        x, y, w, h = xywh[i]
        if w < 1 or h < 1:
            continue  # controlnet_aux draws nothing for a box under a pixel wide or high
        cx0, cy0, cx1, cy1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if cx0 >= cx1 or cy0 >= cy1:
            continue  # a box wholly outside the canvas
        labels = detection_labels(coarse[i], fine[i], w, h)
        patch = labels[cy0 - y:cy1 - y, cx0 - x:cx1 - x]
        canvas[cy0:cy1, cx0:cx1] = torch.where(patch > 0, patch, canvas[cy0:cy1, cx0:cx1])
    return canvas
