"""The temporal (motion) module of MagicAnimate / AnimateDiff, built from ``comfy.ops`` layers.

Parameter names mirror the checkpoint keys exactly (``temporal_transformer.norm``, ``.proj_in``,
``.transformer_blocks.0.attention_blocks.{0,1}.{to_q,to_k,to_v,to_out.0,pos_encoder.pe}``, ``.norms.{0,1}``,
``.ff.net.{0.proj,2}``, ``.ff_norm``, ``.proj_out``), so a file's state dict loads with ``strict=True``.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from comfy.ldm.modules.attention import attention_pytorch
from torch import nn

HEADS = 8
GROUPS = 32
GROUPNORM_EPS = 1e-6


def sinusoidal_encoding(length: int, channels: int) -> torch.Tensor:
    """The original's sinusoidal positional encoding ``[1, length, channels]``."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, channels, 2, dtype=torch.float32) * (-math.log(10000.0) / channels))
    pe = torch.zeros(1, length, channels)
    pe[0, :, 0::2] = torch.sin(position * div)
    pe[0, :, 1::2] = torch.cos(position * div)
    return pe


class PositionalEncoding(nn.Module):
    """Holds the ``pe`` buffer ``[1, max_frames, channels]``."""

    def __init__(self, channels: int, max_frames: int, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.register_buffer("pe", torch.zeros(1, max_frames, channels, dtype=dtype))


class TemporalSelfAttention(nn.Module):
    """Self-attention over the frame axis; the positional encoding is added before q/k/v."""

    def __init__(self, channels: int, max_frames: int, ops: Any, dtype: torch.dtype | None,
                 device: torch.device | None) -> None:
        super().__init__()
        self.to_q = ops.Linear(channels, channels, bias=False, dtype=dtype, device=device)
        self.to_k = ops.Linear(channels, channels, bias=False, dtype=dtype, device=device)
        self.to_v = ops.Linear(channels, channels, bias=False, dtype=dtype, device=device)
        self.to_out = nn.ModuleList([ops.Linear(channels, channels, dtype=dtype, device=device), nn.Identity()])
        self.pos_encoder = PositionalEncoding(channels, max_frames, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[sequences, frames, channels]``."""
        x = x + self.pos_encoder.pe[:, :x.shape[1]].to(device=x.device, dtype=x.dtype)
        # Sequences of a few frames: one fused SDPA call beats the chunked kernels ComfyUI picks for long
        # spatial sequences (sub-quadratic on CPU: 2.8x slower here); attention_pytorch splits huge batches.
        out = attention_pytorch(self.to_q(x), self.to_k(x), self.to_v(x), HEADS)
        return self.to_out[0](out)


class GEGLU(nn.Module):
    def __init__(self, channels: int, inner: int, ops: Any, dtype: torch.dtype | None,
                 device: torch.device | None) -> None:
        super().__init__()
        self.proj = ops.Linear(channels, inner * 2, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * torch.nn.functional.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, channels: int, ops: Any, dtype: torch.dtype | None, device: torch.device | None) -> None:
        super().__init__()
        inner = channels * 4
        self.net = nn.ModuleList([GEGLU(channels, inner, ops, dtype, device), nn.Identity(),
                                  ops.Linear(inner, channels, dtype=dtype, device=device)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TemporalTransformerBlock(nn.Module):
    """Two temporal self-attentions (pre-LayerNorm, residual) and a GEGLU feed-forward."""

    def __init__(self, channels: int, max_frames: int, ops: Any, dtype: torch.dtype | None,
                 device: torch.device | None) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList(
            [TemporalSelfAttention(channels, max_frames, ops, dtype, device) for _ in range(2)])
        self.norms = nn.ModuleList([ops.LayerNorm(channels, dtype=dtype, device=device) for _ in range(2)])
        self.ff = FeedForward(channels, ops, dtype, device)
        self.ff_norm = ops.LayerNorm(channels, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[sequences, frames, channels]`` (one sequence per chunk and spatial position)."""
        for attention, norm in zip(self.attention_blocks, self.norms, strict=True):
            x = attention(norm(x)) + x
        return self.ff(self.ff_norm(x)) + x


class TemporalTransformer(nn.Module):
    def __init__(self, channels: int, max_frames: int, ops: Any, dtype: torch.dtype | None,
                 device: torch.device | None) -> None:
        super().__init__()
        self.norm = ops.GroupNorm(GROUPS, channels, eps=GROUPNORM_EPS, affine=True, dtype=dtype, device=device)
        self.proj_in = ops.Linear(channels, channels, dtype=dtype, device=device)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels, max_frames, ops, dtype, device)])
        self.proj_out = ops.Linear(channels, channels, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[chunks, frames, C, H, W]`` → the residual ``[chunks * frames, C, H, W]`` (not yet added)."""
        chunks, frames, channels, height, width = x.shape
        h = self.norm(x.reshape(chunks * frames, channels, height, width))  # each frame separately
        h = h.permute(0, 2, 3, 1).reshape(chunks * frames, height * width, channels)
        h = self.proj_in(h)
        h = h.view(chunks, frames, height * width, channels).transpose(1, 2).reshape(-1, frames, channels)
        for block in self.transformer_blocks:
            h = block(h)
        h = h.view(chunks, height * width, frames, channels).transpose(1, 2).reshape(-1, height * width, channels)
        h = self.proj_out(h)
        return h.view(chunks * frames, height, width, channels).permute(0, 3, 1, 2)


class MotionModule(nn.Module):
    """One temporal module ("Vanilla" AnimateDiff/MagicAnimate): ``temporal_transformer.*``."""

    def __init__(self, channels: int, max_frames: int, ops: Any, dtype: torch.dtype | None = None,
                 device: torch.device | None = None) -> None:
        super().__init__()
        self.max_frames = max_frames
        self.temporal_transformer = TemporalTransformer(channels, max_frames, ops, dtype, device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_transformer(x)


class MotionModuleSet(nn.Module):
    """All motion modules of a file, addressed by their checkpoint prefix (``down_blocks.0.motion_modules.1``)."""

    def __init__(self, widths: dict[str, int], max_frames: int, ops: Any, dtype: torch.dtype | None = None,
                 device: torch.device | None = None) -> None:
        super().__init__()
        self.max_frames = max_frames
        for slot, channels in widths.items():
            top, *path, last = slot.split(".")
            if not hasattr(self, top):
                self.add_module(top, nn.ModuleDict())
            parent = getattr(self, top)
            for part in path:
                if part not in parent:
                    parent[part] = nn.ModuleDict()
                parent = parent[part]
            parent[last] = MotionModule(channels, max_frames, ops, dtype, device)

    def module(self, slot: str) -> MotionModule:
        top, *rest = slot.split(".")
        node: nn.Module = getattr(self, top)
        for part in rest:
            node = node[part]
        return node  # type: ignore[return-value]
