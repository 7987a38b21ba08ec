"""Fixtures for the shipped workflows: tiny model files under the REAL file names the workflows use,
and small generated inputs (reference image, DensePose videos), placed in the test server's folders."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .media import write_mp4, write_png
from .tiny_magicanimate import synthetic_reference_image, write_tiny_magicanimate_folder
from .tiny_models import write_tiny_upscaler, write_tiny_vae

REPO = Path(__file__).resolve().parent.parent.parent
WORKFLOWS = REPO / "workflows"
SHORT_FRAMES = 12
LONG_FRAMES = 120
VIDEO_FPS = 25


def load_workflow(name: str) -> dict:
    return json.loads((WORKFLOWS / name).read_text())


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(src, dest, target_is_directory=src.is_dir())


def install_magicanimate_models(base: Path, model_cache: Path, tiny_checkpoint: Path) -> None:
    """Tiny files under the names ``workflows/*_api.json`` use, in the real ``models/`` subfolders."""
    models = base / "models"
    _link(tiny_checkpoint, models / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    vae = model_cache / "tiny_vae.safetensors"
    if not vae.exists():
        write_tiny_vae(vae)
    _link(vae, models / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors")
    upscaler = model_cache / "tiny_upscaler.pth"
    if not upscaler.exists():
        write_tiny_upscaler(upscaler)
    _link(upscaler, models / "upscale_models" / "RealESRGAN_x2plus.pth")
    folder = model_cache / "MagicAnimate"
    if not folder.exists():
        write_tiny_magicanimate_folder(folder)
    _link(folder, models / "magicanimate" / "MagicAnimate")


def install_inputs(base: Path, size: int = 64) -> None:
    """A reference image and DensePose videos (synthetic motion) in the server's ``input/``."""
    from magic_core.motion import render_synthetic_motion

    inputs = base / "input"
    # Each file on its own: other fixtures may already have put a file of the same name there.
    images = {"magicanimate_reference.png": 0, "magicanimate_reference_b.png": 1}
    videos = {"magicanimate_densepose.mp4": (SHORT_FRAMES, "walk", 0),
              "magicanimate_densepose_b.mp4": (SHORT_FRAMES, "wave", 1),
              "magicanimate_densepose_long.mp4": (LONG_FRAMES, "turn", 2)}
    for name, seed in images.items():
        if not (inputs / name).exists():
            write_png(synthetic_reference_image(size, size, seed=seed), inputs / name)
    for name, (frames, motion, seed) in videos.items():
        if not (inputs / name).exists():
            write_mp4(render_synthetic_motion(size, size, frames, motion, seed), inputs / name, VIDEO_FPS)


@pytest.fixture(scope="session")
def workflow_files(server_base, model_cache, tiny_checkpoint) -> Path:
    """The test server's base folder with every model and input the shipped workflows name."""
    install_magicanimate_models(server_base, model_cache, tiny_checkpoint)
    install_inputs(server_base)
    return server_base


def small(workflow: dict, size: int = 64, steps: int = 3, context: int = 8, overlap: int = 2) -> dict:
    """The same graph with test-sized settings (size, steps, windows); nothing else changes."""
    wf = json.loads(json.dumps(workflow))
    for node in wf.values():
        inputs, kind = node["inputs"], node["class_type"]
        for key in ("width", "height"):
            if key in inputs and not isinstance(inputs[key], list):
                inputs[key] = size
        if kind == "MagicAnimateFusionSampler":
            inputs.update(steps=steps, context_frames=context, context_overlap=overlap)
    return wf
