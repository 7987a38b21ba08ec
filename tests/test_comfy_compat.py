"""The bridges to ComfyUI internals that differ between 0.3.75 and 0.33.0 (this suite runs on both hosts)."""
from __future__ import annotations

import inspect

import comfy.context_windows
import comfy.sample
import torch
from harness.tiny_models import tiny_sd15_patcher

from magic_core.comfy_compat import core_window_frames, fix_empty_latent_channels, index_list_window
from magic_core.frame_contract import frame_layout


def test_core_window_is_built_for_this_comfyui():
    window = index_list_window([12, 13, 14, 15, 0, 1], total_frames=16, overlap=2)
    assert isinstance(window, comfy.context_windows.IndexListContextWindow)
    assert window.index_list == [12, 13, 14, 15, 0, 1] and window.dim == 0
    if "total_frames" in inspect.signature(comfy.context_windows.IndexListContextWindow.__init__).parameters:
        assert window.total_frames == 16 and window.context_overlap == 2  # ComfyUI 0.4+
    full = torch.arange(16.0).reshape(16, 1)
    assert window.get_tensor(full).flatten().tolist() == [12, 13, 14, 15, 0, 1]


def test_causal_anchor_frame_leads_the_frames_of_a_core_window():
    """ComfyUI 0.4+'s Context Windows node prepends an anchor frame to a window's batch; the frame contract
    (which DensePose hints and temporal positions a call gets) must count it."""
    window = index_list_window([8, 9, 10, 11], total_frames=12)
    assert core_window_frames(window) == [8, 9, 10, 11]
    window.causal_anchor_index = 7
    assert core_window_frames(window) == [7, 8, 9, 10, 11]
    layout = frame_layout({"context_window": window, "cond_or_uncond": [0, 1]}, 10)
    assert layout.frame_indices == (7, 8, 9, 10, 11) and layout.chunks == (0, 1)
    window.causal_anchor_index = -1  # core's "no anchor" (the first window)
    assert core_window_frames(window) == [8, 9, 10, 11]
    assert core_window_frames(None) is None


def test_empty_latent_fixed_as_core_does():
    model = tiny_sd15_patcher(0)
    latent = {"samples": torch.zeros(3, 4, 8, 8), "downscale_ratio_spacial": 8}
    fixed = fix_empty_latent_channels(model, latent)
    assert torch.equal(fixed, comfy.sample.fix_empty_latent_channels(model, latent["samples"]))
    assert fixed.shape == (3, 4, 8, 8)
