"""DensePose estimation of every frame of an IMAGE batch with the TorchScript model, rendered as MagicAnimate
DensePose (viridis part colours on RGB 68, 1, 84).

Sizing, as the reference renderer: the frame's shorter side is scaled to the detection resolution (``round``
half to even; bicubic when enlarging, area when shrinking), padded bottom and right to multiples of 64 by
repeating edge pixels, estimated, and the label canvas cropped back to the scaled size. The pack then resizes the
label map to the input's size with nearest neighbour (so a 1080x1920 frame gives a 1080x1920 DensePose frame
and every pixel stays an exact palette colour); Prepare Motion sizes it for the video after that.
"""
from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
import torch
import torch.nn.functional as F

from ..errors import MagicAnimateError
from ..notices import NO_PERSON, NoticeBoard, frame_list, warn
from .estimator_model import DensePoseModel
from .render import paint_detections, render_labels

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
    """(height, width) with the shorter side scaled to ``resolution`` (Python's half-to-even ``round``)."""
    scale = resolution / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def model_input(frame: torch.Tensor, resolution: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """uint8 ``[H, W, 3]`` -> the model's uint8 ``[3, H', W']`` (scaled, padded to 64) and the scaled size."""
    h, w = frame.shape[:2]
    size = detection_size(h, w, resolution)
    x = frame.permute(2, 0, 1)[None].float()
    if size != (h, w):
        mode = "bicubic" if size[0] > h else "area"
        kwargs = {"align_corners": False} if mode == "bicubic" else {}
        x = F.interpolate(x, size=size, mode=mode, **kwargs).round().clamp(0, 255)
    pad_h, pad_w = -size[0] % PAD, -size[1] % PAD
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x[0].to(torch.uint8), size


def estimate_labels(module: torch.jit.ScriptModule, frame: torch.Tensor, resolution: int,
                    device: torch.device) -> torch.Tensor:
    """The ``[H, W]`` part-label map of one uint8 ``[H, W, 3]`` frame, at the frame's own size."""
    image, (sh, sw) = model_input(frame, resolution)
    boxes, coarse, fine, _u, _v = module(image.to(device))
    canvas = paint_detections(boxes, coarse, fine, image.shape[1], image.shape[2])[:sh, :sw]
    if (sh, sw) != tuple(frame.shape[:2]):
        canvas = F.interpolate(canvas[None, None].float(), size=tuple(frame.shape[:2]), mode="nearest")[0, 0]
    return canvas.long()


def estimate_densepose(model: DensePoseModel, frames: torch.Tensor, resolution: int = 512,
                       notices: NoticeBoard | None = None) -> torch.Tensor:
    """MagicAnimate DensePose renderings ``[F, H, W, 3]`` (the input's size) of every frame; frames without a
    person are background, with one warning naming them."""
    if resolution < PAD or resolution % PAD:
        raise MagicAnimateError(f"MagicAnimate DensePose estimator: resolution {resolution} is not a positive "
                                f"multiple of 64; use e.g. 512.")
    pixels = to_uint8_rgb(frames)
    device = mm.get_torch_device()
    if device.type != "cpu":  # on the CPU, freeing would only unload the other models for nothing
        mm.free_memory(model.memory_required(), device)
    module = model.module(device)
    out = torch.empty(pixels.shape, dtype=torch.float32, device=mm.intermediate_device())
    empty: list[int] = []
    bar = comfy.utils.ProgressBar(pixels.shape[0])
    try:
        with torch.inference_mode():
            for i in range(pixels.shape[0]):
                mm.throw_exception_if_processing_interrupted()
                labels = estimate_labels(module, pixels[i], resolution, device)
                if not bool((labels > 0).any()):
                    empty.append(i)
                out[i] = render_labels(labels).to(out.device)
                bar.update_absolute(i + 1, pixels.shape[0])
    finally:
        if device.type != "cpu":
            model.release()  # the offload: the file's bytes stay in RAM, the device copy goes
            mm.soft_empty_cache()
    if empty:
        warn(notices, NO_PERSON, count=len(empty), total=pixels.shape[0], frames=frame_list(empty))
    return out
