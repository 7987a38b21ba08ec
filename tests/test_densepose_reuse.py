"""DensePose ControlNet residual reuse within one whole-video evaluation of the fusion sampler.

Counts of ControlNet frame evaluations, equality with reuse off, no reuse across evaluations (heun evaluates
the model twice per step) and the memory bound (residual frames held at once).
"""
from __future__ import annotations

import pytest
import torch
from harness.densepose_inputs import LATENT, coded_hints, texts
from harness.tiny_models import tiny_sd15_patcher

import magic_core.densepose.control as control_module
import magic_core.fusion.context as context_module
from magic_core.densepose.control import apply_densepose
from magic_core.densepose.reuse import ResidualStore
from magic_core.fusion.sampler import fusion_sample
from magic_core.fusion.windows import FusionSettings, context_windows

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def unet():
    return tiny_sd15_patcher(0)


@pytest.fixture
def evaluations(monkeypatch) -> list:
    """Every whole-video evaluation the fusion sampler opens, in order."""
    opened = []
    real = context_module.open_evaluation

    def recording(options, windows):
        opened.append(real(options, windows))
        return opened[-1]

    monkeypatch.setattr(context_module, "open_evaluation", recording)
    return opened


def sample(unet, densepose_cn, frames: int, settings: FusionSettings, sampler: str = "ddim", steps: int = 2):
    pos, neg = texts()
    positive, negative = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(frames))
    latent = {"samples": torch.zeros(frames, 4, LATENT, LATENT)}
    with torch.no_grad():
        return fusion_sample(unet, positive, negative, latent, seed=2, steps=steps, cfg=7.5, sampler_name=sampler,
                             scheduler="ddim_uniform" if sampler == "ddim" else "normal", settings=settings,
                             progress=False)["samples"]


def without_reuse(monkeypatch, *args, **kwargs) -> torch.Tensor:
    with monkeypatch.context() as patch:
        patch.setattr(control_module, "current_evaluation", lambda options: None)
        return sample(*args, **kwargs)


@pytest.fixture
def row_by_row(monkeypatch):
    """The ControlNet evaluated one row at a time: each row's residuals then have the same bits whatever batch
    it is computed in (the CPU kernels round differently per batch size, ~1e-7 relative in the first blocks),
    so reuse on and off must agree bit for bit."""
    real = control_module.control_forward

    def per_row(model, x, hint, t, context, **kwargs):
        rows = [real(model, x[i:i + 1], hint[i:i + 1], t[i:i + 1], context[i:i + 1], **kwargs)
                for i in range(x.shape[0])]
        return {key: [torch.cat([r[key][j] for r in rows]) for j in range(len(rows[0][key]))] for key in rows[0]}

    monkeypatch.setattr(control_module, "control_forward", per_row)


def stores(evaluation) -> list[ResidualStore]:
    return [s for s in evaluation.stores.values() if isinstance(s, ResidualStore)]


def test_each_frame_once_per_step_and_output_unchanged(unet, densepose_cn, calls, evaluations, monkeypatch):
    frames, steps, settings = 32, 2, FusionSettings(16, 4)
    assert sum(len(w) for w in context_windows(frames, settings, 0)) == 48  # what per-window evaluation costs
    reused = sample(unet, densepose_cn, frames, settings, steps=steps)
    assert calls.rows == steps * frames                  # 32 frame evaluations per step, not 48
    assert len(evaluations) == steps
    for evaluation in evaluations:
        (store,) = stores(evaluation)
        assert store.computed_rows == frames and store.reused_rows == 16
        assert store.peak_frames == 12                   # 12..15 for window 2, 0..7 for the wrapping window 3
        assert store.entries == {}                       # nothing kept past the last window
    calls.calls.clear()
    plain = without_reuse(monkeypatch, unet, densepose_cn, frames, settings, steps=steps)
    assert calls.rows == steps * 48
    # Batched kernels: the reused and the recomputed rows come from batches of other sizes (float rounding).
    torch.testing.assert_close(reused, plain, rtol=1e-3, atol=1e-4)


def test_reuse_is_exact_when_rows_do_not_depend_on_their_batch(unet, densepose_cn, row_by_row, monkeypatch):
    frames, settings = 32, FusionSettings(16, 4)
    reused = sample(unet, densepose_cn, frames, settings, steps=2)
    assert torch.equal(reused, without_reuse(monkeypatch, unet, densepose_cn, frames, settings, steps=2))


def test_no_reuse_across_evaluations_of_a_multi_stage_sampler(unet, densepose_cn, calls, evaluations, row_by_row,
                                                             monkeypatch):
    frames, settings = 24, FusionSettings(16, 4)
    reused = sample(unet, densepose_cn, frames, settings, sampler="heun", steps=2)
    assert len(evaluations) == 3                         # heun: 2 evaluations, the last step 1
    assert calls.rows == len(evaluations) * frames       # every evaluation computes every frame itself
    assert len({id(e) for e in evaluations}) == 3 and all(len(stores(e)) == 1 for e in evaluations)
    assert torch.equal(reused, without_reuse(monkeypatch, unet, densepose_cn, frames, settings, sampler="heun",
                                             steps=2))


def test_memory_bound_holds_at_most_one_window_when_many_frames_wait(unet, densepose_cn, calls, evaluations,
                                                                    row_by_row, monkeypatch):
    # Dilated windows (stride 2) need many first-pass frames again later: more than a window's worth waits,
    # the store keeps at most one window's frames (the soonest needed) and recomputes the rest.
    frames, settings = 48, FusionSettings(16, 4, context_stride=2)
    windows = context_windows(frames, settings, 0)
    reused = sample(unet, densepose_cn, frames, settings, steps=1)
    (store,) = stores(evaluations[0])
    assert store.peak_frames == 16
    assert frames < calls.rows < sum(len(w) for w in windows)
    assert store.computed_rows == calls.rows and store.computed_rows + store.reused_rows == sum(map(len, windows))
    assert torch.equal(reused, without_reuse(monkeypatch, unet, densepose_cn, frames, settings, steps=1))


def test_changed_inputs_are_never_reused():
    """A stored frame whose latent differs from the call's is recomputed (the store compares inputs)."""
    from magic_core.evaluation_scope import VideoEvaluation

    evaluation = VideoEvaluation([[0, 1], [1, 2]])
    store, seen = ResidualStore(), []

    def run(x, h, t, c):
        seen.append(x.shape[0])
        return {"output": [x * 2.0], "middle": [None]}

    t, context, hint = torch.ones(2), torch.zeros(2, 3, 4), torch.zeros(2, 1)
    evaluation.begin_call()
    store.forward(evaluation, [(0, 0), (1, 0)], torch.tensor([[1.0], [2.0]]), t, context, hint, run)
    evaluation.begin_call()
    out = store.forward(evaluation, [(1, 0), (2, 0)], torch.tensor([[2.0], [3.0]]), t, context, hint, run)
    assert seen == [2, 1] and out["output"][0].flatten().tolist() == [4.0, 6.0]
    evaluation2 = VideoEvaluation([[0, 1], [1, 2]])
    evaluation2.begin_call()
    store.forward(evaluation2, [(0, 0), (1, 0)], torch.tensor([[1.0], [2.0]]), t, context, hint, run)
    evaluation2.begin_call()
    out = store.forward(evaluation2, [(1, 0), (2, 0)], torch.tensor([[5.0], [3.0]]), t, context, hint, run)
    assert seen == [2, 1, 2, 2] and out["output"][0].flatten().tolist() == [10.0, 6.0]
