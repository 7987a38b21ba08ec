"""The fusion sampler node: MagicAnimate's sliding-window video sampling for videos of any length."""
from __future__ import annotations

import comfy.samplers
from comfy.model_patcher import ModelPatcher
from comfy_api.latest import io

from ..magic_core.comfy_compat import expert_input, has_multigpu
from ..magic_core.error_release import release_clones_on_error
from ..magic_core.fusion import (
    BETA_SCHEDULES,
    FUSE_METHODS,
    MAGICANIMATE_BETA,
    NOISE_MODES,
    NOISE_SHARED,
    SCHEDULES,
    FusionSettings,
    fusion_sample,
)
from ..magic_core.notices import NoticeBoard
from .notice_output import notice_output

MAX_FRAMES = 4096
MAX_WINDOW_BATCH = 64
MULTIGPU_TOOLTIP = ("With ComfyUI's MultiGPU clones on the model (core MultiGPU CFG Split / MultiGPU_WorkUnits, "
                    "ComfyUI 0.22+), on: each step's windows are split into contiguous slices, one per GPU, run in "
                    "parallel; off: everything runs on the model's own GPU.")
MULTIGPU_TOOLTIP += "" if has_multigpu() else " This ComfyUI has no MultiGPU support: the input does nothing here."
EXPERT = expert_input()  # folded under the node's advanced inputs where ComfyUI can (0.33), shown as before on 0.3.75


class MagicAnimateFusionSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="MagicAnimateFusionSampler",
            display_name="MagicAnimate Fusion Sampler",
            category="MagicAnimate",
            description="Samples a video latent (frames = batch) in overlapping windows of context_frames and fuses "
                        "the windows' predictions every step, as MagicAnimate does, so videos of any length fit in "
                        "the memory of one window.",
            inputs=[
                io.Model.Input("model", tooltip="The (MagicAnimate-patched) SD1.5 model used for denoising."),
                io.Conditioning.Input("positive", tooltip="Positive conditioning (the original uses an empty "
                                                          "prompt)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning (the original uses an empty "
                                                          "prompt)."),
                io.Latent.Input("latent_image", tooltip="The video latent: one batch entry per frame (e.g. "
                                                        "EmptyLatentImage with batch_size = frame count)."),
                io.Int.Input("seed", default=1, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="The random seed used for creating the noise (1, as the original's demo)."),
                io.Int.Input("steps", default=25, min=1, max=10000,
                             tooltip="Denoising steps (25 in the original)."),
                io.Float.Input("cfg", default=7.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale (7.5 in the original)."),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="ddim",
                               tooltip="Sampling algorithm; ddim is the original's."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="ddim_uniform",
                               tooltip="Noise schedule spacing; ddim_uniform gives the original's timesteps "
                                       "961, 921, ..., 1 for 25 steps."),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="1.0 samples from pure noise; lower keeps more of latent_image "
                                       "(video-to-video)."),
                io.Int.Input("context_frames", default=16, min=1, max=MAX_FRAMES,
                             tooltip="Frames per window (16 in the original; MagicAnimate's temporal "
                                     "attention supports at most 24). Videos this short or shorter run as one "
                                     "window."),
                io.Int.Input("context_overlap", default=4, min=0, max=MAX_FRAMES - 1,
                             tooltip="Frames shared by neighbouring windows (4 in the original); must be "
                                     "smaller than context_frames. More overlap: smoother, slower."),
                io.Int.Input("context_stride", **EXPERT, default=1, min=1, max=16,
                             tooltip="1 = the original. Higher adds passes of dilated windows (every 2nd, "
                                     "4th, ... frame) for long-range consistency; capped by the video length."),
                io.Boolean.Input("closed_loop", **EXPERT, default=True,
                                 tooltip="On (the original): windows continue past the last frame and wrap "
                                         "around to the first, good for looping motion. Off: one window fewer "
                                         "where the overlap allows (uniform schedules only)."),
                io.Combo.Input("schedule", **EXPERT, options=list(SCHEDULES), default="uniform",
                               tooltip="uniform: the original's windows, the same every step. "
                                       "uniform_shifting: the windows shift every step (hides seams). "
                                       "static: tile the video without wrap-around."),
                io.Combo.Input("fuse_method", **EXPERT, options=list(FUSE_METHODS), default="flat",
                               tooltip="How overlapping windows are averaged per frame. flat: plain average "
                                       "(the original); pyramid / gaussian: window centres count more; "
                                       "overlap_linear: linear cross-fade over the overlap."),
                io.Combo.Input("beta_schedule", **EXPERT, options=list(BETA_SCHEDULES), default=MAGICANIMATE_BETA,
                               tooltip="sqrt_linear (MagicAnimate): the original's noise schedule (diffusers "
                                       "'linear' 0.00085-0.012). model default: the checkpoint's own schedule."),
                # Optional so that saved workflows from before this input load and get the original's noise.
                io.Combo.Input("noise", **EXPERT, options=list(NOISE_MODES), default=NOISE_SHARED, optional=True,
                               tooltip="shared (MagicAnimate): every window starts from the same noise, frame i "
                                       "from that of frame i mod context_frames, as the original does (the "
                                       "paper: FID 32.08 against 32.74 independent). independent: each frame "
                                       "its own noise, as KSampler draws it."),
                io.Int.Input("window_batch", **EXPERT, default=1, min=1, max=MAX_WINDOW_BATCH, optional=True,
                             tooltip="Windows per model call (1 = one window at a time, the original's memory). "
                                     "Higher runs up to this many windows in one batch: faster on a large GPU, "
                                     "memory grows with it (about window_batch x one window's activations). "
                                     "Same result."),
                io.Boolean.Input("multigpu", **EXPERT, default=True, optional=True, tooltip=MULTIGPU_TOOLTIP),
            ],
            outputs=[io.Latent.Output("fused_latent", display_name="LATENT",
                                      tooltip="The denoised video latent, one batch entry per frame.")],
        )

    @classmethod
    def execute(cls, model: ModelPatcher, positive: list, negative: list, latent_image: dict, seed: int, steps: int,
                cfg: float, sampler_name: str, scheduler: str, denoise: float, context_frames: int,
                context_overlap: int, context_stride: int, closed_loop: bool, schedule: str, fuse_method: str,
                beta_schedule: str, noise: str = NOISE_SHARED, window_batch: int = 1,
                multigpu: bool = True) -> io.NodeOutput:
        settings = FusionSettings(context_frames=context_frames, context_overlap=context_overlap,
                                  context_stride=context_stride, closed_loop=closed_loop, schedule=schedule,
                                  fuse_method=fuse_method, window_batch=window_batch, multigpu=multigpu)
        board = NoticeBoard()
        with release_clones_on_error():
            return notice_output(fusion_sample(model, positive, negative, latent_image, seed=seed, steps=steps,
                                               cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                                               denoise=denoise, settings=settings, beta_schedule=beta_schedule,
                                               noise=noise, notices=board), board=board)


NODES = [MagicAnimateFusionSampler]
