"""Put ComfyUI and the repo on ``sys.path`` and initialise ComfyUI the way the test harness does.

Must run before anything imports ``comfy.model_management``: it decides the device from ``args.cpu``.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def setup(device: str) -> None:
    """Initialise ComfyUI in-process for ``device`` ("cpu" or "cuda"); idempotent."""
    if "comfy.model_management" in sys.modules:
        return
    comfy_path = os.environ.get("COMFYUI_PATH")
    if not comfy_path:
        raise SystemExit("COMFYUI_PATH is not set: run through `python3 scripts/host.py run -- python bench/run.py`.")
    for path in (str(REPO), str(Path(comfy_path).resolve())):
        if path in sys.path:
            sys.path.remove(path)
    sys.path[:0] = [str(Path(comfy_path).resolve()), str(REPO)]
    import comfy.options

    comfy.options.enable_args_parsing(False)
    import comfy.cli_args
    import torch

    comfy.cli_args.args.base_directory = tempfile.mkdtemp(prefix="magicanimate-bench-")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available to this process.")
    comfy.cli_args.args.cpu = device == "cpu"
    import comfy.model_management  # noqa: F401  (after args.cpu)
    import utils.install_util  # noqa: F401  (before anything imports ComfyUI's `nodes`)
