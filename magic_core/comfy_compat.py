"""The one place that bridges ComfyUI internals whose signatures differ between supported versions.

The pack runs on ComfyUI 0.3.75 (the oldest supported) up to current releases (tested on 0.33.0).  Where the
pack has to touch an internal that changed in that range, it goes through a function here, so each
difference is handled once and the test suite, run on both hosts, proves both paths.
"""
from __future__ import annotations

import inspect
from collections.abc import Sequence
from functools import cache

import comfy.context_windows


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
