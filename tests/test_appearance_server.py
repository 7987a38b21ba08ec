"""Through a real ComfyUI server: the official-format tiny encoder + a reference image + KSampler make frames."""
from __future__ import annotations

import pytest
from harness.media import one_webp_output
from harness.object_info import listed_options
from harness.prompts import ksampler_workflow
from harness.server import ExecutionFailed
from harness.server_files import REFERENCE_PNG, SERVER_ENCODER_FILE

FRAMES = 3


def appearance_workflow(encoder_name: str, reference: str = REFERENCE_PNG) -> dict:
    wf = ksampler_workflow("appearance", FRAMES, positive_text="")
    wf["10"] = {"class_type": "MagicAnimateAppearanceEncoderLoader", "inputs": {"encoder_name": encoder_name}}
    wf["11"] = {"class_type": "LoadImage", "inputs": {"image": reference}}
    wf["12"] = {"class_type": "MagicAnimateApplyAppearanceEncoder", "inputs": {
        "model": ["1", 0], "appearance_encoder": ["10", 0], "vae": ["1", 2], "reference_image": ["11", 0],
        "strength": 1.0, "fusion_blocks": "midup", "start_percent": 0.0, "end_percent": 1.0}}
    wf["5"]["inputs"]["model"] = ["12", 0]
    return wf


def test_appearance_workflow_through_server(appearance_server_files, comfy_server):
    info = comfy_server.object_info()
    options = listed_options(info, "MagicAnimateAppearanceEncoderLoader", "encoder_name")
    assert SERVER_ENCODER_FILE in options
    one_webp_output(comfy_server, comfy_server.run(appearance_workflow(SERVER_ENCODER_FILE)), FRAMES)


def test_non_unet_file_gives_clear_error_through_server(server_base, appearance_server_files, comfy_server):
    bad = server_base / "models" / "magicanimate" / "not_a_unet.safetensors"
    if not bad.exists():
        import torch
        from safetensors.torch import save_file
        save_file({"encoder.layer.weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ExecutionFailed, match="'not_a_unet.safetensors' is not a UNet checkpoint"):
        comfy_server.run(appearance_workflow("not_a_unet.safetensors"))
