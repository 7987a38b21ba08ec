"""Appearance encoder nodes: load MagicAnimate's appearance encoder, apply it (reference attention) to a MODEL."""
from __future__ import annotations

import torch
from comfy.model_patcher import ModelPatcher
from comfy.sd import VAE
from comfy_api.latest import io

from ..magic_core.appearance import (
    FUSION_BLOCKS,
    REFERENCE_FITS,
    AppearanceEncoder,
    apply_appearance_encoder,
    load_appearance_encoder,
)
from ..magic_core.input_ranges import APPEARANCE_STRENGTH_MAX, percent_range_problem
from ..magic_core.model_kinds import APPEARANCE
from ..magic_core.model_paths import model_file_names_of_kind, model_file_path
from ..magic_core.notices import NoticeBoard
from .notice_output import notice_output

AppearanceEncoderType = io.Custom("MAGICANIMATE_APPEARANCE")


class MagicAnimateAppearanceEncoderLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateAppearanceEncoderLoader",
            display_name="Load MagicAnimate Appearance Encoder",
            category="MagicAnimate",
            description="Loads MagicAnimate's appearance encoder (the reference-image UNet) from models/magicanimate.",
            inputs=[
                io.Combo.Input("encoder_name", options=model_file_names_of_kind(APPEARANCE),
                               tooltip="MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors (its "
                                       "config.json must be beside it), or a single-file ComfyUI-format UNet."),
            ],
            outputs=[AppearanceEncoderType.Output("appearance_encoder", tooltip="The loaded appearance encoder.")],
        )

    @classmethod
    def execute(cls, encoder_name: str) -> io.NodeOutput:
        board = NoticeBoard()
        return notice_output(load_appearance_encoder(model_file_path(encoder_name), notices=board), board=board)


class MagicAnimateApplyAppearanceEncoder(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateApplyAppearanceEncoder",
            display_name="Apply MagicAnimate Appearance Encoder",
            category="MagicAnimate",
            description="Makes the model's self-attention also attend to the reference image's appearance "
                        "(MagicAnimate reference attention), on the conditional prediction, every frame.",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 model (e.g. from the checkpoint loader)."),
                AppearanceEncoderType.Input("appearance_encoder",
                                            tooltip="From Load MagicAnimate Appearance Encoder."),
                io.Vae.Input("vae", tooltip="Encodes the reference image (the original uses sd-vae-ft-mse)."),
                io.Image.Input("reference_image",
                               tooltip="The person to animate. Fitted to the video's aspect ratio (reference_fit) "
                                       "and resized to its size; only the first image of a batch is used."),
                io.Float.Input("strength", default=1.0, min=0.0, max=APPEARANCE_STRENGTH_MAX, step=0.05,
                               tooltip="1.0 = the original MagicAnimate, 0 = off; in between, the reference tokens "
                                       "are blended towards each frame's own tokens."),
                io.Combo.Input("fusion_blocks", options=list(FUSION_BLOCKS), default="midup",
                               tooltip="midup: mid and up blocks (the original); full: also the down blocks."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Sampling progress at which reference attention starts (0 = first step)."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Sampling progress at which reference attention stops (1 = last step)."),
                # Optional so that saved workflows from before this input load and get the original's crop.
                io.Combo.Input("reference_fit", options=list(REFERENCE_FITS), default="crop", optional=True,
                               tooltip="crop: centre-crop the reference to the video's aspect ratio (the "
                                       "original); pad: keep all of it, padded with its own edge pixels (better "
                                       "for a portrait photo with a landscape video)."),
            ],
            outputs=[io.Model.Output("patched_model", display_name="model",
                                     tooltip="The model with reference attention (a patched copy).")],
        )

    @classmethod
    def validate_inputs(cls, start_percent: float | None = None, end_percent: float | None = None) -> bool | str:
        return percent_range_problem(start_percent, end_percent) or True

    @classmethod
    def execute(cls, model: ModelPatcher, appearance_encoder: AppearanceEncoder, vae: VAE,
                reference_image: torch.Tensor, strength: float, fusion_blocks: str, start_percent: float,
                end_percent: float, reference_fit: str = "crop") -> io.NodeOutput:
        board = NoticeBoard()
        return notice_output(apply_appearance_encoder(
            model=model, encoder=appearance_encoder, vae=vae, reference_image=reference_image, strength=strength,
            fusion_blocks=fusion_blocks, start_percent=start_percent, end_percent=end_percent,
            reference_fit=reference_fit, notices=board), board=board)


NODES = [MagicAnimateAppearanceEncoderLoader, MagicAnimateApplyAppearanceEncoder]
