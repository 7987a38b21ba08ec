"""Fuse weights: how much each position of a window counts when window predictions are averaged per frame.

``flat`` is the original's plain average (every window counts 1 for each frame it covers); ``pyramid``
weights the window's middle frames more (1, 2, ..., L/2, L/2, ..., 1); ``overlap_linear`` ramps linearly
over the overlap at a window's edge where another window takes over (not at the video's first/last frame);
``gaussian`` is a bell over the window (sigma = L/4).  Every weight is strictly positive, so every covered
frame gets a finite average.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


def _flat(length: int) -> list[float]:
    return [1.0] * length


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


# fuse_method -> weights of a window (indices, video frames, overlap); the keys are the valid fuse methods.
FUSE_WEIGHTS: dict[str, Callable[[Sequence[int], int, int], list[float]]] = {
    "flat": lambda indices, video_frames, overlap: _flat(len(indices)),
    "pyramid": lambda indices, video_frames, overlap: _pyramid(len(indices)),
    "overlap_linear": lambda indices, video_frames, overlap: _overlap_linear(len(indices), overlap, indices,
                                                                             video_frames),
    "gaussian": lambda indices, video_frames, overlap: _gaussian(len(indices)),
}
FUSE_METHODS = tuple(FUSE_WEIGHTS)


def window_weights(method: str, indices: Sequence[int], video_frames: int, overlap: int) -> torch.Tensor:
    """Weights (float32, one per window position) of the window ``indices`` of a ``video_frames`` video
    (``method``: a key of :data:`FUSE_WEIGHTS`, checked by ``FusionSettings``)."""
    return torch.tensor(FUSE_WEIGHTS[method](indices, video_frames, overlap), dtype=torch.float32)
