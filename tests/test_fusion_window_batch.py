"""``window_batch``: several windows in one model call give the one-window-per-call result, on every part."""
from __future__ import annotations

import pytest
import torch
from harness.latents import empty_latent
from harness.magicanimate_model import magicanimate_inputs
from harness.recorders import record_model_calls

from magic_core.errors import MagicAnimateError
from magic_core.fusion.batching import largest_call_frames, window_batches
from magic_core.fusion.context import FusionContextHandler, _window_noise_shape
from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FUSE_METHODS, SCHEDULES, FusionSettings, context_windows

pytestmark = pytest.mark.usefixtures("one_cpu_thread")

FRAMES, WINDOW, OVERLAP, STEPS, SIZE = 20, 8, 2, 2, 64
# Measured with this model, CFG 7.5, 2 steps: window_batch 3 against 1 differs by 3.6e-4 (max, relative); the
# float32 floor of a different batch size (base UNet alone 8e-6 after one step at CFG 1, DensePose 2e-4: its hint
# embeddings are computed in one convolution of another batch size), amplified by CFG.  Temporal attention
# spanning the batched windows instead of each window (a broken contract) differs by 0.1.
TOLERANCE = 2e-3


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_batches_are_consecutive_windows_of_one_length():
    windows = [[0, 1], [2, 3], [4, 5], [6, 7, 8], [9, 10, 11], [1, 2]]
    assert window_batches(windows, 1) == [[w] for w in windows]
    assert window_batches(windows, 2) == [[[0, 1], [2, 3]], [[4, 5]], [[6, 7, 8], [9, 10, 11]], [[1, 2]]]
    assert window_batches(windows, 8) == [windows[:3], windows[3:5], windows[5:]]
    with pytest.raises(MagicAnimateError, match="window_batch is 0"):
        FusionSettings(window_batch=0)


@pytest.mark.parametrize("window_batch", [1, 2, 4, 64])
def test_memory_estimate_is_the_largest_call(window_batch):
    settings = FusionSettings(WINDOW, OVERLAP, window_batch=window_batch)
    windows = context_windows(FRAMES, settings)  # 20 frames, windows of 8 every 6: 4 windows (closed loop)
    assert len(windows) == 4
    expected = WINDOW * min(window_batch, len(windows))
    assert largest_call_frames(FRAMES, settings) == expected
    seen = []
    _window_noise_shape(lambda model, shape, *a, **k: seen.append(shape), None, [FRAMES, 4, 8, 8], [],
                        model_options={"context_handler": FusionContextHandler(settings)})
    assert seen == [[expected, 4, 8, 8]]
    assert largest_call_frames(6, settings) == 6  # one window of the whole (short) video


@pytest.fixture(scope="module")
def parts(official_tiny, appearance_encoder, fusion_conds):
    return magicanimate_inputs(official_tiny, appearance_encoder, fusion_conds, FRAMES)


def run(parts, settings: FusionSettings) -> tuple[torch.Tensor, list]:
    model, calls = record_model_calls(parts.model)
    out = fusion_sample(model, parts.positive, parts.negative, empty_latent(FRAMES, SIZE), seed=3, steps=STEPS, cfg=7.5,
                        settings=settings, progress=False)["samples"]
    return out, calls.calls


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("fuse_method", FUSE_METHODS)
def test_window_batch_equals_one_window_per_call(parts, schedule, fuse_method):
    one = FusionSettings(WINDOW, OVERLAP, schedule=schedule, fuse_method=fuse_method)
    expected, single_calls = run(parts, one)
    batch = 3
    got, calls = run(parts, FusionSettings(WINDOW, OVERLAP, schedule=schedule, fuse_method=fuse_method,
                                           window_batch=batch))
    assert rel(got, expected) < TOLERANCE
    # every window is still run once per step (all three parts patched), in fewer, larger calls
    assert max(c.rows for c in single_calls) == 2 * WINDOW
    per_step = len(context_windows(FRAMES, one))
    assert max(c.rows for c in calls) == 2 * WINDOW * min(batch, per_step)
    assert sum(c.rows for c in calls) == sum(c.rows for c in single_calls)
    assert len(calls) < len(single_calls)
    for call in calls:
        assert call.layout.window_frames == WINDOW and call.layout.groups == len(call.chunks) * call.layout.windows
    assert calls[0].layout.frame_indices == tuple(f for w in context_windows(FRAMES, one)[:batch] for f in w)


def test_window_batch_with_dilated_windows_and_no_loop(parts):
    common = {"context_stride": 2, "closed_loop": False, "fuse_method": "pyramid"}
    expected, _ = run(parts, FusionSettings(WINDOW, OVERLAP, **common))
    got, calls = run(parts, FusionSettings(WINDOW, OVERLAP, window_batch=4, **common))
    assert rel(got, expected) < TOLERANCE
    assert max(c.layout.windows for c in calls) == 4
