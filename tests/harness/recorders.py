"""One recorder of diffusion-model calls, as a ``DIFFUSION_MODEL`` wrapper (the result is unchanged).

Every call is recorded with its batch rows, cond/uncond chunks and (optionally) the frame layout the pack's
patches read, its tensors, weak references to chosen ``transformer_options`` values, a line in a log file (for
the test server, where the test reads the file) and an interrupt after N calls.  Used in-process by the tests and
inside the test server by the ``ReliabilityWindowLog`` probe node.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.patcher_extension
import torch

WRAPPER_KEY = "magicanimate_test_model_calls"


@dataclass
class ModelCall:
    """One diffusion-model call."""

    rows: int
    chunks: list[int]
    layout: Any = None                      # magic_core.frame_contract.FrameLayout, with ``with_layout=True``
    x: torch.Tensor | None = None           # the tensors, with ``keep_tensors=True``
    t: torch.Tensor | None = None
    context: torch.Tensor | None = None
    out: torch.Tensor | None = None


@dataclass(eq=False)  # compared and hashed by identity, as any wrapper function
class ModelCalls:
    """The wrapper and what it recorded; ``watch`` is a type whose ``transformer_options`` values (per-device ones
    included) are kept weakly."""

    with_layout: bool = True
    keep_tensors: bool = False
    watch: type | None = None
    interrupt_after: int | None = None
    log_path: Path | None = None
    calls: list[ModelCall] = field(default_factory=list)
    watched: list[weakref.ref] = field(default_factory=list)

    @property
    def batches(self) -> list[int]:
        """The batch rows of every call."""
        return [call.rows for call in self.calls]

    @property
    def layouts(self) -> list:
        """The frame layout of every call (``with_layout=True``)."""
        return [call.layout for call in self.calls]

    def attach(self, model, key: str = WRAPPER_KEY):
        """Wrap ``model``'s (a ModelPatcher) diffusion model in place; returns ``model``."""
        model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, key, self)
        return model

    def __call__(self, executor, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        timesteps = args[0] if args else kwargs.get("timesteps")
        context = args[1] if len(args) > 1 else kwargs.get("context")
        options = args[4] if len(args) > 4 else kwargs.get("transformer_options", {})
        call = ModelCall(rows=int(x.shape[0]), chunks=list(options.get("cond_or_uncond") or []))
        if self.with_layout:
            from magic_core.frame_contract import frame_layout  # late: the test server has no top-level magic_core

            call.layout = frame_layout(options, call.rows)
        self.calls.append(call)
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.time():.6f} {call.rows}\n")
        if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
            comfy.model_management.interrupt_current_processing(True)
        out = executor(x, *args, **kwargs)
        if self.keep_tensors:
            call.x, call.t, call.context, call.out = x.clone(), timesteps.clone(), context.clone(), out.clone()
        if self.watch is not None:
            from magic_core.call_options import PER_DEVICE  # late, as above

            values = [*options.values(), *(options.get(PER_DEVICE) or {}).values()]
            self.watched += [weakref.ref(v) for v in values if isinstance(v, self.watch)]
        return out


def record_model_calls(model, **options: Any) -> tuple[Any, ModelCalls]:
    """``(clone, calls)``: a clone of ``model`` whose diffusion-model calls are recorded (see :class:`ModelCalls`)."""
    calls = ModelCalls(**options)
    return calls.attach(model.clone()), calls
