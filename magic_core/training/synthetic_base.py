"""``make-synthetic --figures [--base]``: the block-figure data set, its held-out validation folder and a small
pretrained base (stage 0) as one SD1.5-layout checkpoint that ComfyUI's checkpoint loader detects as SD1.5 and the
training CLI reads, so both stages run and the workflows render without a download."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from . import figure_set as fs
from .cell_vae import cell_vae
from .models import BaseModels, text_embedding
from .pretrain import new_small_base, pretrain_denoiser
from .sd15_base import SMALL_UNET, save_sd15_checkpoint, widen_base

log = logging.getLogger(__name__)
BASE_NAME = "magicanimate_synthetic_base.safetensors"


def write_validation_folder(root: Path, split: fs.FigureSplit) -> Path:
    """Held-out people in held-out poses as 2-frame videos: frame 0 the reference, frame 1 the target."""
    from . import figures as fg

    data = fs.held_out_set(split)
    for i in range(data.targets.shape[0]):
        name = f"heldout{i:03d}"
        for j, image in enumerate((data.references[i], data.targets[i])):
            fs._save_png(image, root / "videos" / name / f"{j:05d}.png")
        pose = data.densepose[i]
        fs._save_png(fg.densepose(fs.REFERENCE_POSE)[0], root / "videos_densepose" / name / "00000.png")
        fs._save_png(pose, root / "videos_densepose" / name / "00001.png")
    return root


def pretrained_base(split: fs.FigureSplit, steps: int, seed: int = 0, unet: dict | None = None) -> BaseModels:
    """The small base (default: the tests' tiny one) pretrained as a plain denoiser on the split's training
    images (stage 0)."""
    vae = cell_vae()
    patcher, clip = new_small_base(vae, seed, unet=unet)
    base = BaseModels(patcher, vae, text_embedding(clip, ""), clip)
    pretrain_denoiser(base, fs.training_frames(split), steps, batch_size=8, seed=seed)
    return base


def make_figure_dataset(root: str | Path, seed: int = 0, base_steps: int = 0) -> dict[str, Path]:
    """Write ``root/train`` (captions beside), ``root/validation`` and, if ``base_steps``, ``root/base/BASE_NAME``:
    stage 0 at width 32 (:data:`SMALL_UNET`), widened to SD1.5's detected widths (:mod:`.sd15_base`)."""
    root = Path(root)
    split = fs.make_split(seed=seed)
    written = {"data_root": fs.write_figure_dataset(root / "train", split),
               "validation_root": write_validation_folder(root / "validation", split)}
    if base_steps:
        with torch.random.fork_rng(devices=[]):
            base = pretrained_base(split, base_steps, seed, unet=SMALL_UNET)
        patcher, clip = widen_base(base.model, base.clip, SMALL_UNET)
        del base
        written["base_checkpoint"] = save_sd15_checkpoint(root / "base" / BASE_NAME, patcher, clip, cell_vae())
    return written
