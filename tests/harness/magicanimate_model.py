"""The tiny official-format MagicAnimate model with all three parts, as the fusion sampler gets it.

Temporal attention, appearance encoder (reference attention) and the DensePose ControlNet through the pack's
loaders and patches, on the official tiny base UNet; used by the window-batch and multi-device tests.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .official_vae import comfy_official_vae
from .tiny_appearance import official_base_patcher
from .tiny_magicanimate import synthetic_reference_image

CONTROLNET = "MagicAnimate/densepose_controlnet/diffusion_pytorch_model.safetensors"
TEMPORAL = "MagicAnimate/temporal_attention/temporal_attention.ckpt"


@dataclass
class MagicAnimateInputs:
    model: object
    positive: list
    negative: list


def magicanimate_inputs(official_tiny: Path, appearance_encoder, conds: tuple[list, list], frames: int,
                        size: int = 64, base=None) -> MagicAnimateInputs:
    """(model, positive, negative) with every MagicAnimate part, DensePose of ``frames`` frames."""
    from magic_core.appearance.patch import apply_appearance_encoder
    from magic_core.densepose.control import apply_densepose
    from magic_core.densepose.loader import load_densepose_controlnet
    from magic_core.motion import render_synthetic_motion
    from magic_core.temporal.loading import load_temporal_file
    from magic_core.temporal.patch import apply_temporal_attention

    base = base if base is not None else official_base_patcher(official_tiny)
    model = apply_temporal_attention(base, load_temporal_file(str(official_tiny / TEMPORAL)))
    model = apply_appearance_encoder(model, appearance_encoder, comfy_official_vae(official_tiny),
                                     synthetic_reference_image(size, size, seed=2)[None])
    control = load_densepose_controlnet(str(official_tiny / CONTROLNET))
    positive, negative = apply_densepose(conds[0], conds[1], control,
                                         render_synthetic_motion(size, size, frames, "walk", 3))
    return MagicAnimateInputs(model, positive, negative)
