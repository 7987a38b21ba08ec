"""The fusion sampler over ComfyUI's MultiGPU clones (core MultiGPU Work Units, ComfyUI 0.22+), run for real on CPU.

Core builds the clones only for the torch devices it lists (``get_all_torch_devices``: on a CPU-only machine just
``cpu``, so ``MultiGPU_WorkUnits`` adds none).  Here that list is ``cpu`` and ``cpu:0`` - two distinct
``torch.device`` keys whose tensors both live in system memory - and everything else is core's own code: its
deep clones (``create_multigpu_deepclones``, as the node), per-device ControlNet clones, its thread pool with one
worker per device.  What this does not show: real transfers between GPUs and CUDA streams.
"""
from __future__ import annotations

import comfy.model_management
import comfy.patcher_extension
import pytest
import torch
from harness.latents import empty_latent
from harness.magicanimate_model import magicanimate_inputs
from harness.tiny_appearance import official_base_patcher

from magic_core.appearance.patch import ADDITIONAL_MODELS_KEY
from magic_core.call_options import thread_device
from magic_core.densepose.control import FrameControlNet
from magic_core.errors import MagicAnimateError
from magic_core.frame_contract import frame_layout
from magic_core.fusion.devices import split_windows
from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings, context_windows

multigpu = pytest.importorskip("comfy.multigpu", reason="this ComfyUI has no core MultiGPU (comfy.multigpu, "
                                                         "ComfyUI 0.22+); the fusion sampler runs on one device")
pytestmark = pytest.mark.usefixtures("one_cpu_thread")

FRAMES, WINDOW, OVERLAP, STEPS, SIZE = 20, 8, 2, 2, 64
MAIN, EXTRA = torch.device("cpu"), torch.device("cpu", 0)
TOLERANCE = 2e-3  # as tests/test_fusion_window_batch.py: float32 sums in another order, amplified by CFG 7.5


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_windows_split_into_contiguous_slices():
    windows = [[i] for i in range(7)]
    assert split_windows(windows, 2) == [windows[:4], windows[4:]]
    assert split_windows(windows, 3) == [windows[:3], windows[3:5], windows[5:]]
    assert split_windows(windows[:1], 2) == [windows[:1], []]


@pytest.fixture
def two_devices(monkeypatch):
    monkeypatch.setattr(comfy.model_management, "get_all_torch_devices", lambda exclude_current=False: [MAIN, EXTRA])


def three_parts(official_tiny, appearance_encoder, fusion_conds, frames=FRAMES):
    base = official_base_patcher(official_tiny)
    base.cached_patcher_init = (official_base_patcher, (official_tiny,))  # what core's loaders register
    return magicanimate_inputs(official_tiny, appearance_encoder, fusion_conds, frames, base=base)


def work_units(model):
    """What core's MultiGPU_WorkUnits node does with max_gpus 2, without its reuse of loaded clones: that lookup
    reads ``lm.model`` of every ``loaded_models()`` entry, which is None for a ModelPatcher freed while its model
    stays loaded (the earlier tests' clones here), and core then raises AttributeError."""
    return multigpu.create_multigpu_deepclones(model, 2, reuse_loaded=False)


def sample(model, parts, settings, frames=FRAMES):
    return fusion_sample(model, parts.positive, parts.negative, empty_latent(frames, SIZE), seed=3, steps=STEPS,
                         cfg=7.5, settings=settings, progress=False)["samples"]


def device_recorder(split, parts, extra) -> tuple[object, list]:
    """A clone of ``split`` recording, per model call: the device whose UNet ran it, the worker's device key and
    the call's frames."""
    unets = {id(parts.model.model.diffusion_model): MAIN, id(extra.model.diffusion_model): EXTRA}
    seen: list = []

    def record(executor, x, *args, **kwargs):
        options = args[4] if len(args) > 4 else kwargs["transformer_options"]
        seen.append((unets[id(executor.class_obj)], thread_device(options),
                     frame_layout(options, x.shape[0]).frame_indices))
        return executor(x, *args, **kwargs)

    model = split.clone()
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "test_devices", record)
    return model, seen


def count_calls(module: torch.nn.Module) -> list:
    calls: list = []
    module.register_forward_pre_hook(lambda m, args: calls.append(1))
    return calls


