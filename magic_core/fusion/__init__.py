"""The fusion sampler: a video of any length denoised in overlapping windows of frames, fused every step.

``windows`` (the window schedules), ``weights`` (how overlaps are averaged, ``FUSE_WEIGHTS``), ``context``
(ComfyUI's context handler running the windows), ``batching`` (several windows in one model call), ``devices``
(a step's windows over MultiGPU clones), ``beta_schedule`` (the original's noise schedule), ``noise`` (the
starting noise), ``sampler`` (the entry point).
"""
from .beta_schedule import BETA_SCHEDULES, MAGICANIMATE_BETA, MODEL_DEFAULT_BETA, apply_beta_schedule
from .noise import NOISE_INDEPENDENT, NOISE_MODES, NOISE_SHARED
from .sampler import fusion_model, fusion_sample
from .weights import FUSE_METHODS
from .windows import SCHEDULES, FusionSettings

__all__ = ["BETA_SCHEDULES", "FUSE_METHODS", "MAGICANIMATE_BETA", "MODEL_DEFAULT_BETA", "NOISE_INDEPENDENT",
           "NOISE_MODES", "NOISE_SHARED", "SCHEDULES", "FusionSettings", "apply_beta_schedule", "fusion_model",
           "fusion_sample"]
