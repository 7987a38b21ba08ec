"""The frame contract: which video frames a diffusion-model call covers and how its batch is laid out.

Every MagicAnimate patch agrees on this one description of a model call's batch:

* the batch is ``len(chunks)`` chunks one after another (ComfyUI batches cond and uncond together;
  ``transformer_options["cond_or_uncond"]`` has one entry per chunk, 0 = cond, 1 = uncond);
* each chunk holds the same frames, in the same order: ``frame_indices`` (positions in the whole video);
* a chunk may hold several windows of equal length one after another (the fusion sampler's ``window_batch``):
  ``windows`` of ``window_frames`` rows each, so a call's rows are chunk, then window, then frame.

The fusion sampler records the window it is running with :func:`set_window`; temporal attention (attend
within each window of each chunk: ``groups`` of ``window_frames``), reference attention (cond chunks only) and the
DensePose control (hints of exactly these frames) read it with :func:`frame_layout`.  Without a window, the frames
are the whole batch of a chunk (one window).  The entries themselves are kept by ``call_options``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import call_options
from .call_options import COND, UNCOND, VideoWindow
from .comfy_compat import core_window_frames
from .errors import MagicAnimateError

__all__ = ["COND", "UNCOND", "FrameLayout", "VideoWindow", "frame_layout", "set_window"]


@dataclass(frozen=True)
class FrameLayout:
    """How one model call's batch maps to video frames."""

    frame_indices: tuple[int, ...]
    chunks: tuple[int, ...]
    video_frames: int
    windows: int = 1

    @property
    def frames(self) -> int:
        """Rows per chunk (all its windows' frames)."""
        return len(self.frame_indices)

    @property
    def window_frames(self) -> int:
        """Frames of one window (what temporal attention attends over)."""
        return self.frames // self.windows

    @property
    def groups(self) -> int:
        """Windows in the whole batch (every window of every chunk), each ``window_frames`` rows."""
        return len(self.chunks) * self.windows

    @property
    def batch_size(self) -> int:
        return self.frames * len(self.chunks)

    def chunk_slice(self, chunk: int) -> slice:
        """Batch rows of chunk number ``chunk``."""
        return slice(chunk * self.frames, (chunk + 1) * self.frames)

    def cond_chunks(self) -> list[int]:
        """Chunk numbers that hold the conditional prediction."""
        return [i for i, c in enumerate(self.chunks) if c == COND]


def set_window(transformer_options: dict[str, Any], frame_indices: Sequence[int], video_frames: int,
               windows: int = 1) -> None:
    """Record in ``transformer_options`` that the next model call covers ``frame_indices`` of the video: ``windows``
    windows of equal length one after another (1 = one window)."""
    if windows < 1 or len(frame_indices) % windows != 0:
        raise MagicAnimateError(f"MagicAnimate frame contract: {len(frame_indices)} frames cannot be {windows} "
                                f"windows of equal length.")
    call_options.set_video_window(transformer_options, VideoWindow(tuple(int(i) for i in frame_indices),
                                                                   int(video_frames), int(windows)))


def frame_layout(transformer_options: dict[str, Any], batch_size: int) -> FrameLayout:
    """Describe the batch of the current model call.

    Raises ``ValueError`` if the batch cannot be split into whole chunks of the window's frames: a patch
    must never guess which frame a row is.
    """
    chunks = call_options.chunks(transformer_options)
    if batch_size % len(chunks) != 0:
        raise MagicAnimateError(f"MagicAnimate frame contract: a model batch of {batch_size} rows cannot be split into "
                                f"{len(chunks)} cond/uncond chunks of equal size.")
    per_chunk = batch_size // len(chunks)
    window = call_options.video_window(transformer_options)
    if window is not None:
        if len(window.frame_indices) != per_chunk:
            raise MagicAnimateError(f"MagicAnimate frame contract: the sampler's window has {len(window.frame_indices)}"
                                    f" frames but each chunk of the model batch has {per_chunk} rows.")
        return FrameLayout(window.frame_indices, chunks, window.video_frames, window.windows)
    core_frames = core_window_frames(call_options.core_window(transformer_options))
    if core_frames is not None and len(core_frames) == per_chunk:
        # ComfyUI's own context windows over the batch dimension.
        return FrameLayout(tuple(core_frames), chunks, max(core_frames) + 1)
    return FrameLayout(tuple(range(per_chunk)), chunks, per_chunk)
