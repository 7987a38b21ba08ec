"""Preparing DensePose frames for MagicAnimate: select frames, then size them to the video (crop, pad, stretch)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import MagicAnimateError
from ..image_batch import check_frames
from ..notices import FRAME_SHORTFALL, NoticeBoard, warn
from .codec import DENSEPOSE_BACKGROUND
from .colormap import apply_colormap, check_colormap

FIT_MODES = ("crop", "pad", "stretch")


def select_frames(frames: torch.Tensor, start_frame: int, frame_count: int, every_nth: int) -> torch.Tensor:
    """Frames ``start_frame, start_frame + every_nth, ...``; at most ``frame_count`` of them (0 = all)."""
    if every_nth < 1:
        raise MagicAnimateError(f"MagicAnimate motion: every_nth must be at least 1, got {every_nth}.")
    if not 0 <= start_frame < frames.shape[0]:
        raise MagicAnimateError(f"MagicAnimate motion: start_frame {start_frame} is outside the input's "
                                f"{frames.shape[0]} frames (valid: 0..{frames.shape[0] - 1}); set start_frame to a "
                                f"frame inside the video.")
    chosen = frames[start_frame::every_nth]
    return chosen[:frame_count] if frame_count > 0 else chosen


def fit_frames(frames: torch.Tensor, width: int, height: int, fit: str) -> torch.Tensor:
    """Resize frames to ``width`` x ``height``: ``crop`` (cover, centre crop), ``pad`` (contain, padded with the
    DensePose background colour) or ``stretch`` (ignore the aspect ratio)."""
    if fit not in FIT_MODES:
        raise MagicAnimateError(f"MagicAnimate motion: fit must be one of {FIT_MODES}, got {fit!r}.")
    for label, value in (("width", width), ("height", height)):
        if value < 8 or value % 8:
            raise MagicAnimateError(f"MagicAnimate motion: {label} {value} is not a positive multiple "
                                    f"of 8 (the VAE works in 8-pixel steps); use e.g. {max(8, round(value / 8) * 8)}.")
    src_h, src_w = frames.shape[1:3]
    if fit == "stretch":
        return _resize(frames, height, width)
    scale = (max if fit == "crop" else min)(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    resized = _resize(frames, new_h, new_w)
    if fit == "crop":
        top, left = (new_h - height) // 2, (new_w - width) // 2
        return resized[:, top:top + height, left:left + width]
    out = torch.empty(frames.shape[0], height, width, 3, dtype=frames.dtype, device=frames.device)
    out[:] = torch.tensor(DENSEPOSE_BACKGROUND, dtype=frames.dtype) / 255.0
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[:, top:top + new_h, left:left + new_w] = resized
    return out


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if frames.shape[1:3] == (height, width):
        return frames.clone()
    x = frames.movedim(-1, 1).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return x.movedim(1, -1).clamp(0, 1).to(frames.dtype)


def output_fps(fps: float, every_nth: int) -> float:
    """The frame rate of the selected frames: the source's ``fps`` divided by ``every_nth``."""
    return float(fps) / max(1, int(every_nth))


def prepare_motion(frames: torch.Tensor, width: int, height: int, fit: str, start_frame: int = 0,
                   frame_count: int = 0, every_nth: int = 1, colormap: str = "viridis",
                   notices: NoticeBoard | None = None) -> torch.Tensor:
    """Select and size DensePose frames for the ControlNet hints and the latent (one call, one frame count);
    ``colormap`` converts Parula DensePose first; frames that do not look like MagicAnimate DensePose are warned
    about (``notices``), and so is a ``frame_count`` the video cannot give (past its end: not an error)."""
    frames = check_frames(frames)
    chosen = select_frames(frames, start_frame, frame_count, every_nth)
    if 0 < chosen.shape[0] < frame_count:
        warn(notices, FRAME_SHORTFALL, asked=frame_count, given=chosen.shape[0], total=frames.shape[0],
             start=start_frame, nth=every_nth)
    check_colormap(chosen, colormap, notices)
    return fit_frames(apply_colormap(chosen, colormap), width, height, fit)
