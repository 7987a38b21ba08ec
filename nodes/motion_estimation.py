"""From a user's own video to MagicAnimate motion: DensePose loader and estimator, smoothing, alignment."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..magic_core.model_paths import DENSEPOSE_FOLDER, model_file_names, model_file_path
from ..magic_core.motion import (
    ALIGN_MODES,
    OUTPUT_SIZES,
    PERSON_MODES,
    DensePoseModel,
    align_motion,
    estimate_densepose,
    load_densepose_model,
    smooth_motion,
)
from ..magic_core.notices import NoticeBoard
from .notice_output import notice_output

DensePoseEstimatorModel = io.Custom("MAGICANIMATE_DENSEPOSE_MODEL")


class MagicAnimateDensePoseLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateDensePoseLoader",
            display_name="Load MagicAnimate DensePose Model",
            category="MagicAnimate",
            description="Loads a DensePose TorchScript model (densepose_r50_fpn_dl.torchscript or "
                        "densepose_r101_fpn_dl.torchscript) safely: TorchScript archives only, never a pickle.",
            inputs=[
                io.Combo.Input("model_name", options=model_file_names((DENSEPOSE_FOLDER,)),
                               tooltip="A .torchscript file in models/magicanimate/densepose/ (or where an "
                                       "extra_model_paths.yaml entry magicanimate_densepose points), e.g. "
                                       "densepose_r50_fpn_dl.torchscript."),
            ],
            outputs=[DensePoseEstimatorModel.Output("densepose_model",
                                                    tooltip="Connect to MagicAnimate DensePose Estimator.")],
        )

    @classmethod
    def execute(cls, model_name: str) -> io.NodeOutput:
        return io.NodeOutput(load_densepose_model(model_file_path(model_name, (DENSEPOSE_FOLDER,))))


class MagicAnimateDensePoseEstimator(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateDensePoseEstimator",
            display_name="MagicAnimate DensePose Estimator",
            category="MagicAnimate",
            description="DensePose of every frame, rendered as MagicAnimate was trained on it (viridis part "
                        "colours on RGB 68, 1, 84), at the input's size.",
            inputs=[
                DensePoseEstimatorModel.Input("densepose_model", tooltip="From Load MagicAnimate DensePose Model."),
                io.Image.Input("images", tooltip="Video frames (LoadVideo -> GetVideoComponents) or a photo; "
                                                 "person picks who is rendered."),
                io.Int.Input("resolution", default=512, min=64, max=4096, step=64,
                             tooltip="Detection resolution: the frame's shorter side is scaled to this for the "
                                     "model (512 = the usual; higher finds smaller people, slower)."),
                # Optional, with today's behaviour as defaults, so saved workflows keep working.
                io.Combo.Input("output_size", options=list(OUTPUT_SIZES), default="input", optional=True,
                               tooltip="input: DensePose at the input's size (nearest resize back, exact colours); "
                                       "detection: at the detection size (shorter side = resolution), as "
                                       "comfyui_controlnet_aux outputs it."),
                io.Combo.Input("person", options=list(PERSON_MODES), default="all", optional=True,
                               tooltip="Who drives: all: every person found; largest / leftmost: one person, picked "
                                       "in the first frame with someone and followed by box overlap; by mask: the "
                                       "people whose box lies mostly inside the mask. Frames where the chosen "
                                       "person is lost are named in a warning."),
                io.Mask.Input("mask", optional=True,
                              tooltip="For person = by mask: a MASK of the person who drives (SAM, background "
                                      "removal, or painted), one frame (picks in the first frame, then follows) "
                                      "or one per frame."),
            ],
            outputs=[io.Image.Output("densepose", tooltip="DensePose frames, same count as the input (its size, "
                                                          "or the detection size with output_size = detection).")],
        )

    @classmethod
    def execute(cls, densepose_model: DensePoseModel, images: torch.Tensor, resolution: int,
                output_size: str = "input", person: str = "all", mask: torch.Tensor | None = None) -> io.NodeOutput:
        board = NoticeBoard()
        out = estimate_densepose(densepose_model, images, resolution=resolution, notices=board,
                                 output_size=output_size, person=person, mask=mask)
        return notice_output(out, board=board)


class MagicAnimateSmoothMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateSmoothMotion",
            display_name="MagicAnimate Smooth Motion",
            category="MagicAnimate",
            description="Removes DensePose jitter: per pixel, the most frequent body part over a centred window "
                        "of frames; colours stay exact DensePose colours.",
            inputs=[
                io.Image.Input("motion", tooltip="DensePose frames (e.g. from MagicAnimate DensePose Estimator)."),
                io.Int.Input("window", default=3, min=1, max=31, step=2,
                             tooltip="Frames per majority vote, odd (1 = off; 3 removes single-frame flips; "
                                     "larger also removes longer flicker but lags fast motion)."),
            ],
            outputs=[io.Image.Output("smoothed_motion", display_name="motion",
                                     tooltip="The smoothed DensePose frames.")],
        )

    @classmethod
    def execute(cls, motion: torch.Tensor, window: int) -> io.NodeOutput:
        board = NoticeBoard()
        return notice_output(smooth_motion(motion, window=window, notices=board), board=board)


class MagicAnimateAlignMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateAlignMotion",
            display_name="MagicAnimate Align Motion",
            category="MagicAnimate",
            description="Moves and scales the driver's DensePose (one transform for the whole video) so that "
                        "its body lands on the reference person's, or retargets it part by part to the reference's "
                        "body proportions; the output has the reference's size.",
            inputs=[
                io.Image.Input("motion", tooltip="The driver's DensePose frames."),
                io.Image.Input("reference_densepose",
                               tooltip="MagicAnimate DensePose Estimator's output on the reference photo."),
                io.Combo.Input("mode", options=list(ALIGN_MODES), default="scale_and_position",
                               tooltip="scale_and_position: match the body height and put the feet's centre on "
                                       "the reference's; position: move only; off: the motion unchanged; "
                                       "retarget: redraw each body part with the reference's lengths and widths "
                                       "(the driver's joint angles kept), feet on the reference's (needs a "
                                       "reference showing the body head to feet, else scale_and_position)."),
            ],
            outputs=[io.Image.Output("aligned_motion", display_name="motion",
                                     tooltip="The aligned DensePose frames (the reference's size).")],
        )

    @classmethod
    def execute(cls, motion: torch.Tensor, reference_densepose: torch.Tensor, mode: str) -> io.NodeOutput:
        board = NoticeBoard()
        return notice_output(align_motion(motion, reference_densepose, mode=mode, notices=board), board=board)


NODES = [MagicAnimateDensePoseLoader, MagicAnimateDensePoseEstimator, MagicAnimateSmoothMotion,
         MagicAnimateAlignMotion]
