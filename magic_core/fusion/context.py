"""The fusion sampler's context handler: run the model window by window and fuse the predictions per frame.

ComfyUI's ``calc_cond_batch`` hands the whole video (the latent batch holds the frames) to the handler in
``model_options["context_handler"]``; the handler runs ComfyUI's own ``_calc_cond_batch_outer`` once per window
(so CALC_COND_BATCH wrappers, ControlNets and attention patches run per window), records the window in
``transformer_options`` through the frame contract, and averages each window's cond/uncond predictions into
the video with the fuse weights, before CFG (as the original does).  ``window_batch`` windows share one call
(``batching``); with ComfyUI's MultiGPU clones the step's windows are spread over the devices (``devices``).
Windows whose frames repeat (dilated windows longer than the video) count each frame once, with its last
position, as the original's indexed assignment does.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import comfy.context_windows
import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import torch

from ..attention_choice import choose_attention
from ..call_options import open_evaluation, sample_sigmas, window_state_kept
from ..notices import CONTEXT_HANDLER_REPLACED, NoticeBoard, warn
from .batching import largest_call_frames, run_window_batch, window_batches
from .devices import device_clones, run_on_devices, single_device_options
from .weights import window_weights
from .windows import FusionSettings, Window, context_windows

WRAPPER_KEY = "magicanimate_fusion"
# The wrappers core's "Context Windows" nodes add beside their handler (0.3.75: the first; 0.4+: both).
CORE_CONTEXT_WRAPPERS = ((comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, "ContextWindows_prepare_sampling"),
                         (comfy.patcher_extension.WrappersMP.SAMPLER_SAMPLE, "ContextWindows_sampler_sample"))


def current_step(timestep: torch.Tensor, model_options: dict[str, Any]) -> int:
    """Index of the sampler step whose sigma interval holds ``timestep`` (0 outside a sampler run)."""
    sigmas = sample_sigmas(model_options.get("transformer_options", {}))
    if sigmas is None or timestep.numel() == 0:
        return 0
    sigma = float(timestep.reshape(-1)[0])
    reached = int((sigmas.float() >= sigma * (1.0 - 1e-4)).sum())
    return max(reached - 1, 0)


def _last_positions(window: Window) -> tuple[list[int], list[int]]:
    """(positions, frames) with each frame once, at its last position in the window."""
    last = {frame: pos for pos, frame in enumerate(window)}
    return list(last.values()), list(last.keys())


class FusionContextHandler(comfy.context_windows.ContextHandlerABC):
    """Sliding-window video fusion over the latent batch (frames = batch rows)."""

    def __init__(self, settings: FusionSettings):
        super().__init__()
        self.settings = settings

    def should_use_context(self, model, conds, x_in: torch.Tensor, timestep, model_options) -> bool:
        # With MultiGPU clones a one-window video runs here too (on the main device): core's own split of the
        # cond/uncond halves would hand the other devices the main device's per-step states.
        return x_in.shape[0] > self.settings.context_frames or bool(device_clones(model_options))

    def windows(self, frames: int, timestep: torch.Tensor, model_options: dict[str, Any]) -> list[Window]:
        return context_windows(frames, self.settings, current_step(timestep, model_options))

    def get_resized_cond(self, cond_in: list[dict] | None, x_in: torch.Tensor, window, device=None) -> list | None:
        """The conds with every per-frame tensor (batch = video frames) cut to the window's frames."""
        if cond_in is None:
            return None
        frames = x_in.shape[0]
        index = torch.tensor(window.index_list, dtype=torch.long)

        def per_frame(t: Any) -> bool:
            return isinstance(t, torch.Tensor) and t.ndim > 0 and t.shape[0] == frames

        resized = []
        for cond in cond_in:
            new = dict(cond)
            for key, value in cond.items():
                if per_frame(value):
                    new[key] = value.index_select(0, index.to(value.device))
                elif key == "model_conds" and isinstance(value, dict):
                    new[key] = {k: (v._copy_with(v.cond.index_select(0, index.to(v.cond.device)))
                                    if per_frame(getattr(v, "cond", None)) else v) for k, v in value.items()}
            resized.append(new)
        return resized

    def execute(self, calc_cond_batch: Callable, model, conds: list, x_in: torch.Tensor, timestep: torch.Tensor,
                model_options: dict[str, Any]) -> list[torch.Tensor]:
        frames = x_in.shape[0]
        windows = self.windows(frames, timestep, model_options)
        options = model_options.setdefault("transformer_options", {})
        with window_state_kept(options):
            if self.settings.multigpu and device_clones(model_options):
                sums, counts = run_on_devices(self.fuse, calc_cond_batch, conds, x_in, timestep, model_options,
                                              windows)
            else:
                sums, counts = self.fuse(calc_cond_batch, model, conds, x_in, timestep,
                                         single_device_options(model_options), windows)
        return [(total / counts).to(x_in.dtype) for total in sums]

    def fuse(self, calc_cond_batch: Callable, model, conds: list, x_in: torch.Tensor, timestep: torch.Tensor,
             model_options: dict[str, Any], windows: list[Window]) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Run ``windows`` (``window_batch`` per call) and return, per cond, the fuse-weighted sum of their
        predictions per frame, and the summed weight (count) per frame, over the whole video."""
        frames = x_in.shape[0]
        sums = [torch.zeros_like(x_in) for _ in conds]
        counts = torch.zeros((frames,) + (1,) * (x_in.ndim - 1), dtype=torch.float32, device=x_in.device)
        # Per-frame reuse (the DensePose residuals) within this evaluation of these windows only; opened here so
        # that each device (its own transformer_options) has its own.
        evaluation = open_evaluation(model_options.setdefault("transformer_options", {}), windows)
        for batch in window_batches(windows, self.settings.window_batch):
            comfy.model_management.throw_exception_if_processing_interrupted()
            evaluation.begin_call(len(batch))
            outputs = run_window_batch(calc_cond_batch, model, conds, x_in, timestep, model_options, batch,
                                       self.settings.context_overlap, self.get_resized_cond)
            for i, window in enumerate(batch):
                self._accumulate(sums, counts, window, [out[i] for out in outputs], frames)
        return sums, counts

    def _accumulate(self, sums: list[torch.Tensor], counts: torch.Tensor, window: Window,
                    outputs: list[torch.Tensor], frames: int) -> None:
        """Add one window's predictions, weighted per position, into the per-frame sums and counts."""
        device = counts.device
        positions, covered = _last_positions(window)
        pos_index = torch.tensor(positions, dtype=torch.long, device=device)
        frame_index = torch.tensor(covered, dtype=torch.long, device=device)
        weights = window_weights(self.settings.fuse_method, window, frames, self.settings.context_overlap)
        weights = weights.to(device).index_select(0, pos_index).reshape(counts[:len(covered)].shape)
        for total, out in zip(sums, outputs, strict=True):
            out = out.to(device).index_select(0, pos_index)
            total.index_add_(0, frame_index, out * weights.to(out.dtype))
        counts.index_add_(0, frame_index, weights)


