"""Tiny appearance-encoder test models: the official-format tiny files as a ComfyUI model, and an independent
diffusers reference of the original write/read banks built from the same files."""
from __future__ import annotations

import json
from pathlib import Path

import comfy.utils
import safetensors.torch
import torch

from .tiny_models import tiny_sd15_patcher
from .tiny_sd15 import TINY_UNET_CONFIG

ENCODER_DIR = Path("MagicAnimate") / "appearance_encoder"
ENCODER_FILE = ENCODER_DIR / "diffusion_pytorch_model.safetensors"


def official_base_patcher(official_tiny: Path, dtype: torch.dtype | None = None):
    """The tiny SD1.5 ComfyUI model carrying the official tiny ``base_unet`` weights (diffusers file), in
    ``dtype`` (default: ComfyUI's choice)."""
    patcher = tiny_sd15_patcher(0, dtype)
    mapping = comfy.utils.unet_to_diffusers(dict(TINY_UNET_CONFIG))
    sd = safetensors.torch.load_file(str(official_tiny / "base_unet" / "diffusion_pytorch_model.safetensors"))
    patcher.model.diffusion_model.load_state_dict({mapping[k]: v for k, v in sd.items()}, strict=True)
    return patcher


def _diffusers_unet(folder: Path, strict: bool):
    from diffusers import UNet2DConditionModel

    config = json.loads((folder / "config.json").read_text())
    config.pop("_class_name", None)
    config.pop("_diffusers_version", None)
    unet = UNet2DConditionModel.from_config(config)
    sd = safetensors.torch.load_file(str(folder / "diffusion_pytorch_model.safetensors"))
    result = unet.load_state_dict(sd, strict=strict)
    return unet.eval(), (sorted(result.missing_keys) if result is not None else [])


def _attention(attn, query_states: torch.Tensor, kv_states: torch.Tensor) -> torch.Tensor:
    """Plain softmax attention of a diffusers ``Attention`` (written out, independent of ComfyUI)."""
    q, k, v = attn.to_q(query_states), attn.to_k(kv_states), attn.to_v(kv_states)
    b, heads = q.shape[0], attn.heads

    def split(t):
        return t.reshape(b, t.shape[1], heads, -1).transpose(1, 2)

    weights = torch.softmax(split(q) @ split(k).transpose(-1, -2) * attn.scale, dim=-1)
    out = (weights @ split(v)).transpose(1, 2).reshape(b, q.shape[1], -1)
    return attn.to_out[1](attn.to_out[0](out))


class _Write:
    def __init__(self, bank: dict, index: int):
        self.bank, self.index = bank, index

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kw):
        self.bank[self.index] = hidden_states.clone()  # the norm1 output
        return _attention(attn, hidden_states, hidden_states)


class _Read:
    def __init__(self, reference: DiffusersReference, index: int):
        self.reference, self.index = reference, index

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kw):
        mask = self.reference.cond_mask
        if mask is None:
            return _attention(attn, hidden_states, hidden_states)
        out = torch.empty_like(hidden_states)
        own = hidden_states[mask]
        bank = self.reference.bank[self.index].expand(own.shape[0], -1, -1)
        out[mask] = _attention(attn, own, torch.cat([own, bank], dim=1))
        out[~mask] = _attention(attn, hidden_states[~mask], hidden_states[~mask])
        return out


def _sorted_blocks(unet, region: str):
    """The spatial transformer blocks of ``region`` by falling width (a motion UNet's temporal blocks left out)."""
    from diffusers.models.attention import BasicTransformerBlock

    modules = [unet.mid_block, unet.up_blocks] if region == "midup" else [unet]
    found = [m for root in modules for name, m in root.named_modules()
             if isinstance(m, BasicTransformerBlock) and "motion_modules" not in name]
    return sorted(found, key=lambda m: -m.norm1.normalized_shape[0])


def official_base_unet(official_tiny: Path):
    """The official tiny ``base_unet`` as a diffusers ``UNet2DConditionModel``."""
    return _diffusers_unet(official_tiny / "base_unet", strict=True)[0]


class DiffusersReference:
    """The original's reference attention with diffusers ``UNet2DConditionModel`` (same tiny weights).

    ``base``: the denoising UNet to read into (default: the official tiny ``base_unet``; e.g. a motion UNet of it).
    """

    def __init__(self, official_tiny: Path, region: str = "midup", base=None):
        self.base = base if base is not None else official_base_unet(official_tiny)
        self.encoder, self.encoder_missing = _diffusers_unet(official_tiny / ENCODER_DIR, strict=False)
        self.bank: dict[int, torch.Tensor] = {}
        self.cond_mask: torch.Tensor | None = None
        for i, block in enumerate(_sorted_blocks(self.encoder, region)):
            block.attn1.set_processor(_Write(self.bank, i))
        for i, block in enumerate(_sorted_blocks(self.base, region)):
            block.attn1.set_processor(_Read(self, i))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor, cond_mask: torch.Tensor | None,
                ref_latent: torch.Tensor | None, ref_context: torch.Tensor | None, **base_kwargs) -> torch.Tensor:
        """Noise prediction; with ``ref_latent`` the encoder runs first (write) and cond rows read its bank.

        ``cond_mask`` marks the conditional rows of the UNet's (frame) batch; ``base_kwargs`` go to the base UNet
        (e.g. ControlNet residuals)."""
        self.bank.clear()
        self.cond_mask = None
        if ref_latent is not None:
            self.encoder(ref_latent, t[:1], encoder_hidden_states=ref_context)
            self.cond_mask = cond_mask
        return self.base(x, t, encoder_hidden_states=context, **base_kwargs).sample
