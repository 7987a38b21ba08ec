"""Temporal attention for ComfyUI: load a temporal file from the ``magicanimate`` folder, patch a model clone.

The pieces: :mod:`.temporal_module` (the layers), :mod:`.temporal_loading` (reading and checking files),
:mod:`.temporal_patch` (injection into a ModelPatcher clone), :mod:`.temporal_groupnorm` (cross-frame norms).
"""
from __future__ import annotations

from .model_paths import model_file_path
from .temporal_loading import TemporalWeights, load_temporal_file
from .temporal_patch import apply_temporal_attention


def load_temporal_attention(model_name: str) -> TemporalWeights:
    """The checked temporal attention file ``model_name`` of the ``magicanimate`` model folder."""
    return load_temporal_file(model_file_path(model_name))


__all__ = ["TemporalWeights", "apply_temporal_attention", "load_temporal_attention", "load_temporal_file"]
