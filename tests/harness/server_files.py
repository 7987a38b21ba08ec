"""The files the test server is given: their names in its folders, and how the shipped workflows' files get there.

Component tests put the original project's tiny files under ``models/magicanimate/official_tiny/``; the shipped
workflows use the complete tiny ``MagicAnimate/`` release folder and inputs under their real names.
"""
from __future__ import annotations

from pathlib import Path

from .media import write_mp4, write_png
from .paths import link
from .tiny_appearance import ENCODER_FILE
from .tiny_densepose_torchscript import plain_dance_video, plain_person_photo, write_tiny_densepose_torchscript
from .tiny_magicanimate import synthetic_reference_image, write_tiny_magicanimate_folder
from .tiny_models import write_tiny_upscaler, write_tiny_vae

TINY_CHECKPOINT = "tiny_sd15.safetensors"
# Never collides with the "MagicAnimate/" release folder that the shipped workflows use.
OFFICIAL_SERVER_FOLDER = "official_tiny"
SERVER_ENCODER_FILE = f"{OFFICIAL_SERVER_FOLDER}/{ENCODER_FILE.as_posix()}"  # its name in the server's list
REFERENCE_PNG = "appearance_server_reference.png"
DENSEPOSE_DIR = Path("MagicAnimate") / "densepose_controlnet"
DENSEPOSE_FILE = (DENSEPOSE_DIR / "diffusion_pytorch_model.safetensors").as_posix()
OFFICIAL_TEMPORAL_DIR = Path("MagicAnimate") / "temporal_attention"

# Inputs of the shipped workflows (written by install_inputs) and of the reliability tests.
SHORT_FRAMES = 12
LONG_FRAMES = 120
VIDEO_FPS = 25
REFERENCES = ("magicanimate_reference.png", "magicanimate_reference_b.png")
DENSEPOSE = ("magicanimate_densepose.mp4", "magicanimate_densepose_b.mp4")
BAD_DIR = "bad_inputs"  # under models/magicanimate and models/controlnet
BIG_REFERENCE = "reliability_reference_big.png"
# The from-video workflow: a plain (not DensePose) portrait video and a photo the tiny DensePose model detects.
DENSEPOSE_MODEL = "densepose_r50_fpn_dl.torchscript"  # under models/magicanimate/densepose/
PLAIN_VIDEO = "magicanimate_dance.mp4"
PLAIN_VIDEO_SIZE = (112, 64)  # height, width: portrait, like a phone video
PLAIN_VIDEO_AWAY = ("magicanimate_dance_away.mp4", (4, 5, 6))  # the dancer leaves the picture in these frames
PERSON_PHOTO = "magicanimate_person.png"


def install_magicanimate_models(base: Path, model_cache: Path, tiny_checkpoint: Path) -> None:
    """Tiny files under the names ``workflows/*_api.json`` use, in the real ``models/`` subfolders."""
    models = base / "models"
    link(tiny_checkpoint, models / "checkpoints" / "v1-5-pruned-emaonly.safetensors")
    vae = model_cache / "tiny_vae.safetensors"
    if not vae.exists():
        write_tiny_vae(vae)
    link(vae, models / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors")
    upscaler = model_cache / "tiny_upscaler.pth"
    if not upscaler.exists():
        write_tiny_upscaler(upscaler)
    link(upscaler, models / "upscale_models" / "RealESRGAN_x2plus.pth")
    folder = model_cache / "MagicAnimate"
    if not folder.exists():
        write_tiny_magicanimate_folder(folder)
    link(folder, models / "magicanimate" / "MagicAnimate")
    estimator = model_cache / DENSEPOSE_MODEL
    if not estimator.exists():
        write_tiny_densepose_torchscript(estimator)
    link(estimator, models / "magicanimate" / "densepose" / DENSEPOSE_MODEL)


def install_inputs(base: Path, size: int = 64) -> None:
    """A reference image and DensePose videos (synthetic motion) in the server's ``input/``."""
    from magic_core.motion import render_synthetic_motion

    inputs = base / "input"
    # Each file on its own: other fixtures may already have put a file of the same name there.
    images = {REFERENCES[0]: 0, REFERENCES[1]: 1}
    videos = {DENSEPOSE[0]: (SHORT_FRAMES, "walk", 0),
              DENSEPOSE[1]: (SHORT_FRAMES, "wave", 1),
              "magicanimate_densepose_long.mp4": (LONG_FRAMES, "turn", 2)}
    for name, seed in images.items():
        if not (inputs / name).exists():
            write_png(synthetic_reference_image(size, size, seed=seed), inputs / name)
    for name, (frames, motion, seed) in videos.items():
        if not (inputs / name).exists():
            write_mp4(render_synthetic_motion(size, size, frames, motion, seed), inputs / name, VIDEO_FPS)
    if not (inputs / PLAIN_VIDEO).exists():
        write_mp4(plain_dance_video(*PLAIN_VIDEO_SIZE, SHORT_FRAMES), inputs / PLAIN_VIDEO, VIDEO_FPS)
    if not (inputs / PLAIN_VIDEO_AWAY[0]).exists():
        write_mp4(plain_dance_video(*PLAIN_VIDEO_SIZE, SHORT_FRAMES, away=PLAIN_VIDEO_AWAY[1]),
                  inputs / PLAIN_VIDEO_AWAY[0], VIDEO_FPS)
    if not (inputs / PERSON_PHOTO).exists():
        write_png(plain_person_photo(96, 80), inputs / PERSON_PHOTO)
