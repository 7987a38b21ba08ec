"""DensePose ControlNet nodes: a loader for the official diffusers layout, and the frame-following apply node."""
from __future__ import annotations

import torch
from comfy.controlnet import ControlBase
from comfy_api.latest import io

from ..magic_core.densepose import apply_densepose, load_densepose_controlnet
from ..magic_core.input_ranges import percent_range_problem
from ..magic_core.model_paths import CONTROLNET_FOLDER, MODEL_FOLDER, model_file_names, model_file_path

CONTROLNET_FOLDERS = (MODEL_FOLDER, CONTROLNET_FOLDER)


class MagicAnimateDensePoseControlNetLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateDensePoseControlNetLoader",
            display_name="Load MagicAnimate DensePose ControlNet",
            category="MagicAnimate",
            description="Loads MagicAnimate's densepose_controlnet (diffusers file + config.json) at any size.",
            inputs=[
                io.Combo.Input("controlnet_name",
                               options=model_file_names(CONTROLNET_FOLDERS, path_contains="controlnet"),
                               tooltip="MagicAnimate/densepose_controlnet/diffusion_pytorch_model.safetensors "
                                       "(keep config.json beside it), from models/magicanimate or models/controlnet."),
            ],
            outputs=[io.ControlNet.Output("densepose_control_net", display_name="control_net",
                                          tooltip="The DensePose ControlNet; connect it to Apply MagicAnimate "
                                                  "DensePose ControlNet.")],
        )

    @classmethod
    def execute(cls, controlnet_name: str) -> io.NodeOutput:
        return io.NodeOutput(load_densepose_controlnet(model_file_path(controlnet_name, CONTROLNET_FOLDERS)))


class MagicAnimateApplyDensePose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateApplyDensePose",
            display_name="Apply MagicAnimate DensePose ControlNet",
            category="MagicAnimate",
            description="ControlNet conditioning in which DensePose frame i always drives video frame i, also "
                        "inside sliding windows. Residuals use the positive text once per frame per step and are "
                        "reused for the negative, as in the original MagicAnimate.",
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning (chains with other ControlNets)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (chains with other ControlNets)."),
                io.ControlNet.Input("control_net", tooltip="The DensePose ControlNet (ControlNetLoader, or Load "
                                                           "MagicAnimate DensePose ControlNet)."),
                io.Image.Input("densepose", tooltip="DensePose frames, one per video frame (Prepare MagicAnimate "
                                                    "Motion), or a single frame for every frame."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="ControlNet strength (the original uses 1.0)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of sampling at which the ControlNet starts acting."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of sampling at which the ControlNet stops acting."),
            ],
            outputs=[
                io.Conditioning.Output("positive_out", display_name="positive", tooltip="Positive with the control."),
                io.Conditioning.Output("negative_out", display_name="negative", tooltip="Negative with the control."),
            ],
        )

    @classmethod
    def validate_inputs(cls, start_percent: float | None = None, end_percent: float | None = None) -> bool | str:
        return percent_range_problem(start_percent, end_percent) or True

    @classmethod
    def execute(cls, positive: list, negative: list, control_net: ControlBase, densepose: torch.Tensor,
                strength: float, start_percent: float, end_percent: float) -> io.NodeOutput:
        return io.NodeOutput(*apply_densepose(positive=positive, negative=negative, control_net=control_net,
                                              densepose=densepose, strength=strength, start_percent=start_percent,
                                              end_percent=end_percent))


NODES = [MagicAnimateDensePoseControlNetLoader, MagicAnimateApplyDensePose]
