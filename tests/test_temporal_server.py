"""Temporal attention nodes through a real ComfyUI server: the official-format tiny file, loader + apply + KSampler."""
from __future__ import annotations

import pytest
from harness.media import one_webp_output
from harness.object_info import listed_options
from harness.prompts import ksampler_workflow
from harness.server import ExecutionFailed
from harness.server_files import OFFICIAL_SERVER_FOLDER

FRAMES = 4
TEMPORAL_FILE = f"{OFFICIAL_SERVER_FOLDER}/MagicAnimate/temporal_attention/temporal_attention.ckpt"


def temporal_workflow(model_name: str = TEMPORAL_FILE, frames: int = FRAMES) -> dict:
    wf = ksampler_workflow("temporal", frames)
    wf["10"] = {"class_type": "MagicAnimateTemporalAttentionLoader", "inputs": {"model_name": model_name}}
    wf["11"] = {"class_type": "MagicAnimateApplyTemporalAttention", "inputs": {
        "model": ["1", 0], "temporal_attention": ["10", 0], "strength": 1.0, "cross_frame_norm": True}}
    wf["5"]["inputs"]["model"] = ["11", 0]
    return wf


def test_temporal_nodes_run_in_a_real_server(temporal_files_in_server, comfy_server):
    info = comfy_server.object_info()
    loader = info["MagicAnimateTemporalAttentionLoader"]
    assert TEMPORAL_FILE in listed_options(info, "MagicAnimateTemporalAttentionLoader", "model_name")
    assert loader["output"] == ["MAGICANIMATE_TEMPORAL"]
    apply_inputs = info["MagicAnimateApplyTemporalAttention"]["input"]["required"]
    assert apply_inputs["strength"][1]["default"] == 1.0 and apply_inputs["cross_frame_norm"][1]["default"] is True
    one_webp_output(comfy_server, comfy_server.run(temporal_workflow()), FRAMES)
    assert "temporal attention" in comfy_server.log_text().lower()


def test_too_long_window_error_reaches_the_user(temporal_files_in_server, comfy_server):
    with pytest.raises(ExecutionFailed, match="window of 30 frames is longer than the 24-frame positional encoding"):
        comfy_server.run(temporal_workflow(frames=30))
