"""Widen a small SD1.5-shaped base into one that ComfyUI detects as SD1.5, computing the same function.

ComfyUI's checkpoint loader recognises SD1.5 by its widths (``model_channels`` 320, cross-attention 768) and builds
the fixed-size CLIP-L text encoder, so a 32-wide base cannot be loaded as a checkpoint.  Here every hidden channel
of the small model is repeated ``r`` times in the wide one (``r = wide / small``, the same for every layer, so
GroupNorm and LayerNorm statistics are unchanged, also over the output blocks' concatenations); a layer reading
repeated channels divides its weights by ``r``; attention heads go into the first heads of the wide layer with
their queries scaled for the wider head dimension (the other heads and dimensions are zero and stay zero under
training); the timestep sinusoid of width ``w`` is the ``w * r`` one read at every ``r``-th frequency; CLIP layers
beyond the small model's are identities (zero output projections).  The result matches the small model to float
rounding (see ``tests/test_synthetic_checkpoint.py``).
"""
from __future__ import annotations

import math
import re

import torch

UNET_HEADS, CLIP_HEADS = 8, 12  # SD1.5's (ComfyUI's SD15 config) and CLIP-L's


def _rep(n: int, wide: int) -> tuple[torch.Tensor, float]:
    if wide % n:
        raise ValueError(f"cannot widen {n} channels to {wide}: not a multiple")
    return torch.arange(wide) // (wide // n), n / wide


def _halves(n: int, wide: int) -> tuple[torch.Tensor, float]:
    src, scale = _rep(n // 2, wide // 2)
    return torch.cat([src, src + n // 2]), scale


def _heads(n: int, wide: int, heads: int, wide_heads: int) -> tuple[torch.Tensor, float]:
    d, big = n // heads, wide // wide_heads
    head, pos = torch.arange(wide) // big, torch.arange(wide) % big
    return torch.where((head < heads) & (pos < d), head * d + pos, -1), 1.0


def _sinusoid(n: int, wide: int) -> tuple[torch.Tensor, float]:
    r, half = wide // n, wide // 2
    j = torch.arange(wide) % half
    src = torch.where(j % r == 0, j // r + (torch.arange(wide) >= half) * (n // 2), -1)
    return src, 1.0


def _identity(n: int, wide: int) -> tuple[torch.Tensor, float]:
    return torch.arange(wide), 1.0


def _gather(t: torch.Tensor, dim: int, src: torch.Tensor) -> torch.Tensor:
    shape = list(t.shape)
    shape[dim] = 1
    padded = torch.cat([t, t.new_zeros(shape)], dim)
    return padded.index_select(dim, torch.where(src < 0, t.shape[dim], src))


def widen_tensor(small: torch.Tensor, wide_shape: torch.Size, out_map, in_map=None, out_scale: float = 1.0):
    """``small`` placed into ``wide_shape`` by the maps of its output (dim 0) and input (dim 1) channels."""
    src, _ = out_map(small.shape[0], wide_shape[0])
    out = _gather(small.float(), 0, src) * out_scale
    if small.dim() > 1 and in_map is not None:
        src, scale = in_map(small.shape[1], wide_shape[1])
        out = _gather(out, 1, src) * scale
    return out.reshape(wide_shape)


def _unet_maps(key: str, heads: int):
    head_map = lambda n, w: _heads(n, w, heads, UNET_HEADS)  # noqa: E731
    if key.startswith("time_embed.0."):
        return _rep, _sinusoid
    if key.startswith("input_blocks.0.0."):
        return _rep, _identity
    if key.startswith("out.2."):
        return _identity, _rep
    if re.search(r"attn[12]\.to_[qkv]\.", key):
        return head_map, _rep
    if ".to_out.0." in key:
        return _rep, head_map
    if ".ff.net.0.proj." in key:
        return _halves, _rep
    return _rep, _rep


def widen_unet(small: dict[str, torch.Tensor], wide: dict[str, torch.Tensor], heads: int) -> dict:
    """The wide UNet's state dict (ComfyUI names; ``wide`` gives the shapes) computing ``small``'s function."""
    if small.keys() != wide.keys():
        raise ValueError("the small and the wide UNet have different layers")
    out = {}
    for key, w in wide.items():
        out_map, in_map = _unet_maps(key, heads)
        s = small[key]
        q_scale = 1.0
        if re.search(r"attn[12]\.to_q\.", key):
            q_scale = math.sqrt((w.shape[0] / UNET_HEADS) / (s.shape[0] / heads))
        out[key] = widen_tensor(s, w.shape, out_map, in_map, q_scale).to(w.dtype)
    return out


def widen_clip(small: dict[str, torch.Tensor], wide: dict[str, torch.Tensor], heads: int) -> dict:
    """The wide CLIP text model's state dict (``clip_l.`` names) computing ``small``'s hidden states."""
    layers = {int(m.group(1)) for k in small if (m := re.search(r"encoder\.layers\.(\d+)\.", k))}
    head_map = lambda n, w: _heads(n, w, heads, CLIP_HEADS)  # noqa: E731
    out = {}
    for key, w in wide.items():
        layer = re.search(r"encoder\.layers\.(\d+)\.", key)
        if layer and int(layer.group(1)) not in layers:  # an extra layer: the identity
            ones = key.endswith("weight") and "layer_norm" in key
            out[key] = torch.ones_like(w) if ones else torch.zeros_like(w)
            continue
        s = small[key]
        if s.dim() == 0 or key.endswith("position_ids"):
            out[key] = s.clone()
        elif "embedding" in key:  # [vocab or positions, hidden]
            out[key] = widen_tensor(s.t(), w.t().shape, _rep).t().contiguous().to(w.dtype)
        else:
            out_map, in_map, q_scale = _rep, _rep, 1.0
            if re.search(r"self_attn\.[qkv]_proj\.", key):
                out_map = head_map
                if ".q_proj." in key:
                    q_scale = math.sqrt((w.shape[0] / CLIP_HEADS) / (s.shape[0] / heads))
            elif ".out_proj." in key:
                in_map = head_map
            out[key] = widen_tensor(s, w.shape, out_map, in_map, q_scale).to(w.dtype)
    return out
