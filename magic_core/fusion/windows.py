"""Window schedules of the fusion sampler: which frames each model call of a denoising step covers.

``uniform`` is MagicAnimate's own schedule (the AnimateDiff-style ``uniform`` context scheduler, always
evaluated at step 0, so every step uses the same windows): window starts ``0, L-O, 2(L-O), ...`` while
``j < N`` (closed loop) or ``j < N - O``; each window is frames ``j .. j+L-1`` modulo ``N`` (the last window
wraps around to the first frames); with ``stride > 1`` (capped at ``ceil(log2(N/L)) + 1``) further passes
add dilated windows with frame step 2, 4, ....  ``uniform_shifting`` is the same schedule evaluated at the
current step (windows shift from step to step); ``static`` tiles the video without wrap-around, the last
window moved back to end on the last frame.  A video of at most ``L`` frames is one window of all frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import comfy.context_windows

from ..errors import MagicAnimateError
from .weights import FUSE_METHODS, FUSE_WEIGHTS

SCHEDULES = ("uniform", "uniform_shifting", "static")

Window = list[int]


@dataclass(frozen=True)
class FusionSettings:
    """The context settings of one fusion run (see the README's "Context settings")."""

    context_frames: int = 16
    context_overlap: int = 4
    context_stride: int = 1
    closed_loop: bool = True
    schedule: str = "uniform"
    fuse_method: str = "flat"
    window_batch: int = 1
    multigpu: bool = True

    def __post_init__(self) -> None:
        if self.context_frames < 1:
            raise MagicAnimateError(f"MagicAnimate fusion: context_frames is {self.context_frames}; it must be "
                                    f"at least 1 (16 is the original).")
        if not 0 <= self.context_overlap < self.context_frames:
            raise MagicAnimateError(f"MagicAnimate fusion: context_overlap is {self.context_overlap} with "
                                    f"context_frames {self.context_frames}; the overlap must be at least 0 and smaller "
                                    f"than the window (e.g. 4 for 16 frames).")
        if self.context_stride < 1:
            raise MagicAnimateError(f"MagicAnimate fusion: context_stride is {self.context_stride}; it must be "
                                    f"at least 1 (1 = no dilated passes, the original).")
        if self.window_batch < 1:
            raise MagicAnimateError(f"MagicAnimate fusion: window_batch is {self.window_batch}; it must be at least 1 "
                                    f"(1 = one window per model call, the original).")
        if self.schedule not in SCHEDULES:
            raise MagicAnimateError(f"MagicAnimate fusion: schedule '{self.schedule}' is unknown; choose one of "
                                    f"{', '.join(SCHEDULES)}.")
        if self.fuse_method not in FUSE_WEIGHTS:
            raise MagicAnimateError(f"MagicAnimate fusion: fuse_method '{self.fuse_method}' is unknown; choose one of "
                                    f"{', '.join(FUSE_METHODS)}.")


def uniform_windows(frames: int, context: int, overlap: int, stride: int = 1, closed_loop: bool = True,
                    step: int = 0) -> list[Window]:
    """MagicAnimate's ``uniform`` schedule at denoising step ``step`` (the original always uses step 0)."""
    if frames <= context:
        return [list(range(frames))]
    stride = min(stride, int(math.ceil(math.log2(frames / context))) + 1)
    shift = comfy.context_windows.ordered_halving(step)  # 0, 1/2, 1/4, 3/4, ... (the original's too)
    pad = int(round(frames * shift))
    windows: list[Window] = []
    for frame_step in (1 << k for k in range(stride)):
        end = frames + pad + (0 if closed_loop else -overlap)
        for start in range(int(shift * frame_step) + pad, end, context * frame_step - overlap):
            windows.append([f % frames for f in range(start, start + context * frame_step, frame_step)])
    return windows


def static_windows(frames: int, context: int, overlap: int) -> list[Window]:
    """Windows every ``context - overlap`` frames, no wrap-around; the last one ends on the last frame."""
    if frames <= context:
        return [list(range(frames))]
    windows: list[Window] = []
    for start in range(0, frames, context - overlap):
        if start + context >= frames:
            windows.append(list(range(frames - context, frames)))
            break
        windows.append(list(range(start, start + context)))
    return windows


def context_windows(frames: int, settings: FusionSettings, step: int = 0) -> list[Window]:
    """The windows of denoising step ``step`` for a video of ``frames`` frames."""
    if frames < 1:
        raise MagicAnimateError(f"MagicAnimate fusion: the latent has {frames} frames; it needs at least one.")
    if settings.schedule == "static":
        return static_windows(frames, settings.context_frames, settings.context_overlap)
    return uniform_windows(frames, settings.context_frames, settings.context_overlap, settings.context_stride,
                           settings.closed_loop, step if settings.schedule == "uniform_shifting" else 0)
