"""Session fixtures for the temporal attention tests (auto-loaded by ``tests/conftest.py``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .paths import OFFICIAL_TINY, link, requires_shared
from .server_files import OFFICIAL_SERVER_FOLDER, OFFICIAL_TEMPORAL_DIR
from .tiny_temporal import temporal_state_dict, write_temporal_file


@pytest.fixture(scope="session")
def temporal_files(model_cache) -> dict[str, Path]:
    """Generated tiny temporal files: AnimateDiff v1 (.safetensors), v2 (mid block), v3 (32-frame, mid block),
    a second v1 with other weights, and an SDXL-like (3 down blocks) motion module."""
    folder = model_cache / "temporal"
    return {
        "v1": write_temporal_file(folder / "mm_tiny_v1.safetensors", temporal_state_dict(10)),
        "v1_other": write_temporal_file(folder / "mm_tiny_v1_other.ckpt", temporal_state_dict(11)),
        "v2": write_temporal_file(folder / "mm_tiny_v2.ckpt", temporal_state_dict(12, mid_block=True), wrapped=True),
        "v3": write_temporal_file(folder / "mm_tiny_v3.safetensors",
                                  temporal_state_dict(13, max_frames=32, mid_block=True)),
        "sdxl": write_temporal_file(folder / "mm_tiny_sdxl.safetensors",
                                    temporal_state_dict(14, widths=(32, 64, 64), max_frames=32)),
        "wide": write_temporal_file(folder / "mm_wide.safetensors", temporal_state_dict(15, widths=(64, 64, 128, 128))),
    }


@pytest.fixture(scope="session")
def temporal_files_in_server(server_base) -> Path:
    """The official-format tiny temporal files under the server's ``models/magicanimate/`` (request it before
    ``comfy_server``)."""
    source = requires_shared(OFFICIAL_TINY / OFFICIAL_TEMPORAL_DIR)
    dest = server_base / "models" / "magicanimate" / OFFICIAL_SERVER_FOLDER / OFFICIAL_TEMPORAL_DIR
    link(source, dest)
    return dest
