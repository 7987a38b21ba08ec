"""The one owner of what a model call carries in ``transformer_options``: every key the pack reads or writes.

Components never name a key: they ask this module (a getter and a setter per key), so the fusion sampler, the
patches (temporal attention, reference attention, the DensePose control) and training agree without importing
each other.  Values that differ per MultiGPU device (the appearance encoder's per-step states) are kept under one
key and made for a device by :func:`for_device`, which asks each of them (:class:`PerDevice`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch

from .errors import MagicAnimateError
from .evaluation_scope import VideoEvaluation
from .notices import NoticeBoard

# ComfyUI's own keys.
CHUNKS = "cond_or_uncond"                        # one entry per cond/uncond chunk of the batch (0 = cond)
CORE_WINDOW = "context_window"                   # core's IndexListContextWindow of the call
SAMPLE_SIGMAS = "sample_sigmas"                  # the sampler's sigmas
SIGMAS = "sigmas"                                # the call's sigmas
PATCHES = "patches"                              # patch lists by kind (attn1_patch, output_block_patch, ...)
ATTENTION_OVERRIDE = "optimized_attention_override"
THREAD_DEVICE = "multigpu_thread_device"         # the device a MultiGPU worker thread runs on
# The pack's keys.
WINDOW = "magicanimate_window"
EVALUATION = "magicanimate_evaluation"
TEMPORAL_ENCODING = "magicanimate_temporal_encoding"
SAMPLING_NOTICES = "magicanimate_notices"
PER_DEVICE = "magicanimate_per_device"
COND, UNCOND = 0, 1  # the entries of CHUNKS


@dataclass(frozen=True)
class VideoWindow:
    """Frames of the whole video that one model call covers (set by the fusion sampler)."""

    frame_indices: tuple[int, ...]
    video_frames: int
    windows: int = 1


class TemporalEncoding(NamedTuple):
    """The motion modules' positional encoding (frames) and their file, so samplers can check windows early."""

    max_frames: int
    file_name: str

    def check(self, frames: int) -> None:
        """Clear error when a window of ``frames`` frames is longer than the encoding."""
        if frames > self.max_frames:
            raise MagicAnimateError(
                f"MagicAnimate temporal attention: a window of {frames} frames is longer than the "
                f"{self.max_frames}-frame positional encoding of '{self.file_name}'. Use windows of at most "
                f"{self.max_frames} frames (the fusion sampler's context_frames) or fewer frames.")


class PerDevice(Protocol):
    """A per-step value with its own copy for each MultiGPU clone."""

    def for_device(self, patcher: Any) -> PerDevice: ...


def chunks(options: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(c) for c in options.get(CHUNKS) or (COND,))


def set_chunks(options: dict[str, Any], values: Sequence[int]) -> None:
    options[CHUNKS] = list(values)


def video_window(options: dict[str, Any]) -> VideoWindow | None:
    return options.get(WINDOW)


def set_video_window(options: dict[str, Any], window: VideoWindow) -> None:
    options[WINDOW] = window


def core_window(options: dict[str, Any]) -> Any:
    return options.get(CORE_WINDOW)


def set_core_window(options: dict[str, Any], window: Any) -> None:
    options[CORE_WINDOW] = window


def sample_sigmas(options: dict[str, Any]) -> torch.Tensor | None:
    return options.get(SAMPLE_SIGMAS)


def set_sigmas(options: dict[str, Any], sigmas: torch.Tensor) -> None:
    options[SIGMAS] = sigmas


def patch_list(options: dict[str, Any], kind: str) -> list:
    """The patches of ``kind`` in ``options`` (read only)."""
    return list(options.get(PATCHES, {}).get(kind, []))


def add_patch(options: dict[str, Any], kind: str, patch: Any, first: bool = False) -> None:
    """Add ``patch`` to the ``kind`` list of ``options`` (a new list and dict: the model's own are not changed)."""
    patches = dict(options.get(PATCHES, {}))
    old = list(patches.get(kind, []))
    patches[kind] = [patch, *old] if first else [*old, patch]
    options[PATCHES] = patches


def attention_override(options: dict[str, Any]) -> Callable | None:
    return options.get(ATTENTION_OVERRIDE)


def set_attention_override(options: dict[str, Any], override: Callable) -> None:
    options[ATTENTION_OVERRIDE] = override


def thread_device(options: dict[str, Any]) -> torch.device | None:
    return options.get(THREAD_DEVICE)


def temporal_encoding(options: dict[str, Any]) -> TemporalEncoding | None:
    value = options.get(TEMPORAL_ENCODING)
    return None if value is None else TemporalEncoding(*value)


def set_temporal_encoding(options: dict[str, Any], encoding: TemporalEncoding) -> None:
    options[TEMPORAL_ENCODING] = encoding


def open_evaluation(options: dict[str, Any], windows: Iterable[Sequence[int]]) -> VideoEvaluation:
    """Record in ``options`` that a whole-video evaluation over ``windows`` starts."""
    evaluation = VideoEvaluation(list(windows))
    options[EVALUATION] = evaluation
    return evaluation


def current_evaluation(options: dict[str, Any]) -> VideoEvaluation | None:
    """The whole-video evaluation the current model call belongs to (``None`` outside the fusion sampler)."""
    value = options.get(EVALUATION)
    return value if isinstance(value, VideoEvaluation) else None


@contextlib.contextmanager
def window_state_kept(options: dict[str, Any]) -> Iterator[None]:
    """Put back the window, core window and evaluation entries of ``options`` as they were, on any exit."""
    missing = object()
    saved = {key: options.get(key, missing) for key in (WINDOW, CORE_WINDOW, EVALUATION)}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is missing:
                options.pop(key, None)
            else:
                options[key] = value


def with_sampling_notices(model_options: dict, notices: NoticeBoard | None) -> None:
    """Let patches that only learn something during sampling (wrappers) warn on the sampling node's board:
    ``model_options`` is a clone's (the board is a plain reference, dropped with the clone)."""
    if notices is not None:
        model_options.setdefault("transformer_options", {})[SAMPLING_NOTICES] = notices


def sampling_notices(model_options: dict | None) -> NoticeBoard | None:
    """The sampling node's board put there by `with_sampling_notices` (None outside such a run)."""
    return ((model_options or {}).get("transformer_options") or {}).get(SAMPLING_NOTICES)


def per_device_value(options: dict[str, Any], name: str) -> Any:
    """The per-step value stored under ``name`` (e.g. a reference bank), or ``None``."""
    return (options.get(PER_DEVICE) or {}).get(name)


def with_per_device_value(options: dict[str, Any], name: str, value: PerDevice) -> dict[str, Any]:
    """A copy of ``options`` that also holds ``value`` under ``name`` (``options`` is not changed)."""
    return {**options, PER_DEVICE: {**(options.get(PER_DEVICE) or {}), name: value}}


def for_device(options: dict[str, Any], device: torch.device, patcher: Any) -> dict[str, Any]:
    """A copy of ``options`` for a run on the MultiGPU clone ``patcher``: each per-device value made for it,
    tensors moved to ``device``, and core's thread device set."""
    out = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in options.items()}
    if out.get(PER_DEVICE):
        out[PER_DEVICE] = {name: value.for_device(patcher) for name, value in out[PER_DEVICE].items()}
    out[THREAD_DEVICE] = device
    return out
