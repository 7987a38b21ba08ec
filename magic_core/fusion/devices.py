"""The step's windows spread over ComfyUI's MultiGPU device clones (core's MultiGPU Work Units, ComfyUI 0.22+).

``MultiGPU_WorkUnits`` gives the model deep clones for extra devices; while sampling, ComfyUI lists them in
``model_options["multigpu_clones"]`` (device -> ModelPatcher, the main device first) and runs one worker thread
per device (``model_options["multigpu_thread_pool"]``).  Core splits each model call's cond/uncond work units over
the devices; the fusion handler instead splits the step's windows into contiguous slices, one per device.  Each
device runs its slice on its own clone, with its own ControlNet clones (own DensePose hint cache) and its own
per-step states (``call_options.for_device``: e.g. the appearance encoder's states, computed once per device
per step), and returns per-frame (sum, count) to the main device, which adds
them: every window covering a frame counts once, whichever device ran it.  Without MultiGPU clones (or on
ComfyUI before 0.22) nothing here runs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..call_options import for_device
from .windows import Window

MULTIGPU_KEYS = ("multigpu_clones", "multigpu_thread_pool", "multigpu_options")


def device_clones(model_options: dict[str, Any]) -> dict[torch.device, Any]:
    """The MultiGPU clones by device (main first), or ``{}`` when sampling runs on one device."""
    clones = model_options.get("multigpu_clones") or {}
    return dict(clones) if len(clones) > 1 else {}


def single_device_options(model_options: dict[str, Any]) -> dict[str, Any]:
    """``model_options`` that run every window on the main device (``multigpu`` off); unchanged without clones."""
    if not device_clones(model_options):
        return model_options
    return {k: v for k, v in model_options.items() if k not in MULTIGPU_KEYS}


def split_windows(windows: list[Window], parts: int) -> list[list[Window]]:
    """``windows`` in ``parts`` contiguous slices whose sizes differ by at most one (earlier slices larger)."""
    size, extra = divmod(len(windows), parts)
    slices, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        slices.append(windows[start:end])
        start = end
    return slices


def device_options(model_options: dict[str, Any], device: torch.device, patcher: Any) -> dict[str, Any]:
    """``model_options`` for a single-device run on ``patcher`` (its own transformer_options and step states)."""
    options = {k: v for k, v in model_options.items() if k not in MULTIGPU_KEYS}
    options["transformer_options"] = for_device(model_options.get("transformer_options", {}), device, patcher)
    return options


def device_conds(conds: list, device: torch.device) -> list:
    """The conds with each ControlNet replaced by its clone for ``device`` (core's per-device control)."""
    def one(cond: dict) -> dict:
        if "control" not in cond or cond["control"] is None:
            return cond
        return {**cond, "control": cond["control"].get_instance_for_device(device)}
    return [None if cond is None else [one(c) for c in cond] for cond in conds]


def run_on_devices(fuse: Callable, calc_cond_batch: Callable, conds: list, x_in: torch.Tensor,
                   timestep: torch.Tensor, model_options: dict[str, Any],
                   windows: list[Window]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each device fuses its slice of ``windows`` (``fuse`` as on one device); per-frame sums and counts added on
    ``x_in``'s device.  Errors (and Cancel) of any device are raised here, after every device has finished."""
    clones = device_clones(model_options)
    main = x_in.device
    jobs = [(device, patcher, part)
            for (device, patcher), part in zip(clones.items(), split_windows(windows, len(clones)), strict=True)
            if part]

    def job(device: torch.device, patcher: Any, part: list[Window]) -> tuple[list[torch.Tensor], torch.Tensor]:
        with torch.no_grad():  # grad mode is per thread; core's workers run the model the same way
            options = device_options(model_options, device, patcher)
            sums, counts = fuse(calc_cond_batch, patcher.model, device_conds(conds, device), x_in.to(device),
                                timestep.to(device), options, part)
            return [s.to(main) for s in sums], counts.to(main)

    pool = model_options.get("multigpu_thread_pool")
    results, errors = [], []
    if pool is None:  # as core: without its pool, every device's work runs on this thread
        results = [job(*j) for j in jobs]
    else:
        for j in jobs:
            pool.submit(j[0], job, *j)
        for device, _, _ in jobs:
            result, error = pool.get_result(device)
            (errors if error is not None else results).append(error if error is not None else result)
    if errors:
        raise errors[0]
    sums = [torch.stack(parts).sum(0) for parts in zip(*(r[0] for r in results), strict=True)]
    counts = torch.stack([r[1] for r in results]).sum(0)
    return sums, counts