def _window_noise_shape(executor, model, noise_shape, *args, **kwargs):
    """PREPARE_SAMPLING wrapper: estimate (and load for) the memory of the largest model call (``window_batch``
    windows), not the whole video."""
    handler = (kwargs.get("model_options") or {}).get("context_handler")
    if isinstance(handler, FusionContextHandler) and len(noise_shape) > 0:
        noise_shape = [largest_call_frames(int(noise_shape[0]), handler.settings)] + list(noise_shape[1:])
    return executor(model, noise_shape, *args, **kwargs)


def set_fusion(patched: comfy.model_patcher.ModelPatcher, settings: FusionSettings,
               notices: NoticeBoard | None = None) -> None:
    """Make ``patched`` (a clone the caller owns) sample videos window by window with ``settings`` (replacing
    another context handler is a warning on ``notices``)."""
    if patched.model_options.get("context_handler") is not None:
        warn(notices, CONTEXT_HANDLER_REPLACED)
        for wrapper_type, key in CORE_CONTEXT_WRAPPERS:  # they read attributes only core's handler has
            patched.remove_wrappers_with_key(wrapper_type, key)
    patched.model_options["context_handler"] = FusionContextHandler(settings)
    choose_attention(patched)
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.PREPARE_SAMPLING, WRAPPER_KEY,
                                 _window_noise_shape)

