"""Loading the official DensePose ControlNet layout (diffusers file + config.json), and a real server workflow."""
from __future__ import annotations

import json
import shutil

import comfy.controlnet
import comfy.supported_models
import pytest
import torch
from harness.media import one_webp_output
from harness.object_info import listed_options
from harness.paths import OFFICIAL_TINY, requires_shared
from harness.prompts import ksampler_workflow
from harness.tiny_densepose import TINY_CONTROLNET_CONFIG, write_tiny_densepose_controlnet

from magic_core.densepose.control import FrameControlNet
from magic_core.densepose.loader import load_densepose_controlnet
from magic_core.diffusers_config import controlnet_unet_config

OFFICIAL_DIR = OFFICIAL_TINY / "MagicAnimate" / "densepose_controlnet"
SD15_CONTROLNET_CONFIG = TINY_CONTROLNET_CONFIG | {
    "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 768}


def test_official_layout_residuals_match_diffusers():
    """The file written by the original project's ControlNet class gives diffusers' residuals."""
    diffusers = pytest.importorskip("diffusers")
    folder = requires_shared(OFFICIAL_DIR)
    ours = load_densepose_controlnet(str(folder / "diffusion_pytorch_model.safetensors"))
    assert isinstance(ours, FrameControlNet)
    reference = diffusers.ControlNetModel.from_pretrained(str(folder)).eval()
    gen = torch.Generator().manual_seed(0)
    x, hint = torch.randn(2, 4, 16, 16, generator=gen), torch.rand(2, 3, 128, 128, generator=gen)
    context, t = torch.randn(2, 7, 32, generator=gen), torch.tensor([700.0, 20.0])
    with torch.no_grad():
        down, mid = reference(x, t, encoder_hidden_states=context, controlnet_cond=hint, return_dict=False)
        out = ours.control_model(x=x, hint=hint, timesteps=t, context=context)
    assert len(out["output"]) == len(down) == 12
    for a, b in zip(out["output"] + out["middle"], list(down) + [mid], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_core_loader_cannot_size_the_tiny_official_layout():
    """Why the pack has its own loader: core detects diffusers ControlNets from a fixed list of full-size configs."""
    path = requires_shared(OFFICIAL_DIR) / "diffusion_pytorch_model.safetensors"
    with pytest.raises(TypeError):
        comfy.controlnet.load_controlnet(str(path))


def test_sd15_config_gives_cores_sd15_architecture():
    """For the real (full-size) config.json, our reading equals ComfyUI's own SD1.5 UNet config."""
    ours = controlnet_unet_config(SD15_CONTROLNET_CONFIG)
    core = comfy.supported_models.SD15.unet_config | comfy.supported_models.SD15.unet_extra_config
    assert {k: ours[k] for k in core} == core
    assert ours["channel_mult"] == [1, 2, 4, 4] and ours["transformer_depth"] == [1, 1, 1, 1, 1, 1, 0, 0]
    assert ours["num_res_blocks"] == [2, 2, 2, 2] and ours["transformer_depth_middle"] == 1


def test_generated_tiny_layout_round_trips(tmp_path):
    path = write_tiny_densepose_controlnet(tmp_path / "densepose_controlnet", seed=9)
    loaded = load_densepose_controlnet(str(path))
    import comfy.utils
    written = comfy.utils.load_torch_file(str(path))
    model_sd = loaded.control_model.state_dict()
    assert len(model_sd) == len(written)
    assert torch.equal(model_sd["input_hint_block.0.weight"], written["controlnet_cond_embedding.conv_in.weight"])
    assert torch.equal(model_sd["middle_block_out.0.bias"], written["controlnet_mid_block.bias"])


def test_config_that_does_not_match_the_weights_is_a_clear_error(tmp_path, densepose_controlnet_file):
    folder = tmp_path / "densepose_controlnet"
    folder.mkdir()
    shutil.copy(densepose_controlnet_file, folder / densepose_controlnet_file.name)
    (folder / "config.json").write_text(json.dumps(TINY_CONTROLNET_CONFIG | {"layers_per_block": 1}))
    with pytest.raises(ValueError, match="does not match its config.json.*Download the file"):
        load_densepose_controlnet(str(folder / densepose_controlnet_file.name))
    (folder / "config.json").write_text(json.dumps(TINY_CONTROLNET_CONFIG | {"_class_name": "UNet2DConditionModel"}))
    with pytest.raises(ValueError, match="_class_name is 'UNet2DConditionModel'"):
        load_densepose_controlnet(str(folder / densepose_controlnet_file.name))


def densepose_workflow(controlnet_name: str, frames: int = 12, size: int = 64) -> dict:
    """Synthetic Motion -> Prepare Motion -> Apply DensePose (+ our loader) -> KSampler -> WEBP, 12 frames."""
    wf = ksampler_workflow("densepose", ["11", 1], size=size, positive_text="a person")
    wf["10"] = {"class_type": "MagicAnimateSyntheticMotion", "inputs": {
        "width": 96, "height": 64, "frame_count": frames + 2, "motion": "walk", "seed": 3}}
    wf["11"] = {"class_type": "MagicAnimatePrepareMotion", "inputs": {
        "frames": ["10", 0], "width": size, "height": size, "fit": "pad", "start_frame": 1,
        "frame_count": frames, "every_nth": 1}}
    wf["12"] = {"class_type": "MagicAnimateDensePoseControlNetLoader", "inputs": {"controlnet_name": controlnet_name}}
    wf["13"] = {"class_type": "MagicAnimateApplyDensePose", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["12", 0], "densepose": ["11", 0],
        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    wf["5"]["inputs"].update(positive=["13", 0], negative=["13", 1])
    return wf


def test_server_workflow_synthetic_to_ksampler(server_densepose_controlnet, comfy_server):
    info = comfy_server.object_info()
    listed = listed_options(info, "MagicAnimateDensePoseControlNetLoader", "controlnet_name")
    assert server_densepose_controlnet in listed
    one_webp_output(comfy_server, comfy_server.run(densepose_workflow(server_densepose_controlnet)), 12)


def test_server_reports_a_hint_count_mismatch(server_densepose_controlnet, comfy_server):
    workflow = densepose_workflow(server_densepose_controlnet, frames=4)
    workflow["4"]["inputs"]["batch_size"] = 5
    with pytest.raises(Exception) as err:
        comfy_server.run(workflow)
    assert "4 DensePose frames" in str(err.value) and "5 frames" in str(err.value)
