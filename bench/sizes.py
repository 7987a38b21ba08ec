"""Model and video sizes the benchmark can run at: the SD1.5 block structure with chosen widths."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchSize:
    """One benchmark size: UNet base width, text width, heads, pixel size, dtype."""

    name: str
    model_channels: int
    context_dim: int
    heads: int
    pixels: int
    fp16: bool
    text_tokens: int = 77

    @property
    def latent(self) -> int:
        return self.pixels // 8

    def describe(self) -> str:
        widths = "/".join(str(self.model_channels * m) for m in (1, 2, 4, 4))
        return (f"SD1.5 block structure, widths {widths}, context {self.context_dim}, {self.heads} heads, "
                f"{self.pixels}x{self.pixels} px ({self.latent}x{self.latent} latent), "
                f"{'fp16' if self.fp16 else 'fp32'}, random seeded weights")


SIZES: dict[str, BenchSize] = {
    # the test's size: the smallest SD1.5-structured UNet the temporal modules fit (GroupNorm 32, 8 heads)
    "tiny": BenchSize("tiny", model_channels=32, context_dim=32, heads=8, pixels=32, fp16=False, text_tokens=8),
    # CPU default: SD1.5's block structure at 1/5 of its widths, 256x256 (32x32 latent: 1,024 tokens in the
    # first blocks' spatial attention, as in real use), where the proportions of the parts are those of 512x512
    "cpu": BenchSize("cpu", model_channels=64, context_dim=64, heads=8, pixels=256, fp16=False),
    # the former CPU default (8x8 latent): spatial attention costs nothing there; quick checks only
    "cpu64": BenchSize("cpu64", model_channels=64, context_dim=64, heads=8, pixels=64, fp16=False),
    # 1/5 widths at 512x512 (64x64 latent: 4,096 tokens): the arithmetic split of real use for bench/flops.py
    "cpu512": BenchSize("cpu512", model_channels=64, context_dim=64, heads=8, pixels=512, fp16=False),
    # the real SD1.5 size
    "sd15": BenchSize("sd15", model_channels=320, context_dim=768, heads=8, pixels=512, fp16=True),
}
