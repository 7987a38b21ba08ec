"""Reference attention: the write side (run the appearance encoder, record ``norm1`` outputs) and the read side
(an ``attn1`` patch that lets the denoising UNet's self-attention also attend to the recorded states).

Read side, per paired block and for every batch row of a conditional chunk (``cond_or_uncond``), every frame:
``K/V = concat([own, lerp(own, reference, strength)], tokens)``.  With strength 1 that is exactly the original's
``concat([own, reference])``; with strength 0 the reference tokens equal the frame's own tokens, and attention over
duplicated keys/values is plain self-attention (each weight halves, each value counts twice), so the strength
blends continuously from "original" to "unpatched".  Rows of unconditional chunks get ``concat([own, own])`` (plain
self-attention; needed only to keep one token count in a mixed batch); a call without a conditional chunk is left
untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import comfy.model_management
import torch

from .appearance_blocks import BlockKey
from .appearance_loading import AppearanceEncoder
from .frame_contract import frame_layout


@dataclass
class ReferenceBank:
    """The states recorded at one sampling step, and how the model's blocks read them."""

    states: dict[BlockKey, torch.Tensor]
    reader_to_writer: dict[BlockKey, BlockKey]
    strength: float
    cache: dict[tuple[BlockKey, torch.device, torch.dtype], torch.Tensor] = field(default_factory=dict)

    def reference_for(self, key: BlockKey, like: torch.Tensor) -> torch.Tensor | None:
        """The recorded states for reader block ``key`` on ``like``'s device/dtype (``[1, tokens, C]``)."""
        writer = self.reader_to_writer.get(key)
        if writer is None:
            return None
        cache_key = (key, like.device, like.dtype)
        if cache_key not in self.cache:
            self.cache[cache_key] = self.states[writer].to(device=like.device, dtype=like.dtype)
        return self.cache[cache_key]


class _WriteComplete(Exception):
    """Raised by the writer after the last needed block: nothing after it is computed."""


class _Writer:
    def __init__(self, keys: set[BlockKey], last: BlockKey):
        self.keys, self.last = keys, last
        self.states: dict[BlockKey, torch.Tensor] = {}

    def __call__(self, n, context_attn1, value_attn1, extra_options):
        key = (extra_options["block"][0], extra_options["block"][1], extra_options.get("block_index", 0))
        if key in self.keys:
            self.states[key] = n.detach().clone()
            if key == self.last:
                raise _WriteComplete
        return n, context_attn1, value_attn1


def run_encoder(encoder: AppearanceEncoder, writer_keys: list[BlockKey], latent: torch.Tensor,
                timestep: torch.Tensor, context: torch.Tensor) -> dict[BlockKey, torch.Tensor]:
    """Run the appearance encoder once and return the ``norm1`` outputs of ``writer_keys`` (each ``[1, T, C]``).

    ``latent``: the clean reference latent (already scaled by the latent format), ``timestep``: the model
    timestep (not sigma), ``context``: the conditional text embedding.  The run stops after the last block.
    """
    ensure_loaded(encoder)
    device = encoder.patcher.load_device
    order = [b.key for b in encoder.blocks if b.key in set(writer_keys)]
    writer = _Writer(set(order), order[-1])
    options: dict[str, Any] = {"patches": {"attn1_patch": [writer]}, "cond_or_uncond": [0]}
    x = latent.to(device=device, dtype=encoder.compute_dtype)
    t = timestep.reshape(-1)[:1].to(device=device, dtype=torch.float32).expand(x.shape[0])
    c = context.to(device=device, dtype=encoder.compute_dtype)
    try:
        encoder.unet(x, timesteps=t, context=c, transformer_options=options)
    except _WriteComplete:
        pass
    missing = [k for k in order if k not in writer.states]
    if missing:
        raise RuntimeError(f"MagicAnimate: the appearance encoder did not reach blocks {missing}.")
    return writer.states


def ensure_loaded(encoder: AppearanceEncoder) -> None:
    """Load the encoder if no loaded model holds it, keeping every model in use (never evict the UNet)."""
    loaded = comfy.model_management.loaded_models()
    if any(m.model is encoder.unet for m in loaded):
        return
    in_use = comfy.model_management.loaded_models(only_currently_used=True)
    comfy.model_management.load_models_gpu([encoder.patcher, *in_use])


class ReferenceAttentionPatch:
    """The read side as an ``attn1`` patch; it reads this step's bank from ``transformer_options[bank_key]``."""

    def __init__(self, bank_key: str):
        self.bank_key = bank_key

    def __call__(self, n, context_attn1, value_attn1, extra_options):
        bank: ReferenceBank | None = extra_options.get(self.bank_key)
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
            raise ValueError(f"MagicAnimate: the reference states have shape {tuple(reference.shape[1:])} but the "
                             f"model's block {block} has {tuple(context_attn1.shape[1:])}; the reference latent "
                             f"must have the video latent's size.")
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
