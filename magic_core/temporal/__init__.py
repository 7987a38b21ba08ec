"""Temporal attention: motion modules read from a temporal file and patched into a clone of an SD1.5 model.

``module`` (the layers), ``loading`` (reading and checking files), ``patch`` (injection into a ModelPatcher
clone), ``groupnorm`` (ResBlock/output norms with statistics over the frames of a window).
"""
from .loading import TemporalWeights, load_temporal_file
from .patch import apply_temporal_attention

__all__ = ["TemporalWeights", "apply_temporal_attention", "load_temporal_file"]
