"""Is this MagicAnimate DensePose? A check on the colours, and converting Parula (CivitAI) DensePose to viridis.

The check measures the share of pixels within `NEAR` (RGB distance, 0..255 units) of the background RGB
(68, 1, 84) or one of the 24 viridis part colours, on up to `SAMPLE_FRAMES` frames spread over the video; the
original project's DensePose videos score 0.978 to 0.987 (compression and part edges included). Below `EXPECTED` the
likely cause is named: a black background (a Parula or another black-background rendering), or plain footage.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import MagicAnimateError
from ..notices import NOT_DENSEPOSE, NOT_PARULA, NoticeBoard, warn
from .codec import PART_COLORS, PARULA_COLORS, nearest_palette, render_labels

COLORMAPS = ("viridis", "parula→viridis")
NEAR = 24.0
EXPECTED = 0.9
SAMPLE_FRAMES = 16


@dataclass(frozen=True)
class ColormapCheck:
    """Shares of checked pixels: near a viridis palette colour, near black, near a Parula part colour."""
    viridis: float
    black: float
    parula: float

    @property
    def looks_like_densepose(self) -> bool:
        return self.viridis >= EXPECTED

    @property
    def cause(self) -> str:
        """The likely reason frames are not MagicAnimate DensePose."""
        if self.black + self.parula >= EXPECTED and self.parula > 0.01:
            return ("a Parula (CivitAI) DensePose rendering with a black background: set colormap to "
                    "parula→viridis, or render it with the Viridis (MagicAnimate) colormap")
        if self.black >= 0.3:
            return ("a black background instead of MagicAnimate's purple RGB (68, 1, 84): render the DensePose "
                    "with the Viridis (MagicAnimate) colormap, e.g. with MagicAnimate DensePose Estimator")
        return ("plain footage or another kind of control image, not DensePose: run MagicAnimate DensePose "
                "Estimator on the video first")


def measure_colormap(frames: torch.Tensor) -> ColormapCheck:
    """Colour shares of up to `SAMPLE_FRAMES` evenly spread frames of an IMAGE batch."""
    count = frames.shape[0]
    picks = torch.linspace(0, count - 1, min(count, SAMPLE_FRAMES)).round().long().unique()
    sample = frames[picks.to(frames.device), ..., :3]
    _, viridis = nearest_palette(sample, PART_COLORS)
    _, parula = nearest_palette(sample, PARULA_COLORS)
    black = (sample.float() * 255).norm(dim=-1)
    total = float(viridis.numel())
    return ColormapCheck(viridis=float((viridis <= NEAR).sum()) / total,
                         black=float((black <= NEAR).sum()) / total,
                         parula=float(((parula <= NEAR) & (black > NEAR)).sum()) / total)


def check_colormap(frames: torch.Tensor, colormap: str = "viridis",
                   notices: NoticeBoard | None = None) -> ColormapCheck:
    """Measure the frames' colours (before any conversion) and warn when they do not look like DensePose of
    ``colormap``: MagicAnimate's viridis, or Parula for ``parula→viridis``."""
    result = measure_colormap(frames)
    if colormap == "parula→viridis":
        if result.black + result.parula < EXPECTED:
            warn(notices, NOT_PARULA, share=result.black + result.parula, expected=EXPECTED)
    elif not result.looks_like_densepose:
        warn(notices, NOT_DENSEPOSE, share=result.viridis, expected=EXPECTED, cause=result.cause)
    return result


def parula_to_viridis(frames: torch.Tensor) -> torch.Tensor:
    """Parula DensePose (black background) -> MagicAnimate's viridis colours, through the part index."""
    labels, _ = nearest_palette(frames[..., :3], PARULA_COLORS)
    return render_labels(labels).to(frames.device)


def apply_colormap(frames: torch.Tensor, colormap: str) -> torch.Tensor:
    """``viridis``: the frames as they are; ``parula→viridis``: converted."""
    if colormap not in COLORMAPS:
        raise MagicAnimateError(f"MagicAnimate motion: colormap must be one of {COLORMAPS}, got {colormap!r}.")
    return parula_to_viridis(frames) if colormap == "parula→viridis" else frames
