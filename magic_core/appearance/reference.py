"""Reference attention: the write side (run the appearance encoder, record ``norm1`` outputs) and the read side
(an ``attn1`` patch that lets the denoising UNet's self-attention also attend to the recorded states).

Read side, per paired block and for every batch row of a conditional chunk (``cond_or_uncond``), every frame:
``K/V = concat([own, lerp(own, reference, strength)], tokens)``.  With strength 1 that is exactly the original's
``concat([own, reference])``; with strength 0 the reference tokens equal the frame's own tokens, and attention over
duplicated keys/values is plain self-attention (each weight halves, each value counts twice), so the strength
blends continuously from "original" to "unpatched".  Rows of unconditional chunks get ``concat([own, own])`` (plain
self-attention; needed only to keep one token count in a mixed batch); a call without a conditional chunk is left
untouched.

Two read sides compute that same attention:

* :class:`ReferenceAttentionReplace` (inference): an ``attn1`` replace per paired block.  It projects the
  reference states to keys/values once per block and step (``to_k``/``to_v`` have no bias, so
  ``to_k(lerp(own, ref, s)) == lerp(to_k(own), to_k(ref), s)``) and gives unconditional rows plain self-attention
  over their own tokens, instead of projecting the reference for every frame and attending over doubled tokens.
* :class:`ReferenceAttentionPatch`: the plain ``attn1`` patch form (training, which needs a reference per row,
  and the benchmark's naive baseline).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import comfy.ldm.modules.attention
import comfy.model_management
import torch

from .. import call_options
from ..attention_choice import cpu_attention_override
from ..call_options import COND
from ..errors import MagicAnimateError
from ..frame_contract import frame_layout
from .blocks import BlockKey
from .loading import AppearanceEncoder


@dataclass
class ReferenceBank:
    """The states recorded at one sampling step, and how the model's blocks read them.

    ``owner``: the model the states were recorded for; ``on_device(patcher)`` records them for another MultiGPU
    clone (its own encoder, on its device), ``attention``: that clone's ``attn1`` modules by reader block.
    """

    states: dict[BlockKey, torch.Tensor]
    reader_to_writer: dict[BlockKey, BlockKey]
    strength: float
    cache: dict[tuple[BlockKey, torch.device, torch.dtype], torch.Tensor] = field(default_factory=dict)
    owner: Any = None
    on_device: Callable[[Any], ReferenceBank] | None = None
    attention: dict[BlockKey, torch.nn.Module] | None = None

    def for_device(self, patcher: Any) -> ReferenceBank:
        """This step's bank for the MultiGPU clone ``patcher`` (recorded once for it by the caller)."""
        if self.on_device is None or patcher.model is self.owner:
            return self
        return self.on_device(patcher)

    def reference_for(self, key: BlockKey, like: torch.Tensor) -> torch.Tensor | None:
        """The recorded states for reader block ``key`` on ``like``'s device/dtype (``[1, tokens, C]``)."""
        writer = self.reader_to_writer.get(key)
        if writer is None:
            return None
        cache_key = (key, like.device, like.dtype)
        if cache_key not in self.cache:
            self.cache[cache_key] = self.states[writer].to(device=like.device, dtype=like.dtype)
        return self.cache[cache_key]

    def projected_for(self, key: BlockKey, attention: torch.nn.Module,
                      like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The recorded states of reader block ``key`` through its ``to_k``/``to_v`` (once per step)."""
        cache_key = (key, like.device, like.dtype, "projected")
        if cache_key not in self.cache:
            reference = self.reference_for(key, like)
            if reference is None:
                return None
            attention = (self.attention or {}).get(key, attention)  # a MultiGPU clone's own module
            self.cache[cache_key] = (attention.to_k(reference), attention.to_v(reference))  # type: ignore[assignment]
        return self.cache[cache_key]  # type: ignore[return-value]


class _WriteComplete(Exception):
    """Raised by the writer after the last needed block: nothing after it is computed."""


class _WriteSide:
    """``attn1`` patch of the appearance encoder: keeps the ``norm1`` outputs of the writer blocks and stops the
    run after the last one (nothing after it is needed)."""

    def __init__(self, order: list[BlockKey], detach: bool):
        self.keys, self.last, self.detach = set(order), order[-1], detach
        self.states: dict[BlockKey, torch.Tensor] = {}

    def __call__(self, n, context_attn1, value_attn1, extra_options):
        key = (extra_options["block"][0], extra_options["block"][1], extra_options.get("block_index", 0))
        if key in self.keys:
            self.states[key] = n.detach().clone() if self.detach else n
            if key == self.last:
                raise _WriteComplete
        return n, context_attn1, value_attn1


def record_write_side(unet: torch.nn.Module, order: list[BlockKey], x: torch.Tensor, timesteps: torch.Tensor,
                      context: torch.Tensor, detach: bool = True) -> dict[BlockKey, torch.Tensor]:
    """Run the appearance encoder's UNet up to the last of ``order`` and return those blocks' ``norm1`` outputs.

    Inference detaches them; training keeps their gradients so the encoder learns.
    """
    writer = _WriteSide(order, detach)
    options: dict[str, Any] = {}
    call_options.add_patch(options, "attn1_patch", writer)
    call_options.set_chunks(options, [COND])
    # the sampler's CPU attention choice (SDPA where ComfyUI would run sub-quadratic) for the encoder's own UNet too
    call_options.set_attention_override(options, cpu_attention_override)
    try:
        unet(x, timesteps=timesteps, context=context, transformer_options=options)
    except _WriteComplete:
        pass
    return writer.states


def run_encoder(encoder: AppearanceEncoder, writer_keys: list[BlockKey], latent: torch.Tensor,
                timestep: torch.Tensor, context: torch.Tensor) -> dict[BlockKey, torch.Tensor]:
    """Run the appearance encoder once and return the ``norm1`` outputs of ``writer_keys`` (each ``[1, T, C]``).

    ``latent``: the clean reference latent (already scaled by the latent format), ``timestep``: the model
    timestep (not sigma), ``context``: the conditional text embedding.  The run stops after the last block.
    """
    ensure_loaded(encoder)
    device = encoder.patcher.load_device
    order = encoder.run_order(writer_keys)
    x = latent.to(device=device, dtype=encoder.compute_dtype)
    t = timestep.reshape(-1)[:1].to(device=device, dtype=torch.float32).expand(x.shape[0])
    c = context.to(device=device, dtype=encoder.compute_dtype)
    states = record_write_side(encoder.unet, order, x, t, c)
    missing = [k for k in order if k not in states]
    if missing:
        raise RuntimeError(f"MagicAnimate: the appearance encoder did not reach blocks {missing}.")
    return states


def ensure_loaded(encoder: AppearanceEncoder) -> None:
    """Load the encoder if no loaded model holds it, keeping every model in use (never evict the UNet)."""
    # Entries whose model was garbage-collected read as None until ComfyUI cleans them up.
    loaded = [m for m in comfy.model_management.loaded_models() if m is not None]
    if any(m.model is encoder.unet for m in loaded):
        return
    in_use = [m for m in comfy.model_management.loaded_models(only_currently_used=True) if m is not None]
    comfy.model_management.load_models_gpu([encoder.patcher, *in_use])


class ReferenceAttentionPatch:
    """The read side as an ``attn1`` patch; it reads this step's bank stored under ``bank_key``
    (``call_options.with_per_device_value``)."""

    def __init__(self, bank_key: str):
        self.bank_key = bank_key

    def __call__(self, n, context_attn1, value_attn1, extra_options):
        bank: ReferenceBank | None = call_options.per_device_value(extra_options, self.bank_key)
        block = extra_options.get("block")
        if bank is None or block is None or bank.strength == 0.0:
            return n, context_attn1, value_attn1
        reference = bank.reference_for((block[0], block[1], extra_options.get("block_index", 0)), context_attn1)
        if reference is None:
            return n, context_attn1, value_attn1
        layout = frame_layout(extra_options, n.shape[0])
        cond_chunks = layout.cond_chunks()
        if not cond_chunks:
            return n, context_attn1, value_attn1
        if reference.shape[1:] != context_attn1.shape[1:]:
            raise MagicAnimateError(f"MagicAnimate appearance encoder: the reference states have shape "
                                    f"{tuple(reference.shape[1:])} but the model's block {block} has "
                                    f"{tuple(context_attn1.shape[1:])}; the reference latent must have the video "
                                    f"latent's size.")
        weight = torch.zeros((n.shape[0], 1, 1), device=n.device, dtype=context_attn1.dtype)
        for chunk in cond_chunks:
            weight[layout.chunk_slice(chunk)] = bank.strength
        ref_rows = reference.expand_as(context_attn1)
        context = torch.cat([context_attn1, torch.lerp(context_attn1, ref_rows, weight)], dim=1)
        if value_attn1 is context_attn1:
            value = context
        else:
            value = torch.cat([value_attn1, torch.lerp(value_attn1, ref_rows, weight)], dim=1)
        return n, context, value


class ReferenceAttentionReplace:
    """The read side for one reader block as an ``attn1`` replace (see the module docstring).

    Holds the block's live ``attn1`` module (shared by every clone of the model), so a deep copy of the model
    options (``ModelPatcher.clone``) keeps the reference instead of copying the module.
    """

    def __init__(self, bank_key: str, block: BlockKey, attention: torch.nn.Module):
        self.bank_key, self.block, self.attention = bank_key, block, attention

    def __deepcopy__(self, memo: dict) -> ReferenceAttentionReplace:
        return self

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict) -> torch.Tensor:
        heads, precision = extra_options["n_heads"], extra_options.get("attn_precision")
        bank: ReferenceBank | None = call_options.per_device_value(extra_options, self.bank_key)
        layout = frame_layout(extra_options, q.shape[0])
        cond_chunks = layout.cond_chunks() if bank is not None and bank.strength != 0.0 else []
        projected = bank.projected_for(self.block, self.attention, k) if cond_chunks else None
        if projected is None:
            return _attention(q, k, v, heads, precision, extra_options)
        k_ref, v_ref = projected
        if k_ref.shape[1:] != k.shape[1:]:
            raise MagicAnimateError(f"MagicAnimate appearance encoder: the reference states have {k_ref.shape[1]} "
                                    f"tokens but the model's block {self.block} has {k.shape[1]}; the reference latent "
                                    f"must have the video latent's size.")
        rows = torch.cat([torch.arange(q.shape[0], device=q.device)[layout.chunk_slice(c)] for c in cond_chunks])
        strength = bank.strength  # type: ignore[union-attr]
        k_c, v_c = k.index_select(0, rows), v.index_select(0, rows)
        k_c = torch.cat([k_c, torch.lerp(k_c, k_ref.expand_as(k_c), strength)], dim=1)
        v_c = torch.cat([v_c, torch.lerp(v_c, v_ref.expand_as(v_c), strength)], dim=1)
        out_c = _attention(q.index_select(0, rows), k_c, v_c, heads, precision, extra_options)
        if rows.shape[0] == q.shape[0]:
            return out_c.index_select(0, torch.argsort(rows))
        others = torch.ones(q.shape[0], dtype=torch.bool, device=q.device)
        others[rows] = False
        out = torch.empty((q.shape[0], *out_c.shape[1:]), dtype=out_c.dtype, device=out_c.device)
        out[rows] = out_c
        out[others] = _attention(q[others], k[others], v[others], heads, precision, extra_options)
        return out


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, precision: Any,
               extra_options: dict) -> torch.Tensor:
    """ComfyUI's selected attention, looked up at call time as ``CrossAttention`` does."""
    return comfy.ldm.modules.attention.optimized_attention(q, k, v, heads, attn_precision=precision,
                                                            transformer_options=extra_options)
