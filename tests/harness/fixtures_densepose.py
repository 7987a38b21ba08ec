"""DensePose fixtures: the tiny official-layout ControlNet (its file, loaded, a recorder of its calls), and the
server's copy of it (before the server starts)."""
from __future__ import annotations

from pathlib import Path

import pytest

from .control_calls import ControlCalls
from .paths import OFFICIAL_TINY, link
from .server_files import DENSEPOSE_DIR, DENSEPOSE_FILE, OFFICIAL_SERVER_FOLDER


@pytest.fixture(scope="session")
def densepose_controlnet_file(model_cache) -> Path:
    """The official-layout tiny DensePose ControlNet: the original project's file from ../shared when present,
    else one generated in the same layout."""
    shared = OFFICIAL_TINY / DENSEPOSE_DIR / "diffusion_pytorch_model.safetensors"
    if shared.exists():
        return shared
    from .tiny_densepose import write_tiny_densepose_controlnet

    return write_tiny_densepose_controlnet(model_cache / DENSEPOSE_DIR)


@pytest.fixture(scope="session")
def server_densepose_controlnet(server_base, densepose_controlnet_file) -> str:
    """The ControlNet folder placed in the server's ``models/magicanimate/``; returns its listed file name.
    Request it before ``comfy_server``."""
    dest = server_base / "models" / "magicanimate" / OFFICIAL_SERVER_FOLDER / DENSEPOSE_DIR
    for item in ("diffusion_pytorch_model.safetensors", "config.json"):
        link(densepose_controlnet_file.parent / item, dest / item)
    return f"{OFFICIAL_SERVER_FOLDER}/{DENSEPOSE_FILE}"


@pytest.fixture(scope="module")
def densepose_cn(densepose_controlnet_file):
    """The tiny DensePose ControlNet loaded by the pack's loader (a ``FrameControlNet``), once per test module."""
    from magic_core.densepose import load_densepose_controlnet  # late, as in the other fixture files

    return load_densepose_controlnet(str(densepose_controlnet_file))


@pytest.fixture
def calls(densepose_cn):
    """Every forward of ``densepose_cn``'s ControlNet model during the test (:class:`ControlCalls`)."""
    recorder = ControlCalls(densepose_cn.control_model)
    yield recorder
    recorder.close()
