"""The attention kernel the fusion sampler's model uses on CPU: PyTorch SDPA where sub-quadratic is slower.

Without a GPU, ComfyUI's ``CrossAttention`` runs ``attention_sub_quad`` (a memory-saving kernel written for
when PyTorch had no efficient CPU attention).  Measured side by side in one process (``bench/attention.py``,
one 16-frame window x cond/uncond, fp32, 1 thread): PyTorch's ``scaled_dot_product_attention`` takes 1/4.6 of
sub-quadratic's time at 1,024 tokens (a 256x256 video's first UNet blocks), 1/3.0 at 256 and 1/1.3 at 64,
equal within 1.5e-6; its CPU kernel is tiled too (no tokens x tokens matrix in memory).

The choice goes through ComfyUI's own per-model mechanism (``transformer_options["optimized_attention_override"]``
on the fusion sampler's clone; nothing global): a call ComfyUI sends to sub-quadratic on a CPU tensor with at
least :data:`MIN_TOKENS` query tokens runs ``attention_pytorch`` instead; everything else (GPUs, a kernel the
user chose, short sequences such as temporal attention over frames) is ComfyUI's choice, unchanged.  A model
that already carries an override (another node's attention choice) keeps it.
"""
from __future__ import annotations

from typing import Any

import comfy.ldm.modules.attention as attention
import comfy.model_patcher

from .call_options import attention_override, set_attention_override

MIN_TOKENS = 256  # below this the kernels differ little (1.3x at 64 tokens) and the tiny test models keep core's bits


def _unwrapped(fn: Any) -> Any:
    return getattr(fn, "__wrapped__", fn)


# Why the kernel is recognised by comparing functions: ComfyUI's override hook is called as ``override(func, q, k,
# v, heads, ...)`` with ``func`` the undecorated kernel ComfyUI chose (``wrap_attn`` passes its ``__wrapped__``) and
# nothing else that names it: no kernel name, no flag.  The kernels are module attributes of
# ``comfy.ldm.modules.attention`` on every host with the hook (0.33: also registered by name in
# ``REGISTERED_ATTENTION_FUNCTIONS``, which holds the same objects), so ``func is attention_sub_quad.__wrapped__`` is
# the one exact test.  Re-deriving core's choice from its settings (xformers, sage, flash, pytorch, split flags)
# would copy core's selection code and go wrong whenever it changes or another node picks a kernel; anything
# unrecognised is passed through unchanged.


def cpu_attention_override(func: Any, *args: Any, **kwargs: Any) -> Any:
    """ComfyUI attention override: sub-quadratic on CPU at long sequences -> PyTorch SDPA."""
    q = args[0] if args else kwargs.get("q")
    if (_unwrapped(func) is _unwrapped(attention.attention_sub_quad) and getattr(q, "device", None) is not None
            and q.device.type == "cpu" and q.ndim >= 3 and q.shape[-2] >= MIN_TOKENS):
        return _unwrapped(attention.attention_pytorch)(*args, **kwargs)
    return func(*args, **kwargs)


def choose_attention(model: comfy.model_patcher.ModelPatcher) -> None:
    """Set the CPU attention choice on ``model`` (a clone the caller owns); keeps an existing override."""
    options = model.model_options.setdefault("transformer_options", {})
    if attention_override(options) is None and hasattr(attention, "wrap_attn"):
        set_attention_override(options, cpu_attention_override)
