"""Fixtures of the training tests: a synthetic data set and tiny base models (auto-loaded by conftest)."""
from __future__ import annotations

from pathlib import Path

import pytest

TRAIN_SIZE = 64


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """A small synthetic data set (3 videos as PNG folders, 3 images), 64x64, 8 frames per video."""
    from magic_core.training.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("train_data"), videos=3, images=3, frames=8,
                                  width=TRAIN_SIZE, height=TRAIN_SIZE, seed=3)


def tiny_base(seed: int = 0):
    """Fresh tiny SD1.5 base models for one training run (the trainer owns what it is given)."""
    from magic_core.training.models import BaseModels, text_embedding

    from .tiny_models import tiny_clip, tiny_sd15_patcher, tiny_taesd_vae

    return BaseModels(tiny_sd15_patcher(seed), tiny_taesd_vae(2), text_embedding(tiny_clip(1), ""))


def tiny_config(tmp_path: Path, data: Path, **overrides):
    """A training config for the tiny models on the synthetic set (CPU-sized)."""
    from magic_core.training.config import TrainConfig

    values = dict(data_root=str(data), output_dir=str(tmp_path / "run"), width=TRAIN_SIZE, height=TRAIN_SIZE,
                  clip_frames=3, batch_size=1, max_steps=2, save_every=1000, learning_rate=1e-3,
                  mixed_precision="no", progress_bar=False, seed=0, reference_drop_prob=0.0)
    values.update(overrides)
    return TrainConfig(**values)
