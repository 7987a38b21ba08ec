"""The image the DensePose model sees, exactly as comfyui_controlnet_aux's DensePose preprocessor builds it.

The IMAGE becomes uint8 by truncation (``uint8(x * 255)``); the frame's shorter side is scaled to the detection
resolution: ``k = resolution / min(H, W)``, size ``round(H * k) x round(W * k)`` (half to even), resized with
OpenCV on the uint8 image: ``INTER_CUBIC`` when enlarging (k > 1), ``INTER_AREA`` otherwise (also at k = 1);
then padded bottom and right to multiples of 64 by repeating edge pixels. OpenCV itself is used because its
fixed-point resizers are what the ControlNet's training DensePose went through; torch's ``area`` / ``bicubic``
give a different model input (up to 107/255 per value when shrinking 540 -> 512).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MagicAnimateError

PAD = 64


def to_uint8_rgb(frames: torch.Tensor) -> torch.Tensor:
    """IMAGE ``[F, H, W, C]`` -> uint8 ``[F, H, W, 3]``: ``trunc(x * 255)``; RGBA over white, grey repeated."""
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: expected a non-empty IMAGE batch [frames, "
                                f"height, width, channels], got shape {tuple(frames.shape)}; connect images.")
    x = frames.float().clamp(0, 1)
    if x.shape[-1] == 4:
        x = x[..., :3] * x[..., 3:] + (1 - x[..., 3:])
    elif x.shape[-1] == 1:
        x = x.repeat(1, 1, 1, 3)
    elif x.shape[-1] != 3:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: expected 1, 3 or 4 channels, got "
                                f"{x.shape[-1]}; connect RGB images.")
    return (x * 255).to(torch.uint8)


def detection_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(height, width) with the shorter side scaled to ``resolution`` (half-to-even rounding, as NumPy's)."""
    scale = float(resolution) / min(height, width)
    return max(1, int(np.round(height * scale))), max(1, int(np.round(width * scale)))


def _cv2():
    try:
        import cv2
    except ImportError as exc:
        raise MagicAnimateError("MagicAnimate DensePose estimator: OpenCV is not installed; install the pack's "
                                "requirements (python -m pip install -r requirements.txt in ComfyUI's Python: "
                                "opencv-python-headless).") from exc
    return cv2


def resize_like_controlnet_aux(frame: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 ``[H, W, 3]`` -> uint8 with the shorter side at ``resolution``: OpenCV INTER_CUBIC when enlarging
    (k > 1), INTER_AREA otherwise (k = 1 included)."""
    cv2 = _cv2()
    size = detection_size(frame.shape[0], frame.shape[1], resolution)
    method = cv2.INTER_CUBIC if resolution > min(frame.shape[:2]) else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(frame), (size[1], size[0]), interpolation=method)


def model_input(frame: torch.Tensor, resolution: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """uint8 ``[H, W, 3]`` -> the model's uint8 ``[3, H', W']`` (scaled, padded to 64) and the scaled size."""
    scaled = torch.from_numpy(resize_like_controlnet_aux(frame.cpu().numpy(), resolution))
    size = (scaled.shape[0], scaled.shape[1])
    x = scaled.permute(2, 0, 1)[None].float()
    pad_h, pad_w = -size[0] % PAD, -size[1] % PAD
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x[0].to(torch.uint8), size
