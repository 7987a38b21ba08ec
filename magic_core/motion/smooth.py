"""Removing DensePose jitter: per pixel, the majority part label over a centred window of frames.

Works in label space (colours decoded to part indices, smoothed, rendered again), so every output pixel is an
exact palette colour. At the ends of the video the window is cut to the frames there are. A tie keeps the
centre frame's label when it is among the most frequent, else the lowest such label.
"""
from __future__ import annotations

import comfy.model_management as mm
import comfy.utils
import torch

from ..image_batch import check_frames
from ..notices import SMOOTH_WINDOW_EVEN, NoticeBoard, warn
from .codec import PARTS, decode_labels, render_labels


def majority_labels(labels: torch.Tensor, window: int) -> torch.Tensor:
    """``[F, H, W]`` labels (any integer dtype) -> per-pixel majority over frames ``t - w // 2 .. t + w // 2``."""
    half = window // 2
    frames = labels.shape[0]
    out = torch.empty_like(labels)
    bar = comfy.utils.ProgressBar(frames)
    for t in range(frames):
        mm.throw_exception_if_processing_interrupted()
        chunk = labels[max(0, t - half):t + half + 1].long()
        counts = torch.zeros((PARTS, *labels.shape[1:]), dtype=torch.int32, device=labels.device)
        counts.scatter_add_(0, chunk, torch.ones_like(chunk, dtype=torch.int32))
        best = counts.max(dim=0).values
        centre = labels[t].long()
        keep = counts.gather(0, centre[None])[0] == best
        out[t] = torch.where(keep, centre, counts.argmax(dim=0)).to(out.dtype)
        bar.update_absolute(t + 1, frames)
    return out


def smooth_motion(frames: torch.Tensor, window: int = 3, notices: NoticeBoard | None = None) -> torch.Tensor:
    """DensePose frames with single-frame part flips removed (``window`` 1 = unchanged)."""
    frames = check_frames(frames, "smooth motion")
    if window <= 1:
        return frames
    if window % 2 == 0:
        warn(notices, SMOOTH_WINDOW_EVEN, window=window, used=window + 1)
        window += 1
    return render_labels(majority_labels(decode_labels(frames), window)).to(frames.device)
