"""Fixtures of the training tests: a synthetic data set (auto-loaded by conftest)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_training import TRAIN_SIZE


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """A small synthetic data set (3 videos as PNG folders, 3 images), 64x64, 8 frames per video."""
    from magic_core.training.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("train_data"), videos=3, images=3, frames=8,
                                  width=TRAIN_SIZE, height=TRAIN_SIZE, seed=3)
