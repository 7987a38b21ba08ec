"""Pytest fixtures for the appearance encoder tests (auto-loaded by ``tests/conftest.py``)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from .tiny_appearance import ENCODER_DIR, ENCODER_FILE
from .workflow_builders import OFFICIAL_SERVER_FOLDER

_SHARED_TINY = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "official_format_tiny"
REFERENCE_PNG = "appearance_server_reference.png"
SERVER_ENCODER_FILE = f"{OFFICIAL_SERVER_FOLDER}/{ENCODER_FILE.as_posix()}"  # its name in the server's list


@pytest.fixture(scope="session")
def official_tiny() -> Path:
    """The official-format tiny files (skips where ../shared is absent)."""
    if not (_SHARED_TINY / ENCODER_DIR / "config.json").exists():
        pytest.skip(f"{_SHARED_TINY} is absent (the ../shared data beside the clone is not available here)")
    return _SHARED_TINY


@pytest.fixture(scope="session")
def appearance_encoder(official_tiny):
    """The official tiny appearance encoder loaded by the pack (shared: loading does not change it)."""
    from magic_core.appearance.loading import load_appearance_encoder

    return load_appearance_encoder(str(official_tiny / ENCODER_DIR / "diffusion_pytorch_model.safetensors"))


@pytest.fixture(scope="session")
def appearance_server_files(server_base, official_tiny) -> Path:
    """The official tiny encoder folder in the server's models/magicanimate, and a reference PNG in input/.
    Request it before ``comfy_server``."""
    import numpy as np
    from PIL import Image

    dest = server_base / "models" / "magicanimate" / OFFICIAL_SERVER_FOLDER / ENCODER_DIR
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.symlink(official_tiny / ENCODER_DIR, dest, target_is_directory=True)
    rng = np.random.default_rng(7)
    pixels = (rng.random((96, 80, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(server_base / "input" / REFERENCE_PNG)
    return dest
