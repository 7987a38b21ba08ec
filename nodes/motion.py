"""Motion input nodes: size/select DensePose frames, and synthetic DensePose renderings."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..magic_core.motion import COLORMAPS, FIT_MODES, MOTIONS, output_fps, prepare_motion, render_synthetic_motion
from ..magic_core.notices import NoticeBoard
from .notice_output import notice_output

MAX_SIZE = 8192


class MagicAnimatePrepareMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimatePrepareMotion",
            display_name="Prepare MagicAnimate Motion",
            category="MagicAnimate",
            description="Selects and sizes DensePose frames so the ControlNet hints and the latent video agree.",
            inputs=[
                io.Image.Input("frames", tooltip="DensePose frames (e.g. LoadVideo -> GetVideoComponents, or a "
                                                 "DensePose Estimator with the Viridis (MagicAnimate) colormap)."),
                io.Int.Input("width", default=512, min=8, max=MAX_SIZE, step=8,
                             tooltip="Output width in pixels (a multiple of 8); use the same for the latent."),
                io.Int.Input("height", default=512, min=8, max=MAX_SIZE, step=8,
                             tooltip="Output height in pixels (a multiple of 8); use the same for the latent."),
                io.Combo.Input("fit", options=list(FIT_MODES), default="crop",
                               tooltip="crop: fill and centre-crop; pad: fit inside, pad with the DensePose "
                                       "background colour; stretch: ignore the aspect ratio."),
                io.Int.Input("start_frame", default=0, min=0, max=1_000_000,
                             tooltip="First input frame to use (0-based)."),
                io.Int.Input("frame_count", default=0, min=0, max=1_000_000,
                             tooltip="How many frames to output; 0 = all remaining frames."),
                io.Int.Input("every_nth", default=1, min=1, max=1000,
                             tooltip="Take every n-th frame (2 halves the frame rate)."),
                # Optional so that saved workflows from before this input still load.
                io.Float.Input("fps", default=25.0, min=0.01, max=1000.0, step=0.01, optional=True,
                               tooltip="The input video's frame rate: wire GetVideoComponents' fps here. The fps "
                                       "output (this / every_nth) is the rate to save the result at."),
                io.Combo.Input("colormap", options=list(COLORMAPS), default="viridis", optional=True,
                               tooltip="viridis: MagicAnimate's DensePose colours (the frames as they are); "
                                       "parula→viridis: convert Parula (CivitAI-style, black background) "
                                       "DensePose to MagicAnimate's colours via the part index."),
            ],
            outputs=[
                io.Image.Output("prepared_frames", display_name="frames", tooltip="The sized DensePose frames."),
                io.Int.Output("prepared_frame_count", display_name="frame_count",
                              tooltip="Number of output frames: use it as the latent batch size."),
                io.Float.Output("prepared_fps", display_name="fps",
                                tooltip="The output frames' rate (fps / every_nth): wire it to CreateVideo and "
                                        "SaveAnimatedWEBP so the motion plays at its real speed."),
            ],
        )

    @classmethod
    def execute(cls, frames: torch.Tensor, width: int, height: int, fit: str, start_frame: int, frame_count: int,
                every_nth: int, fps: float = 25.0, colormap: str = "viridis") -> io.NodeOutput:
        board = NoticeBoard()
        out = prepare_motion(frames=frames, width=width, height=height, fit=fit, start_frame=start_frame,
                             frame_count=frame_count, every_nth=every_nth, colormap=colormap, notices=board)
        return notice_output(out, out.shape[0], output_fps(fps, every_nth), board=board)


class MagicAnimateSyntheticMotion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateSyntheticMotion",
            display_name="MagicAnimate Synthetic Motion",
            category="MagicAnimate",
            description="DensePose-style renderings of a simple moving figure, for trying the pack without a video.",
            inputs=[
                io.Int.Input("width", default=512, min=8, max=MAX_SIZE, step=8, tooltip="Frame width in pixels."),
                io.Int.Input("height", default=512, min=8, max=MAX_SIZE, step=8, tooltip="Frame height in pixels."),
                io.Int.Input("frame_count", default=16, min=1, max=10_000, tooltip="Number of frames to render."),
                io.Combo.Input("motion", options=list(MOTIONS), default="walk",
                               tooltip="walk: legs and arms swing; wave: one arm waves; turn: the body turns."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1,
                             tooltip="Varies the figure's proportions, position and tempo."),
            ],
            outputs=[io.Image.Output("frames", tooltip="DensePose frames (viridis part colours).")],
        )

    @classmethod
    def execute(cls, width: int, height: int, frame_count: int, motion: str, seed: int) -> io.NodeOutput:
        return io.NodeOutput(render_synthetic_motion(width=width, height=height, frame_count=frame_count,
                                                     motion=motion, seed=seed))


NODES = [MagicAnimatePrepareMotion, MagicAnimateSyntheticMotion]
