"""The README's demo: start a real ComfyUI server with the pack and run a MagicAnimate workflow.

Run it with ``make demo`` (sets up the ComfyUI host first).  Outputs go to ``output/demo/`` in the clone;
the path of the written video is printed at the end.  Until the full MagicAnimate nodes land, the demo runs
the pack's synthetic-motion workflow through the server on a tiny generated SD1.5 checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMFY = Path(os.environ.get("COMFYUI_PATH", "")).resolve()
if not (COMFY / "main.py").is_file():
    raise SystemExit("COMFYUI_PATH is not set: run the demo with `make demo`.")
sys.path[:0] = [str(COMFY), str(REPO / "tests")]

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing(False)
import comfy.cli_args  # noqa: E402
import torch  # noqa: E402

if not torch.cuda.is_available():
    comfy.cli_args.args.cpu = True

from harness.server import ComfyServer  # noqa: E402
from harness.tiny_models import write_tiny_sd15_checkpoint  # noqa: E402

TINY_CHECKPOINT = "magicanimate_demo_tiny_sd15.safetensors"


def synthetic_workflow(frames: int, size: int, fps: float) -> dict:
    """Synthetic DensePose motion -> video, and the tiny checkpoint sampling the same number of frames."""
    return {
        "1": {"class_type": "MagicAnimateSyntheticMotion",
              "inputs": {"width": size, "height": size, "frame_count": frames, "motion": "walk", "seed": 0}},
        "2": {"class_type": "MagicAnimatePrepareMotion",
              "inputs": {"frames": ["1", 0], "width": size, "height": size, "fit": "crop", "start_frame": 0,
                         "frame_count": 0, "every_nth": 1}},
        "3": {"class_type": "CreateVideo", "inputs": {"images": ["2", 0], "fps": fps}},
        "4": {"class_type": "SaveVideo",
              "inputs": {"video": ["3", 0], "filename_prefix": "magicanimate_demo", "format": "mp4",
                         "codec": "h264"}},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--fps", type=float, default=25.0)
    args = parser.parse_args()

    base = REPO / "output" / "demo"
    for sub in ("custom_nodes", "input", "output", "temp", "user", "models/checkpoints", "models/magicanimate"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    link = base / "custom_nodes" / "ComfyUI-MagicAnimate"
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    plugin = base / "custom_nodes" / "magicanimate_test_models"
    if not plugin.exists():
        plugin.symlink_to(REPO / "tests" / "harness" / "tiny_host_plugin", target_is_directory=True)
    ckpt = base / "models" / "checkpoints" / TINY_CHECKPOINT
    if not ckpt.exists():
        from harness.tiny_sd15 import register_tiny_sd15
        register_tiny_sd15()
        write_tiny_sd15_checkpoint(ckpt)

    server = ComfyServer(COMFY, sys.executable, base, cpu=not torch.cuda.is_available())
    print(f"Starting ComfyUI ({COMFY}) on {server.url}; log: {server.log_path}", flush=True)
    try:
        server.start()
        entry = server.run(synthetic_workflow(args.frames, args.size, args.fps), timeout=1800)
    finally:
        server.stop()
    videos = [p for p in server.output_files(entry) if p.suffix == ".mp4"]
    if not videos:
        print(json.dumps(entry.get("outputs"), indent=1))
        raise SystemExit("The workflow ran but saved no mp4; see the server log above.")
    print(f"Wrote {videos[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
