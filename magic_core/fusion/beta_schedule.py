"""The original's noise schedule: diffusers ``linear`` betas 0.00085..0.012, which is ComfyUI's ``sqrt_linear``.

SD1.5 checkpoints load with ComfyUI's ``linear`` (= diffusers ``scaled_linear``) schedule; MagicAnimate's
pipeline used diffusers ``linear``.  :func:`apply_beta_schedule` puts a ``sqrt_linear`` model sampling on a
clone (an object patch, undone when the clone is unloaded), so ComfyUI's ``ddim`` sampler with the
``ddim_uniform`` scheduler walks the original's 25 timesteps 961, 921, ..., 1.
"""
from __future__ import annotations

from types import SimpleNamespace

import comfy.model_sampling
from comfy.model_patcher import ModelPatcher

from ..errors import MagicAnimateError

MAGICANIMATE_BETA = "sqrt_linear (MagicAnimate)"
MODEL_DEFAULT_BETA = "model default"
BETA_SCHEDULES = (MAGICANIMATE_BETA, MODEL_DEFAULT_BETA)
MAGICANIMATE_SAMPLING_SETTINGS = {"beta_schedule": "sqrt_linear", "linear_start": 0.00085, "linear_end": 0.012,
                                  "timesteps": 1000}


def magicanimate_model_sampling(model: ModelPatcher) -> comfy.model_sampling.ModelSamplingDiscrete:
    """A model sampling of the model's own kind (prediction type kept) with the original's beta schedule."""
    current = model.get_model_object("model_sampling")
    if not isinstance(current, comfy.model_sampling.ModelSamplingDiscrete) or isinstance(
            current, comfy.model_sampling.ModelSamplingDiscreteEDM):
        raise MagicAnimateError(f"MagicAnimate fusion: beta_schedule '{MAGICANIMATE_BETA}' needs an SD1.5-style "
                                f"discrete-time model, but this model samples with "
                                f"{type(current).__mro__[1].__name__}; "
                                f"set beta_schedule to '{MODEL_DEFAULT_BETA}'.")
    settings = dict(getattr(model.model.model_config, "sampling_settings", {}) or {})
    settings.update(MAGICANIMATE_SAMPLING_SETTINGS)
    return type(current)(SimpleNamespace(sampling_settings=settings), zsnr=bool(getattr(current, "zsnr", False)))


def set_beta_schedule(patched: ModelPatcher, beta_schedule: str) -> None:
    """Make ``patched`` (a clone the caller owns) sample with ``beta_schedule`` (``model default``: unchanged)."""
    if beta_schedule not in BETA_SCHEDULES:
        raise MagicAnimateError(f"MagicAnimate fusion: beta_schedule '{beta_schedule}' is unknown; choose "
                                f"'{MAGICANIMATE_BETA}' (the original's) or '{MODEL_DEFAULT_BETA}'.")
    if beta_schedule == MAGICANIMATE_BETA:
        patched.add_object_patch("model_sampling", magicanimate_model_sampling(patched))


def apply_beta_schedule(model: ModelPatcher, beta_schedule: str) -> ModelPatcher:
    """A clone of ``model`` sampling with ``beta_schedule`` (``model default`` returns a plain clone)."""
    patched = model.clone()
    set_beta_schedule(patched, beta_schedule)
    return patched
