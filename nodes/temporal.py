"""Temporal attention nodes: load MagicAnimate's temporal_attention.ckpt, patch it into an SD1.5 MODEL."""
from __future__ import annotations

from comfy.model_patcher import ModelPatcher
from comfy_api.latest import io

from ..magic_core.model_kinds import TEMPORAL
from ..magic_core.model_paths import model_file_names_of_kind, model_file_path
from ..magic_core.notices import NoticeBoard
from ..magic_core.temporal import TemporalWeights, apply_temporal_attention, load_temporal_file
from .notice_output import notice_output

TemporalAttention = io.Custom("MAGICANIMATE_TEMPORAL")


class MagicAnimateTemporalAttentionLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateTemporalAttentionLoader",
            display_name="Load MagicAnimate Temporal Attention",
            category="MagicAnimate",
            description="Loads MagicAnimate's temporal attention (or an AnimateDiff SD1.5 motion module) and "
                        "checks every key and shape. Only the motion modules are read: the release's file also "
                        "holds a whole spatial UNet, which your checkpoint's UNet replaces.",
            inputs=[
                io.Combo.Input("model_name", options=model_file_names_of_kind(TEMPORAL),
                               tooltip="File in models/magicanimate, normally "
                                       "MagicAnimate/temporal_attention/temporal_attention.ckpt (AnimateDiff "
                                       "SD1.5 motion modules v1/v2/v3 work too)."),
            ],
            outputs=[TemporalAttention.Output("temporal_attention",
                                              tooltip="The temporal modules; connect to Apply MagicAnimate "
                                                      "Temporal Attention.")],
        )

    @classmethod
    def execute(cls, model_name: str) -> io.NodeOutput:
        board = NoticeBoard()
        return notice_output(load_temporal_file(model_file_path(model_name), notices=board), board=board)


class MagicAnimateApplyTemporalAttention(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateApplyTemporalAttention",
            display_name="Apply MagicAnimate Temporal Attention",
            category="MagicAnimate",
            description="Returns a copy of the SD1.5 model whose frames (the latent batch) attend to each other.",
            inputs=[
                io.Model.Input("model", tooltip="An SD1.5 model (e.g. from Load Checkpoint); it is not modified."),
                TemporalAttention.Input("temporal_attention",
                                        tooltip="From Load MagicAnimate Temporal Attention."),
                io.Float.Input("strength", default=1.0, min=0.0, max=2.0, step=0.01,
                               tooltip="Scales the temporal modules' contribution; 1 = the original, 0 = the "
                                       "image model (no temporal modules, no cross-frame norm)."),
                io.Boolean.Input("cross_frame_norm", default=True,
                                 tooltip="On (the original): the UNet's ResBlock and output GroupNorms use "
                                         "statistics over all frames of a window. Off: each frame separately."),
            ],
            outputs=[io.Model.Output("temporal_model", display_name="model",
                                     tooltip="The model with temporal attention: sample the frames as one batch.")],
        )

    @classmethod
    def execute(cls, model: ModelPatcher, temporal_attention: TemporalWeights, strength: float,
                cross_frame_norm: bool) -> io.NodeOutput:
        return io.NodeOutput(apply_temporal_attention(model=model, weights=temporal_attention, strength=strength,
                                                      cross_frame_norm=cross_frame_norm))


NODES = [MagicAnimateTemporalAttentionLoader, MagicAnimateApplyTemporalAttention]
