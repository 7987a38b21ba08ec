"""API-format prompts of the server tests: a tiny KSampler graph, the shipped workflows test-sized, and
what is derived from a graph (the nodes downstream of one)."""
from __future__ import annotations

import json
from typing import Any

from .paths import API_WORKFLOWS
from .server_files import TINY_CHECKPOINT

# Node ids of the shipped basic workflow.
LOADER_NODES = {"temporal": ("14", "model_name"), "appearance": ("10", "encoder_name"),
                "controlnet": ("12", "controlnet_name")}


def ksampler_workflow(prefix: str, batch_size: int | list[Any], size: int = 64, steps: int = 2,
                      positive_text: str = "a person dancing", fps: float = 8.0) -> dict:
    """Tiny checkpoint -> prompts -> empty latent -> KSampler -> VAEDecode -> animated WEBP.

    Node ids: 1 checkpoint, 2 positive, 3 negative, 4 latent, 5 KSampler, 6 decode, 7 save. Tests add their own
    nodes with ids from 10 on and re-link the KSampler's ``model``/``positive``/``negative`` inputs to them.
    """
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": TINY_CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": positive_text, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": size, "height": size, "batch_size": batch_size}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": 1, "steps": steps, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveAnimatedWEBP", "inputs": {
            "images": ["6", 0], "filename_prefix": prefix, "fps": fps, "lossless": False, "quality": 80,
            "method": "default"}},
    }


def load_workflow(name: str) -> dict:
    """``workflows/api/<name>`` (an API-format workflow) as shipped."""
    return json.loads((API_WORKFLOWS / name).read_text())


def small(workflow: dict, size: int = 64, steps: int = 3, context: int = 8, overlap: int = 2) -> dict:
    """The same graph with test-sized settings (size, steps, windows); nothing else changes."""
    wf = json.loads(json.dumps(workflow))
    for node in wf.values():
        inputs, kind = node["inputs"], node["class_type"]
        for key in ("width", "height"):
            if key in inputs and not isinstance(inputs[key], list):
                inputs[key] = size
        if kind == "MagicAnimateFusionSampler":
            inputs.update(steps=steps, context_frames=context, context_overlap=overlap)
    return wf


def basic_prompt(frames: int = 8, steps: int = 2, size: int = 64, prefix: str = "reliability") -> dict[str, Any]:
    """The shipped basic workflow, test-sized: ``frames`` DensePose frames, ``steps`` steps, one window."""
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
