"""Small API-format workflows shared by the server tests."""
from __future__ import annotations

from typing import Any

TINY_CHECKPOINT = "tiny_sd15.safetensors"
# Component server tests put the original project's tiny files under this folder of models/magicanimate/, so
# they never collide with the complete tiny "MagicAnimate/" release folder that the shipped workflows use.
OFFICIAL_SERVER_FOLDER = "official_tiny"


def ksampler_workflow(prefix: str, batch_size: int | list[Any], size: int = 64, steps: int = 2,
                      positive_text: str = "a person dancing", fps: float = 8.0) -> dict:
    """Tiny checkpoint -> prompts -> empty latent -> KSampler -> VAEDecode -> animated WEBP.

    Node ids: 1 checkpoint, 2 positive, 3 negative, 4 latent, 5 KSampler, 6 decode, 7 save. Tests add their own
    nodes with ids from 10 on and re-link the KSampler's ``model``/``positive``/``negative`` inputs to them.
    """
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": positive_text, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": batch_size}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": 1, "steps": steps, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "images": ["6", 0], "filename_prefix": prefix, "fps": fps, "lossless": False, "quality": 80,
            "method": "default"}},
    }
