"""Fixtures of the reliability tests (bad inputs, safe loading, cancel, repeat, isolation, cache).

Auto-loaded by ``tests/conftest.py``.  Bad model files go into the server's ``models/magicanimate/bad_inputs/``
and ``models/controlnet/bad_inputs/`` (request ``bad_model_files`` before ``comfy_server``).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .bad_files import write_copy, write_text_file, write_tiny_lora, write_truncated, write_zero_bytes
from .media import write_png
from .paths import link
from .server_files import BAD_DIR, BIG_REFERENCE
from .tiny_magicanimate import synthetic_reference_image
from .tiny_temporal import temporal_state_dict, write_temporal_file


@pytest.fixture(scope="session")
def bad_model_files(workflow_files, model_cache, tiny_checkpoint) -> dict[str, str]:
    """Wrong files of every kind, written once; returns kind -> file name relative to the model folders
    (the same names exist under ``models/magicanimate`` and ``models/controlnet``)."""
    src = model_cache / "bad_inputs_src"
    folder = model_cache / "MagicAnimate"
    files: dict[str, Path] = {
        "zero-byte": write_zero_bytes(src / "zero_bytes.safetensors"),
        "renamed text (.ckpt)": write_text_file(src / "renamed_text.ckpt"),
        "renamed text (.safetensors)": write_text_file(src / "renamed_text.safetensors"),
        "truncated temporal .ckpt": write_truncated(folder / "temporal_attention" / "temporal_attention.ckpt",
                                                    src / "truncated_temporal.ckpt"),
        "truncated safetensors": write_truncated(folder / "appearance_encoder" / "diffusion_pytorch_model.safetensors",
                                                 src / "truncated_unet.safetensors"),
        "SD1.5 checkpoint": write_copy(tiny_checkpoint, src / "sd15_checkpoint.safetensors"),
        "LoRA": write_tiny_lora(src / "lora_sd15.safetensors"),
        "SDXL motion module": write_temporal_file(src / "mm_sdxl.safetensors",
                                                  temporal_state_dict(14, widths=(32, 64, 64), max_frames=32)),
        "AnimateDiff v3 motion module": write_temporal_file(
            src / "mm_sd15_v3.safetensors", temporal_state_dict(13, max_frames=32, mid_block=True)),
        "MagicAnimate temporal attention": write_copy(folder / "temporal_attention" / "temporal_attention.ckpt",
                                                      src / "magicanimate_temporal_attention.ckpt"),
        "ControlNet (no config.json)": write_copy(
            folder / "densepose_controlnet" / "diffusion_pytorch_model.safetensors", src / "controlnet.safetensors"),
        "appearance encoder (no config.json)": write_copy(
            folder / "appearance_encoder" / "diffusion_pytorch_model.safetensors", src / "appearance.safetensors"),
    }
    # Truncated files beside a config.json, as in the official folder layout.
    for part in ("appearance_encoder", "densepose_controlnet"):
        dest = src / f"{part}_truncated" / "diffusion_pytorch_model.safetensors"
        write_truncated(folder / part / "diffusion_pytorch_model.safetensors", dest)
        write_copy(folder / part / "config.json", dest.parent / "config.json")
        files[f"truncated {part} (with config.json)"] = dest
    for root in ("magicanimate", "controlnet"):
        link(src, workflow_files / "models" / root / BAD_DIR)
    big = synthetic_reference_image(128, 96, seed=3)  # [H=96, W=128]: larger than the 64x64 video
    if not (workflow_files / "input" / BIG_REFERENCE).exists():
        write_png(big, workflow_files / "input" / BIG_REFERENCE)
    return {kind: f"{BAD_DIR}/{path.relative_to(src).as_posix()}" for kind, path in files.items()}
