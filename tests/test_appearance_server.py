"""Through a real ComfyUI server: the official-format tiny encoder + a reference image + KSampler make frames."""
from __future__ import annotations

import pytest
from conftest import TINY_CHECKPOINT
from harness.fixtures_appearance import REFERENCE_PNG
from harness.server import ExecutionFailed
from harness.tiny_appearance import ENCODER_FILE
from PIL import Image

FRAMES = 3


def appearance_workflow(encoder_name: str, reference: str = REFERENCE_PNG) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": FRAMES}},
        "5": {"class_type": "MagicAnimateAppearanceEncoderLoader", "inputs": {"encoder_name": encoder_name}},
        "6": {"class_type": "LoadImage", "inputs": {"image": reference}},
        "7": {"class_type": "MagicAnimateApplyAppearanceEncoder", "inputs": {
            "model": ["1", 0], "appearance_encoder": ["5", 0], "vae": ["1", 2], "reference_image": ["6", 0],
            "strength": 1.0, "fusion_blocks": "midup", "start_percent": 0.0, "end_percent": 1.0}},
        "8": {"class_type": "KSampler", "inputs": {
            "model": ["7", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": 1, "steps": 2, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "denoise": 1.0}},
        "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}},
        "10": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "images": ["9", 0], "filename_prefix": "appearance", "fps": 8.0, "lossless": False, "quality": 80,
            "method": "default"}},
    }


def test_appearance_workflow_through_server(appearance_server_files, comfy_server):
    info = comfy_server.object_info()
    names = info["MagicAnimateAppearanceEncoderLoader"]["input"]["required"]["encoder_name"]
    options = names[1]["options"] if isinstance(names[0], str) else names[0]
    assert ENCODER_FILE.as_posix() in options
    entry = comfy_server.run(appearance_workflow(ENCODER_FILE.as_posix()))
    files = [f for f in comfy_server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1
    with Image.open(files[0]) as img:
        assert img.n_frames == FRAMES and img.size == (64, 64)


def test_non_unet_file_gives_clear_error_through_server(server_base, appearance_server_files, comfy_server):
    bad = server_base / "models" / "magicanimate" / "not_a_unet.safetensors"
    if not bad.exists():
        import torch
        from safetensors.torch import save_file
        save_file({"encoder.layer.weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ExecutionFailed, match="'not_a_unet.safetensors' is not a UNet checkpoint"):
        comfy_server.run(appearance_workflow("not_a_unet.safetensors"))
