"""Tiny trainable base models, a CPU-sized training config and a damaged data set for the training tests."""
from __future__ import annotations

import shutil
from pathlib import Path

TRAIN_SIZE = 64


def tiny_trainable_sd15(seed: int = 0):
    """The tiny SD1.5 ModelPatcher with every GroupNorm/LayerNorm scale near 1 (seeded).

    ``seeded_init_`` gives norms whose names lack "norm" (``in_layers.0``, ``out.0``, ...) scales near 0.02, so
    that UNet's output is ~0.03 and hardly depends on its input or on what is added to it: nothing could learn
    to steer it.  With unit norm scales it responds like a real UNet, so training tests can see learning.
    """
    import torch

    from .tiny_models import tiny_sd15_patcher

    patcher = tiny_sd15_patcher(seed)
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for module in patcher.model.diffusion_model.modules():
            if isinstance(module, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and module.weight is not None:
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.weight.shape, generator=gen))
    return patcher


def tiny_base(seed: int = 0):
    """Fresh tiny SD1.5 base models for one training run (the trainer owns what it is given)."""
    from magic_core.training.models import BaseModels, text_embedding

    from .tiny_models import tiny_clip, tiny_taesd_vae

    return BaseModels(tiny_trainable_sd15(seed), tiny_taesd_vae(2), text_embedding(tiny_clip(1), ""))


def tiny_config(tmp_path: Path, data: Path, **overrides):
    """A training config for the tiny models on the synthetic set (CPU-sized)."""
    from magic_core.training.config import TrainConfig

    values = dict(data_root=str(data), output_dir=str(tmp_path / "run"), width=TRAIN_SIZE, height=TRAIN_SIZE,
                  clip_frames=3, batch_size=1, max_steps=2, save_every=1000, learning_rate=1e-3,
                  mixed_precision="no", progress_bar=False, seed=0, reference_drop_prob=0.0)
    values.update(overrides)
    return TrainConfig(**values)


def damaged_copy(dataset: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of ``dataset`` with bad data: the first video's DensePose one frame short, the first image unreadable.

    Returns (root, the short DensePose folder, the broken image).
    """
    root = tmp_path / "damaged"
    shutil.copytree(dataset, root)
    short_video = sorted((root / "videos_densepose").iterdir())[0]
    sorted(short_video.iterdir())[-1].unlink()
    broken_image = sorted((root / "images").iterdir())[0]
    broken_image.write_bytes(b"not an image")
    return root, short_video, broken_image
