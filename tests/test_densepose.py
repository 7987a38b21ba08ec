"""The frame-following DensePose ControlNet: window hints, parity with core, cost, errors, loading."""
from __future__ import annotations

import comfy.controlnet
import comfy.sample
import pytest
import torch
from harness.densepose_inputs import LATENT, coded_hints, texts
from harness.tiny_models import tiny_sd15_patcher

from magic_core.densepose.control import FrameControlNet, apply_densepose
from magic_core.frame_contract import set_window


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


@pytest.fixture(scope="module")
def unet():
    return tiny_sd15_patcher(0)






def started(control: comfy.controlnet.ControlBase, unet) -> comfy.controlnet.ControlBase:
    control.pre_run(unet.model, lambda p: unet.model.model_sampling.percent_to_sigma(p))
    return control


def call_inputs(frames: int, chunks: list[int], seed: int = 0):
    """A CFG-style model call: the same noisy frames in every chunk, each chunk with its own text."""
    pos, neg = texts()
    x = torch.randn(frames, 4, LATENT, LATENT, generator=torch.Generator().manual_seed(seed))
    cond = {"c_crossattn": torch.cat([(pos if c == 0 else neg).expand(frames, -1, -1) for c in chunks])}
    return torch.cat([x] * len(chunks)), torch.full((frames * len(chunks),), 3.0), cond


def core_control(densepose_cn: FrameControlNet) -> comfy.controlnet.ControlNet:
    return comfy.controlnet.ControlNet(densepose_cn.control_model, load_device=densepose_cn.load_device,
                                       manual_cast_dtype=densepose_cn.manual_cast_dtype)


def test_windows_get_exactly_their_hint_frames(unet, densepose_cn, calls):
    frames = 10
    windows = [(0, 1, 2, 3), (3, 4, 5, 6), (6, 7, 8, 9), (8, 9, 0, 1)]   # windows of 4, the last wraps around
    pos, neg = texts()
    positive, negative = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(frames))
    control = started(positive[0][1]["control"], unet)
    assert negative[0][1]["control"] is control   # one control object, so ComfyUI batches cond and uncond
    try:
        for window in windows:
            options = {"cond_or_uncond": [1, 0]}
            set_window(options, window, frames)
            x, sigma, cond = call_inputs(len(window), [1, 0])
            before = len(calls.calls)
            out = control.get_control(x, sigma, cond, 2, options)
            assert len(calls.calls) == before + 1
            call = calls.calls[-1]
            assert call["rows"] == len(window)                      # cond text only, once per frame
            assert calls.hint_frames(call["hint"], frames) == list(window)
            assert torch.equal(call["context"], pos.expand(len(window), -1, -1))
            for residual in out["output"] + out["middle"]:
                assert residual.shape[0] == 2 * len(window)
                assert torch.equal(residual[:len(window)], residual[len(window):])   # uncond reuses cond
    finally:
        control.cleanup()


def test_core_controlnet_gives_windows_the_first_frames(unet, densepose_cn, calls):
    """The bug this component exists for: core's control ignores the window's frame indices."""
    import nodes as comfy_nodes

    pos, neg = texts()
    positive, _ = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        [[pos, {}]], [[neg, {}]], core_control(densepose_cn), coded_hints(10), 1.0, 0.0, 1.0)
    control = started(positive[0][1]["control"], unet)
    options = {"cond_or_uncond": [1, 0]}
    set_window(options, (3, 4, 5, 6), 10)
    try:
        control.get_control(*call_inputs(4, [1, 0]), 2, options)
    finally:
        control.cleanup()
    assert calls.hint_frames(calls.calls[-1]["hint"], 10)[:4] == [0, 1, 2, 3]
    assert calls.calls[-1]["rows"] == 8


def test_whole_video_matches_core_apply_in_the_cond_half(unet, densepose_cn):
    import nodes as comfy_nodes

    frames = 6
    pos, neg = texts()
    hints = coded_hints(frames) * torch.linspace(0.5, 1.0, LATENT * 8).view(1, 1, -1, 1)
    ours, _ = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, hints, 0.8, 0.0, 1.0)
    core, _ = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        [[pos, {}]], [[neg, {}]], core_control(densepose_cn), hints, 0.8, 0.0, 1.0)
    mine = control_residuals(ours, unet, frames, [0, 1])
    theirs = control_residuals(core, unet, frames, [0, 1])
    theirs_cond = control_residuals(core, unet, frames, [0])      # core on the cond chunk alone
    assert len(mine["output"]) == len(theirs["output"]) == 12
    for a, b, exact in zip(mine["output"] + mine["middle"], theirs["output"] + theirs["middle"],
                           theirs_cond["output"] + theirs_cond["middle"], strict=True):
        assert torch.equal(a[:frames], exact)                    # cond half: exactly core's residuals
        torch.testing.assert_close(a[:frames], b[:frames], rtol=1e-3, atol=1e-4)   # (core's 12-row batch rounds)
        assert torch.equal(a[frames:], a[:frames])              # uncond half: the cond residuals, reused
    # core evaluates the negative text instead (the deepest residuals depend on the text)
    assert not torch.allclose(theirs["middle"][0][frames:], theirs["middle"][0][:frames])


def control_residuals(positive: list, unet, frames: int, chunks: list[int]) -> dict[str, list]:
    control = started(positive[0][1]["control"], unet)
    try:
        with torch.no_grad():
            return control.get_control(*call_inputs(frames, chunks), len(chunks), {"cond_or_uncond": chunks})
    finally:
        control.cleanup()


def run_sampler(unet, positive, negative, frames: int, cfg: float, steps: int = 2) -> torch.Tensor:
    latent = torch.zeros(frames, 4, LATENT, LATENT)
    noise = comfy.sample.prepare_noise(latent, 3)
    return comfy.sample.sample(unet, noise, steps, cfg, "euler", "normal", positive, negative, latent, seed=3,
                               disable_pbar=True)


