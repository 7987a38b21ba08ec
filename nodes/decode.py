"""Decode node: the sampled video's latents to IMAGE frames with bounded memory, batched for the VAE's device."""
from __future__ import annotations

from comfy_api.latest import io, ui

from ..magic_core.decode import decode_frames


class MagicAnimateDecodeFrames(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateDecodeFrames",
            display_name="MagicAnimate Decode Frames",
            category="MagicAnimate",
            description="VAE Decode for long videos: on a CPU one frame at a time (the fastest there, and the "
                        "decode's memory stays that of one frame); on a GPU all frames go to the VAE, which "
                        "splits them by free memory as core's VAE Decode does. Says what it did in its text.",
            inputs=[
                io.Latent.Input("samples", tooltip="The video latent, e.g. from MagicAnimate Fusion Sampler."),
                io.Vae.Input("vae", tooltip="The VAE to decode with (the SD1.5 checkpoint's or a VAE Loader's)."),
                io.Int.Input("frames_per_decode", default=0, min=0, max=4096,
                             tooltip="0 = automatic (1 on a CPU; by free memory on a GPU). Set a number to "
                                     "decode that many frames per VAE call instead."),
            ],
            outputs=[io.Image.Output("images", tooltip="Every frame, in order, as one IMAGE batch.")],
        )

    @classmethod
    def execute(cls, samples: dict, vae, frames_per_decode: int = 0) -> io.NodeOutput:
        images, plan = decode_frames(vae, samples, frames_per_decode)
        return io.NodeOutput(images, ui=ui.PreviewText(plan.describe()))


NODES = [MagicAnimateDecodeFrames]
