"""A fusion run that fails mid-sampling leaves ComfyUI's model management as clean as a good run does.

ComfyUI's executor keeps a failed node's traceback in a frame <-> traceback reference cycle; when the cyclic
garbage collector then frees the run's patcher clones in one batch, ComfyUI loses track of which patcher owns a
loaded model and logs "WARNING, memory leak with model ..." from then on (seen on 0.33.0 after every error).
The fusion sampler node releases its clones on error (``magic_core.error_release``); the control case shows
that without it the entries do go dead, so the test can fail.

An entry goes dead when its patcher is freed and so is that patcher's parent (ComfyUI then switches the entry to
the parent's parent only while the parent lives).  ``fusion_model`` makes one clone of the model it is given, so
a model held by the caller keeps the entry alive; both tests therefore pass a clone that only the failing run
refers to (as a chain of clones made during one run would be), where the release is what keeps the entries live.
"""
from __future__ import annotations

import gc
import sys

import comfy.model_management
import comfy.patcher_extension
import pytest
import torch
from harness.latents import empty_latent
from harness.tiny_models import tiny_sd15_patcher

from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings
from magic_core.temporal import apply_temporal_attention, new_temporal_weights

SETTINGS = {"seed": 1, "steps": 1, "cfg": 2.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "context_frames": 4, "context_overlap": 1, "context_stride": 1, "closed_loop": True,
            "schedule": "uniform", "fuse_method": "flat", "beta_schedule": "sqrt_linear (MagicAnimate)"}


def _fail_like_comfyui(run) -> Exception:
    """Run ``run`` as ``execution.execute`` does: on error it keeps ``sys.exc_info()``'s traceback in its frame."""
    try:
        run()
    except Exception as ex:
        typ, _, tb = sys.exc_info()  # noqa: F841  (the cycle ComfyUI makes)
        return ex
    raise AssertionError("the run should have failed")


def _failing_temporal_model():
    """A cached-node-output stand-in: a temporal clone whose diffusion model raises mid-sampling."""
    base = tiny_sd15_patcher(0)
    weights = new_temporal_weights(base.model.diffusion_model, lambda modules: [
        torch.nn.init.normal_(p, std=0.02) for p in modules.parameters()], "failing temporal attention")
    model = apply_temporal_attention(base, weights)

    def fail(executor, *args, **kwargs):
        raise ValueError("sampling failed")

    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_fail", fail)
    return model


def _dead_entries(model) -> list[str]:
    owned = {id(model.model), *(id(m.model) for m in model.get_additional_models())}
    return [type(m.real_model()).__name__ for m in comfy.model_management.current_loaded_models
            if m.real_model is not None and id(m.real_model()) in owned and m.is_dead()]


@pytest.fixture
def clean_model_management():
    comfy.model_management.unload_all_models()
    yield
    comfy.model_management.unload_all_models()
    comfy.model_management.cleanup_models()


def test_failed_fusion_node_run_leaves_no_dead_model(comfy_host, fusion_conds, clean_model_management):
    node = comfy_host.NODE_CLASS_MAPPINGS["MagicAnimateFusionSampler"]
    model = _failing_temporal_model()
    error = _fail_like_comfyui(lambda: node.execute(model.clone(), *fusion_conds, empty_latent(6), **SETTINGS))
    assert "sampling failed" in str(error)
    del error
    gc.collect()
    assert _dead_entries(model) == []


def test_without_the_release_the_loaded_models_go_dead(fusion_conds, clean_model_management):
    """The control: the same failure straight through ``fusion_sample`` (no node) is what ComfyUI warns about."""
    model = _failing_temporal_model()
    error = _fail_like_comfyui(lambda: fusion_sample(
        model.clone(), *fusion_conds, empty_latent(6), seed=1, steps=1, cfg=2.0, sampler_name="euler",
        scheduler="normal", settings=FusionSettings(4, 1), progress=False))
    del error
    gc.collect()
    assert sorted(_dead_entries(model)) == ["BaseModel", "MotionModuleSet"]
    assert torch.is_tensor(model.model.diffusion_model.input_blocks[0][0].weight)  # the model itself is fine
