"""Fuse weights: how much each position of a window counts when window predictions are averaged per frame.

``flat`` is the original's plain average (every window counts 1 for each frame it covers); ``pyramid``
weights the window's middle frames more (1, 2, ..., L/2, L/2, ..., 1); ``overlap_linear`` ramps linearly
over the overlap at a window's edge where another window takes over (not at the video's first/last frame);
``gaussian`` is a bell over the window (sigma = L/4).  Every weight is strictly positive, so every covered
frame gets a finite average.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..errors import MagicAnimateError
from .windows import FUSE_METHODS


def _pyramid(length: int) -> list[float]:
    half = (length + 1) // 2
    rising = list(range(1, half + 1))
    return [float(w) for w in rising + rising[: length - half][::-1]]


def _overlap_linear(length: int, overlap: int, indices: Sequence[int], video_frames: int) -> list[float]:
    weights = [1.0] * length
    ramp = min(overlap, length // 2)
    if ramp == 0:
        return weights
    steps = [(k + 1) / (ramp + 1) for k in range(ramp)]  # strictly between 0 and 1
    if indices[0] != 0:
        weights[:ramp] = steps
    if indices[-1] != video_frames - 1:
        weights[length - ramp:] = steps[::-1]
    return weights


def _gaussian(length: int) -> list[float]:
    center, sigma = (length - 1) / 2, max(length, 1) / 4
    return [math.exp(-0.5 * ((i - center) / sigma) ** 2) for i in range(length)]


def window_weights(method: str, indices: Sequence[int], video_frames: int, overlap: int) -> torch.Tensor:
    """Weights (float32, one per window position) of the window ``indices`` of a ``video_frames`` video."""
    length = len(indices)
    if method == "flat":
        weights = [1.0] * length
    elif method == "pyramid":
        weights = _pyramid(length)
    elif method == "overlap_linear":
        weights = _overlap_linear(length, overlap, indices, video_frames)
    elif method == "gaussian":
        weights = _gaussian(length)
    else:
        raise MagicAnimateError(f"MagicAnimate fusion: fuse_method '{method}' is unknown; choose one of "
                                f"{', '.join(FUSE_METHODS)}.")
    return torch.tensor(weights, dtype=torch.float32)
