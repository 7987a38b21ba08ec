"""Temporal attention nodes through a real ComfyUI server: the official-format tiny file, loader + apply + KSampler."""
from __future__ import annotations

import pytest
from conftest import TINY_CHECKPOINT
from harness.server import ExecutionFailed
from PIL import Image

FRAMES = 4
TEMPORAL_FILE = "MagicAnimate/temporal_attention/temporal_attention.ckpt"


def temporal_workflow(model_name: str = TEMPORAL_FILE, frames: int = FRAMES) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person dancing", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": frames}},
        "10": {"class_type": "MagicAnimateTemporalAttentionLoader", "inputs": {"model_name": model_name}},
        "11": {"class_type": "MagicAnimateApplyTemporalAttention", "inputs": {
            "model": ["1", 0], "temporal_attention": ["10", 0], "strength": 1.0, "cross_frame_norm": True}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["11", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": 1, "steps": 2, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform", "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "images": ["6", 0], "filename_prefix": "temporal", "fps": 8.0, "lossless": False, "quality": 80,
            "method": "default"}},
    }


def test_temporal_nodes_run_in_a_real_server(temporal_files_in_server, comfy_server):
    info = comfy_server.object_info()
    loader = info["MagicAnimateTemporalAttentionLoader"]
    kind, spec = loader["input"]["required"]["model_name"][:2]
    assert TEMPORAL_FILE in (spec["options"] if kind == "COMBO" else kind)
    assert loader["output"] == ["MAGICANIMATE_TEMPORAL"]
    apply_inputs = info["MagicAnimateApplyTemporalAttention"]["input"]["required"]
    assert apply_inputs["strength"][1]["default"] == 1.0 and apply_inputs["cross_frame_norm"][1]["default"] is True
    entry = comfy_server.run(temporal_workflow())
    files = [f for f in comfy_server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1
    with Image.open(files[0]) as img:
        assert img.n_frames == FRAMES and img.size == (64, 64)
    assert "temporal attention" in comfy_server.log_text().lower()


def test_too_long_window_error_reaches_the_user(temporal_files_in_server, comfy_server):
    with pytest.raises(ExecutionFailed, match="window of 30 frames is longer than the 24-frame positional encoding"):
        comfy_server.run(temporal_workflow(frames=30))
