"""Latent inputs of the in-process sampler tests."""
from __future__ import annotations

import torch


def empty_latent(frames: int, size: int = 32) -> dict:
    """EmptyLatentImage's output for ``frames`` frames of ``size`` x ``size`` pixels."""
    return {"samples": torch.zeros(frames, 4, size // 8, size // 8)}
