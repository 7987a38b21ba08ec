"""Test harness: the ComfyUI host in-process, a real ComfyUI server, and tiny real-format model files.

Run through the README's test command (``make test``), which sets ``COMFYUI_PATH`` to the host ComfyUI.
The pack's ``magic_core`` is imported as a top-level package here (the repo root is on ``sys.path`` after
ComfyUI, so ComfyUI's own top-level ``nodes``/``utils`` modules win over the pack's folders).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from harness.paths import PACK_DIR_NAME, REPO, link

if not os.environ.get("COMFYUI_PATH"):
    pytest.exit("COMFYUI_PATH is not set: run the tests with `make test` (it sets up the ComfyUI host), "
                "or set COMFYUI_PATH to your ComfyUI folder.", returncode=4)
COMFY_PATH = Path(os.environ["COMFYUI_PATH"]).resolve()
sys.path[:0] = [str(COMFY_PATH), str(REPO)]

# Everything ComfyUI writes in-process (models, outputs, user data) goes to a throw-away base directory.
_BASE = Path(tempfile.mkdtemp(prefix="magicanimate-inproc-"))
import comfy.options  # noqa: E402

comfy.options.enable_args_parsing(False)
import comfy.cli_args  # noqa: E402
import torch  # noqa: E402

comfy.cli_args.args.base_directory = str(_BASE)
if not torch.cuda.is_available():
    comfy.cli_args.args.cpu = True  # must precede the first import of comfy.model_management

import comfy.model_management  # noqa: E402,F401
import folder_paths  # noqa: E402,F401
import utils.install_util  # noqa: E402,F401  (before `nodes` puts comfy/ first on sys.path, as main.py does)
from harness.server import ComfyServer  # noqa: E402
from harness.tiny_models import write_tiny_sd15_checkpoint  # noqa: E402
from harness.tiny_sd15 import register_tiny_sd15  # noqa: E402

pytest_plugins = ["harness.collection", "harness.markers"] + [
    f"harness.{p.stem}" for p in sorted((Path(__file__).parent / "harness").glob("fixtures_*.py"))]

from harness.server_files import TINY_CHECKPOINT  # noqa: E402  (one name for the tiny file)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_BASE, ignore_errors=True)


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Session folder where tiny model files are generated once."""
    return tmp_path_factory.mktemp("tiny_models")


@pytest.fixture(scope="session")
def tiny_checkpoint(model_cache) -> Path:
    """The tiny SD1.5 full checkpoint (UNet + CLIP + TAESD), written by ComfyUI's save path."""
    register_tiny_sd15()
    return write_tiny_sd15_checkpoint(model_cache / TINY_CHECKPOINT)


@pytest.fixture(scope="session")
def comfy_host():
    """ComfyUI in-process: core extras and the pack loaded the way ComfyUI loads custom nodes.

    Returns ComfyUI's ``nodes`` module (``nodes.NODE_CLASS_MAPPINGS`` holds every node).
    """
    import nodes

    register_tiny_sd15()
    pack = _BASE / "custom_nodes" / PACK_DIR_NAME
    link(REPO, pack)
    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
    assert asyncio.run(nodes.load_custom_node(str(pack))), "the pack failed to load in-process"
    return nodes


@pytest.fixture(scope="session")
def server_base(tmp_path_factory, tiny_checkpoint) -> Path:
    """A ComfyUI ``--base-directory``: the pack and the tiny-model plugin in ``custom_nodes/``, tiny models
    in the real ``models/`` subfolders (extend it from fixtures before the server starts)."""
    base = tmp_path_factory.mktemp("comfy_base")
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models/checkpoints", "models/magicanimate"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link(REPO, base / "custom_nodes" / PACK_DIR_NAME)
    link(Path(__file__).parent / "harness" / "tiny_host_plugin", base / "custom_nodes" / "magicanimate_test_models")
    link(tiny_checkpoint, base / "models" / "checkpoints" / TINY_CHECKPOINT)
    return base


@pytest.fixture(scope="session")
def comfy_server(server_base):
    """A real ComfyUI server running the pack (one per session); always stopped at the end."""
    server = ComfyServer(COMFY_PATH, os.environ.get("COMFYUI_PYTHON") or sys.executable, server_base,
                         cpu=not torch.cuda.is_available())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server log to the report of a failing test that used the server."""
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("comfy_server") if hasattr(item, "funcargs") else None
    if report.failed and server is not None:
        report.sections.append(("ComfyUI server log (tail)", server.log_tail()))
