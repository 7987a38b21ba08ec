"""Pytest fixtures for the appearance encoder tests (auto-loaded by ``tests/conftest.py``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .paths import OFFICIAL_TINY, link, requires_shared
from .server_files import OFFICIAL_SERVER_FOLDER, REFERENCE_PNG
from .tiny_appearance import ENCODER_DIR


@pytest.fixture(scope="session")
def official_tiny() -> Path:
    """The official-format tiny files (skips where ../shared is absent)."""
    requires_shared(OFFICIAL_TINY / ENCODER_DIR / "config.json")
    return OFFICIAL_TINY


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
    link(official_tiny / ENCODER_DIR, dest)
    rng = np.random.default_rng(7)
    pixels = (rng.random((96, 80, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(server_base / "input" / REFERENCE_PNG)
    return dest