@pytest.mark.slow
def test_sampling_matches_core_without_uncond_and_costs_one_evaluation_per_frame(unet, densepose_cn, calls):
    import nodes as comfy_nodes

    frames, steps = 4, 2
    pos, neg = texts()
    hints = coded_hints(frames)
    ours = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, hints)
    core = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        [[pos, {}]], [[neg, {}]], core_control(densepose_cn), hints, 1.0, 0.0, 1.0)
    # cfg 1 skips the uncond pass: the documented reuse plays no part, so the result is exactly core's.
    assert torch.equal(run_sampler(unet, *ours, frames, cfg=1.0), run_sampler(unet, *core, frames, cfg=1.0))
    calls.calls.clear()
    embedded_rows = []
    counter = densepose_cn.control_model.input_hint_block.register_forward_hook(
        lambda module, args, out: embedded_rows.append(out.shape[0]))
    try:
        run_sampler(unet, *ours, frames, cfg=7.5, steps=steps)
    finally:
        counter.remove()
    assert calls.rows == steps * frames
    assert sum(embedded_rows) == frames                          # each frame's hint embedded once per run
    calls.calls.clear()
    run_sampler(unet, *core, frames, cfg=7.5, steps=steps)
    assert calls.rows == 2 * steps * frames                      # core pays twice


def test_single_hint_frame_drives_every_frame(unet, densepose_cn, calls):
    pos, neg = texts()
    positive, _ = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(3)[1:2])
    control = started(positive[0][1]["control"], unet)
    options = {"cond_or_uncond": [0, 1]}
    set_window(options, (2, 3, 4), 5)
    try:
        control.get_control(*call_inputs(3, [0, 1]), 2, options)
    finally:
        control.cleanup()
    hint = calls.calls[-1]["hint"]
    assert hint.shape[0] == 3
    for row in hint:
        torch.testing.assert_close(row, hint[0])
    assert calls.hint_frames(hint, 3) == [1, 1, 1]


def test_hint_count_mismatch_names_both_counts_and_the_fix(unet, densepose_cn):
    pos, neg = texts()
    positive, negative = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(5))
    with pytest.raises(ValueError) as err:
        run_sampler(unet, positive, negative, 6, cfg=2.0, steps=1)
    message = str(err.value)
    assert "5 DensePose frames" in message and "6 frames" in message and "frame_count" in message


@pytest.mark.parametrize("image, words", [
    (torch.zeros(0, 64, 64, 3), ["densepose", "empty"]),
    (torch.zeros(2, 64, 64, 1), ["densepose", "1 channels", "RGB"]),
    (torch.zeros(64, 64, 3), ["densepose", "shape"]),
])
def test_bad_densepose_input_is_a_clear_error(densepose_cn, image, words):
    pos, neg = texts()
    with pytest.raises(ValueError) as err:
        apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, image)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_bad_percent_range_and_unsupported_control_are_clear_errors(densepose_cn):
    pos, neg = texts()
    with pytest.raises(ValueError, match="start_percent 0.8 / end_percent 0.2"):
        apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(2), 1.0, 0.8, 0.2)

    class OtherControl(comfy.controlnet.ControlBase):
        pass

    with pytest.raises(ValueError, match="control_net: a OtherControl"):
        apply_densepose([[pos, {}]], [[neg, {}]], OtherControl(), coded_hints(2))


def test_apply_copies_inputs_and_chains_with_other_controlnets(densepose_cn):
    import nodes as comfy_nodes

    pos, neg = texts()
    other = core_control(densepose_cn)
    positive, negative = comfy_nodes.ControlNetApplyAdvanced().apply_controlnet(
        [[pos, {"keep": 1}]], [[neg, {}]], other, coded_hints(2), 0.5, 0.0, 1.0)
    before = [dict(positive[0][1]), dict(negative[0][1])]
    out_pos, out_neg = apply_densepose(positive, negative, densepose_cn, coded_hints(2), 0.7, 0.1, 0.9)
    assert [dict(positive[0][1]), dict(negative[0][1])] == before         # inputs untouched
    ours = out_pos[0][1]["control"]
    assert isinstance(ours, FrameControlNet) and ours is not densepose_cn and ours is out_neg[0][1]["control"]
    assert ours.previous_controlnet is positive[0][1]["control"]          # chained after the core control
    assert ours.strength == 0.7 and ours.timestep_percent_range == (0.1, 0.9) and out_pos[0][1]["keep"] == 1
    assert densepose_cn.cond_hint_original is None                       # the loaded control is not changed
    assert apply_densepose(positive, negative, densepose_cn, coded_hints(2), 0.0) == (positive, negative)


def test_core_context_windows_select_by_index_list(unet, densepose_cn, calls):
    """ComfyUI's own context windows name only the window's indices; hints follow them too."""
    pos, neg = texts()
    positive, _ = apply_densepose([[pos, {}]], [[neg, {}]], densepose_cn, coded_hints(10))
    control = started(positive[0][1]["control"], unet)
    window = type("Window", (), {"index_list": [4, 5, 6]})()
    try:
        control.get_control(*call_inputs(3, [0, 1]), 2, {"cond_or_uncond": [0, 1], "context_window": window})
        window.index_list = [8, 9, 10]
        with pytest.raises(ValueError, match="10 DensePose frames"):
            control.get_control(*call_inputs(3, [0, 1]), 2, {"cond_or_uncond": [0, 1], "context_window": window})
    finally:
        control.cleanup()
    assert calls.hint_frames(calls.calls[0]["hint"], 10) == [4, 5, 6]
