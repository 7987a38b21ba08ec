"""The DensePose ControlNet: per-frame control residuals from DensePose frames, frame i driving video frame i
also inside the fusion sampler's windows.

``loader`` (reading the ControlNet file), ``control`` (the window-aware control and applying it to conds),
``reuse`` (residuals of overlap frames kept for later windows of the same evaluation).
"""
from .control import FrameControlNet, apply_densepose
from .loader import controlnet_key_map, load_densepose_controlnet

__all__ = ["FrameControlNet", "apply_densepose", "controlnet_key_map", "load_densepose_controlnet"]
