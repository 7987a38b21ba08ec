"""Fixtures and helpers for the reliability tests (bad inputs, safe loading, cancel, repeat, isolation, cache).

Auto-loaded by ``tests/conftest.py``.  Bad model files go into the server's ``models/magicanimate/bad_inputs/``
and ``models/controlnet/bad_inputs/`` (request ``bad_model_files`` before ``comfy_server``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from .bad_files import write_copy, write_text_file, write_tiny_lora, write_truncated, write_zero_bytes
from .media import write_png
from .tiny_magicanimate import synthetic_reference_image
from .tiny_temporal import temporal_state_dict, write_temporal_file

BAD_DIR = "bad_inputs"
TEMPORAL = "MagicAnimate/temporal_attention/temporal_attention.ckpt"
APPEARANCE = "MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors"
CONTROLNET = "MagicAnimate/densepose_controlnet/diffusion_pytorch_model.safetensors"
BIG_REFERENCE = "reliability_reference_big.png"
REFERENCES = ("magicanimate_reference.png", "magicanimate_reference_b.png")  # written by fixtures_workflows
DENSEPOSE = ("magicanimate_densepose.mp4", "magicanimate_densepose_b.mp4")
STATE_NODE = "40"
# Node ids of the shipped basic workflow.
LOADER_NODES = {"temporal": ("14", "model_name"), "appearance": ("10", "encoder_name"),
                "controlnet": ("12", "controlnet_name")}


def basic_prompt(frames: int = 8, steps: int = 2, size: int = 64, prefix: str = "reliability") -> dict[str, Any]:
    """The shipped basic workflow, test-sized: ``frames`` DensePose frames, ``steps`` steps, one window."""
    from .fixtures_workflows import load_workflow, small  # late: that plugin registers after this one

    wf = small(load_workflow("magicanimate_basic_api.json"), size=size, steps=steps, context=8, overlap=2)
    wf["8"]["inputs"]["frame_count"] = frames
    wf["19"]["inputs"]["filename_prefix"] = f"{prefix}/video"
    wf["20"]["inputs"].update(filename_prefix=f"{prefix}/webp", lossless=True, quality=100)
    return wf


def without_video_output(wf: dict[str, Any]) -> dict[str, Any]:
    """Drop the mp4 branch (lossy, slower); the lossless WEBP stays as the output to compare."""
    wf = json.loads(json.dumps(wf))
    for node in ("18", "19"):
        wf.pop(node, None)
    return wf


@pytest.fixture(scope="session")
def bad_model_files(workflow_files, model_cache, tiny_checkpoint) -> dict[str, str]:
    """Wrong files of every kind, written once; returns kind -> file name relative to the model folders
    (the same names exist under ``models/magicanimate`` and ``models/controlnet``)."""
    src = model_cache / "bad_inputs_src"
    folder = model_cache / "MagicAnimate"
    files: dict[str, Path] = {
        "zero-byte": write_zero_bytes(src / "zero_bytes.safetensors"),
        "renamed text (.ckpt)": write_text_file(src / "renamed_text.ckpt"),
        "renamed text (.safetensors)": write_text_file(src / "renamed_text.safetensors"),
        "truncated temporal .ckpt": write_truncated(folder / "temporal_attention" / "temporal_attention.ckpt",
                                                    src / "truncated_temporal.ckpt"),
        "truncated safetensors": write_truncated(folder / "appearance_encoder" / "diffusion_pytorch_model.safetensors",
                                                 src / "truncated_unet.safetensors"),
        "SD1.5 checkpoint": write_copy(tiny_checkpoint, src / "sd15_checkpoint.safetensors"),
        "LoRA": write_tiny_lora(src / "lora_sd15.safetensors"),
        "SDXL motion module": write_temporal_file(src / "mm_sdxl.safetensors",
                                                  temporal_state_dict(14, widths=(32, 64, 64), max_frames=32)),
        "AnimateDiff v3 motion module": write_temporal_file(
            src / "mm_sd15_v3.safetensors", temporal_state_dict(13, max_frames=32, mid_block=True)),
        "MagicAnimate temporal attention": write_copy(folder / "temporal_attention" / "temporal_attention.ckpt",
                                                      src / "magicanimate_temporal_attention.ckpt"),
        "ControlNet (no config.json)": write_copy(
            folder / "densepose_controlnet" / "diffusion_pytorch_model.safetensors", src / "controlnet.safetensors"),
        "appearance encoder (no config.json)": write_copy(
            folder / "appearance_encoder" / "diffusion_pytorch_model.safetensors", src / "appearance.safetensors"),
    }
    # Truncated files beside a config.json, as in the official folder layout.
    for part in ("appearance_encoder", "densepose_controlnet"):
        dest = src / f"{part}_truncated" / "diffusion_pytorch_model.safetensors"
        write_truncated(folder / part / "diffusion_pytorch_model.safetensors", dest)
        write_copy(folder / part / "config.json", dest.parent / "config.json")
        files[f"truncated {part} (with config.json)"] = dest
    for root in ("magicanimate", "controlnet"):
        target = workflow_files / "models" / root / BAD_DIR
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(src, target_is_directory=True)
    big = synthetic_reference_image(128, 96, seed=3)  # [H=96, W=128]: larger than the 64x64 video
    if not (workflow_files / "input" / BIG_REFERENCE).exists():
        write_png(big, workflow_files / "input" / BIG_REFERENCE)
    return {kind: f"{BAD_DIR}/{path.relative_to(src).as_posix()}" for kind, path in files.items()}


# --- helpers of the cancel / repeat / isolation / cache tests -------------------------------------------------
def webp_frames(path: Path) -> np.ndarray:
    """All frames ``[F, H, W, 3]`` (uint8) of an animated WEBP (lossless here, so exact pixels)."""
    with Image.open(path) as img:
        frames = []
        for i in range(img.n_frames):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB")))
    return np.stack(frames)


def output_frames(server, entry: dict[str, Any]) -> np.ndarray:
    """The frames of the prompt's one WEBP output."""
    files = [f for f in server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1, files
    return webp_frames(files[0])


def cached_nodes(entry: dict[str, Any]) -> set[str]:
    """Node ids ComfyUI took from its execution cache (the ``execution_cached`` status message)."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_cached":
            return {str(n) for n in data.get("nodes", [])}
    return set()


def status_kinds(entry: dict[str, Any]) -> list[str]:
    return [kind for kind, _ in entry.get("status", {}).get("messages", [])]


def downstream(wf: dict[str, Any], node: str) -> set[str]:
    """Ids of the nodes that (transitively) take an input from ``node``."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for node_id, spec in wf.items():
            links = {v[0] for v in spec["inputs"].values() if isinstance(v, list) and len(v) == 2}
            if node_id not in found and links & (found | {node}):
                found.add(node_id)
                changed = True
    return found


def state_prompt(nonce: int) -> dict[str, Any]:
    """The basic workflow's loaders (cached by ComfyUI when the same) feeding the test plugin's state probe."""
    wf = basic_prompt()
    nodes = {k: wf[k] for k in ("1", "10", "12", "14")}
    nodes[STATE_NODE] = {"class_type": "ReliabilityModelState", "inputs": {
        "model": ["1", 0], "appearance_encoder": ["10", 0], "temporal_attention": ["14", 0],
        "control_net": ["12", 0], "nonce": nonce}}
    return nodes


def cached_model_state(server, nonce: int) -> dict[str, Any]:
    """What the state probe reports about the cached models (see ``probe_nodes.ReliabilityModelState``).

    When the loaders were not cached yet (nothing ran before), the probe runs once more on the cached ones."""
    entry = server.run(state_prompt(nonce), timeout=120)
    if not {"1", "10", "12", "14"} <= cached_nodes(entry):
        entry = server.run(state_prompt(nonce + 1), timeout=120)
    assert {"1", "10", "12", "14"} <= cached_nodes(entry), "the loaders were not the cached ones"
    return json.loads(entry["outputs"][STATE_NODE]["reliability_state"][0])


def assert_clean(state: dict[str, Any]) -> None:
    """No patch, injected module, hook, hint or recorded reference state left on the cached models."""
    for part in ("model", "appearance_encoder"):
        attached = {k: v for k, v in state[part].items() if v}
        assert not attached, f"{part} carries {attached}"
    control = {k: v for k, v in state["control_net"].items() if v}
    assert not control, f"the cached ControlNet carries {control}"
    assert state["live_reference_banks"] == 0, "recorded reference states outlived sampling"
