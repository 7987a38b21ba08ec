"""Sampling with trained parts exactly as the nodes do (reference attention, DensePose ControlNet, temporal
modules, the fusion sampler), for the training checks, the README picture and the acceptance test."""
from __future__ import annotations

import torch

from ..appearance import apply_appearance_encoder, load_appearance_encoder
from ..densepose import apply_densepose, load_densepose_controlnet
from ..fusion import MODEL_DEFAULT_BETA, NOISE_SHARED, FusionSettings, fusion_sample
from ..temporal import apply_temporal_attention, load_temporal_file


def text_conds(clip, prompt: str = "") -> list:
    """CONDITIONING of ``prompt``, as CLIPTextEncode makes it."""
    cond, pooled = clip.encode_from_tokens(clip.tokenize(prompt), return_pooled=True)
    return [[cond, {"pooled_output": pooled}]]


@torch.no_grad()
def generate(model, clip, vae, reference: torch.Tensor, densepose: torch.Tensor, appearance_encoder: str = "",
             densepose_controlnet: str = "", temporal_attention: str = "", seed: int = 0, steps: int = 20,
             cfg: float = 1.0, noise: str = NOISE_SHARED, beta_schedule: str = MODEL_DEFAULT_BETA) -> torch.Tensor:
    """IMAGE ``[F, H, W, 3]`` of ``reference`` ``[1, H, W, 3]`` driven by ``densepose`` ``[F, H, W, 3]``, with the
    given exported files (each optional; absent parts are left out), DDIM + ``ddim_uniform``, one 16-frame window.
    ``beta_schedule``: the model's own by default (the schedule the pack's training noises with)."""
    if temporal_attention:
        model = apply_temporal_attention(model, load_temporal_file(temporal_attention), 1.0, True)
    if appearance_encoder:
        model = apply_appearance_encoder(model, load_appearance_encoder(appearance_encoder), vae, reference)
    positive, negative = text_conds(clip), text_conds(clip)
    if densepose_controlnet:
        positive, negative = apply_densepose(positive, negative, load_densepose_controlnet(densepose_controlnet),
                                             densepose)
    frames, height, width = densepose.shape[:3]
    latent = {"samples": torch.zeros(frames, 4, height // 8, width // 8)}
    out = fusion_sample(model, positive, negative, latent, seed=seed, steps=steps, cfg=cfg,
                        settings=FusionSettings(context_frames=16, context_overlap=4, context_stride=1,
                                                closed_loop=False), progress=False, noise=noise,
                        beta_schedule=beta_schedule)
    return vae.decode(out["samples"]).float().clamp(0, 1)