@pytest.mark.parametrize("window_batch", [1, 2])
def test_two_device_clones_split_the_windows_and_equal_one_device(official_tiny, appearance_encoder, fusion_conds,
                                                                   two_devices, window_batch):
    parts = three_parts(official_tiny, appearance_encoder, fusion_conds)
    settings = FusionSettings(WINDOW, OVERLAP, window_batch=window_batch)
    expected = sample(parts.model, parts, settings)

    split = work_units(parts.model)
    (extra,) = split.get_additional_models_with_key("multigpu")
    assert extra.load_device == EXTRA and extra.model is not parts.model.model
    key = next(k for k in parts.model.additional_models if k.startswith(ADDITIONAL_MODELS_KEY))
    encoders = {MAIN: appearance_encoder.unet, EXTRA: extra.get_additional_models_with_key(key)[0].model}
    assert encoders[EXTRA] is not encoders[MAIN]
    encoder_runs = {device: count_calls(unet) for device, unet in encoders.items()}
    model, seen = device_recorder(split, parts, extra)
    got = sample(model, parts, settings)
    assert rel(got, expected) < TOLERANCE
    windows = context_windows(FRAMES, settings)
    slices = dict(zip((MAIN, EXTRA), split_windows(windows, 2), strict=True))
    assert len(windows) == 4 and all(len(s) == 2 for s in slices.values())
    # each clone's UNet ran only its own slice, every step, in its own worker (core's thread-device key)
    assert all(unet_device == device for unet_device, device, _ in seen)
    assert len(seen) == STEPS * len(windows) // window_batch
    for device, part in slices.items():
        frames = sorted(f for d, _, indices in seen if d == device for f in indices)
        assert frames == sorted([f for w in part for f in w] * STEPS)
    # each device ran its appearance encoder once per step
    assert {device: len(runs) for device, runs in encoder_runs.items()} == {MAIN: STEPS, EXTRA: STEPS}
    control = parts.positive[0][1]["control"]
    assert isinstance(control.multigpu_clones[EXTRA], FrameControlNet)  # its own hint cache
    assert control.multigpu_clones[EXTRA].control_model is not control.control_model


def test_multigpu_off_runs_every_window_on_the_main_device(official_tiny, appearance_encoder, fusion_conds,
                                                           two_devices):
    parts = three_parts(official_tiny, appearance_encoder, fusion_conds)
    split = work_units(parts.model)
    (extra,) = split.get_additional_models_with_key("multigpu")
    model, seen = device_recorder(split, parts, extra)
    sample(model, parts, FusionSettings(WINDOW, OVERLAP, multigpu=False))
    assert len(seen) == STEPS * 4 and all(unet == MAIN and key is None for unet, key, _ in seen)


def test_one_window_video_runs_on_the_main_device(official_tiny, appearance_encoder, fusion_conds, two_devices):
    # core would split the cond/uncond halves over the devices, each reading the main device's step states
    parts = three_parts(official_tiny, appearance_encoder, fusion_conds, frames=WINDOW)
    expected = sample(parts.model, parts, FusionSettings(WINDOW, OVERLAP), frames=WINDOW)
    split = work_units(parts.model)
    (extra,) = split.get_additional_models_with_key("multigpu")
    model, seen = device_recorder(split, parts, extra)
    got = sample(model, parts, FusionSettings(WINDOW, OVERLAP), frames=WINDOW)
    assert rel(got, expected) < TOLERANCE
    assert [(unet, key) for unet, key, _ in seen] == [(MAIN, MAIN)] * STEPS


def test_cancel_and_errors_on_two_devices(official_tiny, appearance_encoder, fusion_conds, two_devices,
                                          record_model_calls):
    parts = three_parts(official_tiny, appearance_encoder, fusion_conds)
    split = work_units(parts.model)
    model, calls = record_model_calls(split, interrupt_after=1)
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        sample(model, parts, FusionSettings(WINDOW, OVERLAP))
    assert len(calls.calls) < STEPS * 4
    comfy.model_management.interrupt_current_processing(False)
    # an error on a device (here: 24 latent frames for 20 DensePose frames) is the same clear error
    with pytest.raises(MagicAnimateError, match="20 DensePose frames but the latent video has 24 frames"):
        sample(split, parts, FusionSettings(WINDOW, OVERLAP), frames=24)
    assert "multigpu_clones" not in split.model_options
