"""Inputs for the DensePose ControlNet tests: hint frames that name their frame, and a pair of text embeddings."""
from __future__ import annotations

import torch

LATENT = 8          # latent side (64 px hints)
CTX = 32            # text embedding width of the tiny models


def coded_hints(frames: int) -> torch.Tensor:
    """IMAGE batch whose frame i is the constant (i + 1) / (frames + 1): a hint row names its frame."""
    values = (torch.arange(frames, dtype=torch.float32) + 1) / (frames + 1)
    return values.view(frames, 1, 1, 1).expand(frames, LATENT * 8, LATENT * 8, 3).clone()


def texts() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed (positive, negative) pair of text embeddings ``[1, 5, CTX]``."""
    gen = torch.Generator().manual_seed(7)
    return torch.randn(1, 5, CTX, generator=gen), torch.randn(1, 5, CTX, generator=gen)
