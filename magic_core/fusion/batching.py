"""Window batches: up to ``window_batch`` windows of a step through the model in one call.

A batch's windows are consecutive windows of the step with the same length; their frames are laid out one
window after another in every cond/uncond chunk (the frame contract's ``windows``), so temporal attention,
reference attention and the DensePose hints stay per window.  Each window's rows of the call's output are
fused into the video exactly as a call of its own would be.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import call_options
from ..comfy_compat import index_list_window
from ..frame_contract import set_window
from .windows import FusionSettings, Window, context_windows

# uniform_shifting windows change from step to step; the estimate looks at this many steps' windows.
SHIFT_STEPS_CHECKED = 64


def window_batches(windows: list[Window], window_batch: int) -> list[list[Window]]:
    """The step's windows in order, grouped into runs of at most ``window_batch`` windows of one length."""
    batches: list[list[Window]] = []
    for window in windows:
        last = batches[-1] if batches else None
        if last is not None and len(last) < window_batch and len(last[0]) == len(window):
            last.append(window)
        else:
            batches.append([window])
    return batches


def largest_call_frames(frames: int, settings: FusionSettings) -> int:
    """Rows per cond/uncond chunk of the largest model call for a video of ``frames`` frames (memory estimate)."""
    if frames <= settings.context_frames:
        return frames
    steps = range(SHIFT_STEPS_CHECKED) if settings.schedule == "uniform_shifting" else range(1)
    return max(sum(len(w) for w in batch) for step in steps
               for batch in window_batches(context_windows(frames, settings, step), settings.window_batch))


def run_window_batch(calc_cond_batch: Callable, model: Any, conds: list, x_in: torch.Tensor, timestep: torch.Tensor,
                     model_options: dict[str, Any], batch: list[Window], overlap: int,
                     resize_cond: Callable) -> list[list[torch.Tensor]]:
    """Run ``batch`` (windows of one length) in one model call; per cond, the output rows of each window."""
    frames = x_in.shape[0]
    indices = [f for window in batch for f in window]
    core_window = index_list_window(indices, frames, overlap)
    options = model_options["transformer_options"]
    set_window(options, indices, frames, windows=len(batch))
    call_options.set_core_window(options, core_window)
    index = torch.tensor(indices, dtype=torch.long, device=x_in.device)
    sub_x = x_in.index_select(0, index)
    per_frame_t = timestep.ndim > 0 and timestep.shape[0] == frames
    sub_t = timestep.index_select(0, index.to(timestep.device)) if per_frame_t else timestep
    sub_conds = [resize_cond(cond, x_in, core_window) for cond in conds]
    outputs = calc_cond_batch(model, sub_conds, sub_x, sub_t, model_options)
    length = len(batch[0])
    return [[out[i * length:(i + 1) * length] for i in range(len(batch))] for out in outputs]
