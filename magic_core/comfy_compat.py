"""The one place that bridges ComfyUI internals whose signatures differ between supported versions.

The pack runs on ComfyUI 0.3.75 (the oldest supported) up to current releases (tested on 0.33.0).  Where the
pack has to touch an internal that changed in that range, it goes through a function here, so each
difference is handled once and the test suite, run on both hosts, proves both paths.
"""
from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from functools import cache

import comfy.context_windows
import comfy.sample
import torch
from comfy_api.latest import io


@cache
def has_multigpu() -> bool:
    """ComfyUI 0.22+ has core MultiGPU (``comfy.multigpu``: MultiGPU_WorkUnits clones per device); 0.3.75 has not."""
    return importlib.util.find_spec("comfy.multigpu") is not None


@cache
def folds_advanced_inputs() -> bool:
    """Whether this ComfyUI's V3 inputs take ``advanced=True`` (0.33: the frontend folds them under the node's
    "advanced" toggle); 0.3.75's ``io.Input`` lacks the keyword."""
    return "advanced" in inspect.signature(io.Input.__init__).parameters


def expert_input() -> dict[str, bool]:
    """Keyword arguments that mark a V3 input as an expert setting: ``{"advanced": True}`` where ComfyUI folds such
    inputs, nothing where it cannot (the input then shows as before)."""
    return {"advanced": True} if folds_advanced_inputs() else {}


@cache
def _window_parameters() -> frozenset[str]:
    return frozenset(inspect.signature(comfy.context_windows.IndexListContextWindow.__init__).parameters)


def index_list_window(index_list: Sequence[int], total_frames: int,
                      overlap: int = 0) -> comfy.context_windows.IndexListContextWindow:
    """Core's description of one context window (``transformer_options["context_window"]``).

    ComfyUI 0.4.0 added ``total_frames`` (and ``context_overlap``) to ``IndexListContextWindow`` and divides
    by ``total_frames`` in the constructor, so it must be given there; 0.3.75 takes only the index list.
    """
    params = _window_parameters()
    kwargs: dict[str, int] = {"dim": 0}
    if "total_frames" in params:
        kwargs["total_frames"] = int(total_frames)
    if "context_overlap" in params:
        kwargs["context_overlap"] = int(overlap)
    return comfy.context_windows.IndexListContextWindow(list(index_list), **kwargs)


def core_window_frames(core_window: object) -> list[int] | None:
    """The video frames a model call under core's own context windows covers, in batch order (or None).

    From ComfyUI 0.4 a window may carry ``causal_anchor_index`` (core's "Context Windows" node, on by default):
    core then prepends that frame to the window's latents and conds, so the call holds one row more than the
    index list.  0.3.75 has no such attribute.
    """
    index_list = getattr(core_window, "index_list", None)
    if index_list is None:
        return None
    frames = [int(i) for i in index_list]
    anchor = getattr(core_window, "causal_anchor_index", None)
    if anchor is not None and int(anchor) >= 0:
        frames.insert(0, int(anchor))
    return frames


@cache
def _fix_latent_parameters() -> frozenset[str]:
    return frozenset(inspect.signature(comfy.sample.fix_empty_latent_channels).parameters)


LATENT_RATIO_KEYS = ("downscale_ratio_spacial", "downscale_ratio_temporal")


def fix_empty_latent_channels(model: object, latent: dict) -> torch.Tensor:
    """``comfy.sample.fix_empty_latent_channels`` as core's KSampler calls it on this ComfyUI version.

    From 0.4 empty latents carry their downscale ratios (``downscale_ratio_spacial``), which core passes on.
    """
    params = _fix_latent_parameters()
    kwargs = {key: latent[key] for key in LATENT_RATIO_KEYS if key in params and key in latent}
    return comfy.sample.fix_empty_latent_channels(model, latent["samples"], **kwargs)
