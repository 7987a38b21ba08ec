"""The official tiny diffusers ``AutoencoderKL`` (``official_format_tiny/vae``) for ComfyUI and for diffusers.

ComfyUI's VAE detection sizes SD VAEs from a fixed full-size layout (128 channels, [1, 2, 4, 4]); this tiny
one (32 channels, [1, 1, 1, 1], one ResBlock per level) goes through ``comfy.sd.VAE`` with its architecture
given from ``config.json``: ComfyUI's own diffusers-key conversion and its own encoder/decoder classes.
"""
from __future__ import annotations

import json
from pathlib import Path

import comfy.sd
import comfy.utils


def _config(folder: Path) -> dict:
    return json.loads((folder / "vae" / "config.json").read_text())


def comfy_official_vae(official_tiny: Path, dtype=None) -> comfy.sd.VAE:
    """The official tiny VAE as a ComfyUI ``VAE`` (what VAEDecode / VAEEncode use), computing in ``dtype``."""
    config = _config(official_tiny)
    widths = config["block_out_channels"]
    ddconfig = {"double_z": True, "z_channels": config["latent_channels"], "resolution": config["sample_size"],
                "in_channels": config["in_channels"], "out_ch": config["out_channels"], "ch": widths[0],
                "ch_mult": [w // widths[0] for w in widths], "num_res_blocks": config["layers_per_block"],
                "attn_resolutions": [], "dropout": 0.0}
    sd = comfy.utils.load_torch_file(str(official_tiny / "vae" / "diffusion_pytorch_model.safetensors"))
    return comfy.sd.VAE(sd=sd, config={"params": {"embed_dim": config["latent_channels"], "ddconfig": ddconfig}},
                        dtype=dtype)


def diffusers_official_vae(official_tiny: Path):
    """The same file as diffusers' ``AutoencoderKL`` (the original's decoder)."""
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(official_tiny / "vae")).eval()
