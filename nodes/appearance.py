"""Appearance encoder nodes: load MagicAnimate's appearance encoder, apply it (reference attention) to a MODEL."""
from __future__ import annotations

import folder_paths
from comfy_api.latest import io

from ..magic_core.appearance import FUSION_BLOCKS, apply_appearance_encoder, load_appearance_encoder
from ..magic_core.model_paths import MODEL_FOLDER, model_file_path

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
                io.Combo.Input("encoder_name", options=folder_paths.get_filename_list(MODEL_FOLDER),
                               tooltip="MagicAnimate/appearance_encoder/diffusion_pytorch_model.safetensors (its "
                                       "config.json must be beside it), or a single-file ComfyUI-format UNet."),
            ],
            outputs=[AppearanceEncoderType.Output("appearance_encoder", tooltip="The loaded appearance encoder.")],
        )

    @classmethod
    def execute(cls, encoder_name) -> io.NodeOutput:
        return io.NodeOutput(load_appearance_encoder(model_file_path(encoder_name)))


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
                               tooltip="The person to animate. Centre-cropped to the video's aspect ratio and "
                                       "resized to its size; only the first image of a batch is used."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.05,
                               tooltip="1.0 = the original MagicAnimate, 0 = off; in between, the reference tokens "
                                       "are blended towards each frame's own tokens."),
                io.Combo.Input("fusion_blocks", options=list(FUSION_BLOCKS), default="midup",
                               tooltip="midup: mid and up blocks (the original); full: also the down blocks."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Sampling progress at which reference attention starts (0 = first step)."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Sampling progress at which reference attention stops (1 = last step)."),
            ],
            outputs=[io.Model.Output("patched_model", display_name="model",
                                     tooltip="The model with reference attention (a patched copy).")],
        )

    @classmethod
    def execute(cls, model, appearance_encoder, vae, reference_image, strength, fusion_blocks, start_percent,
                end_percent) -> io.NodeOutput:
        return io.NodeOutput(apply_appearance_encoder(model, appearance_encoder, vae, reference_image, strength,
                                                      fusion_blocks, start_percent, end_percent))


NODES = [MagicAnimateAppearanceEncoderLoader, MagicAnimateApplyAppearanceEncoder]
