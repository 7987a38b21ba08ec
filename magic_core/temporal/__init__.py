"""Temporal attention: motion modules read from a temporal file and patched into a clone of an SD1.5 model.

``module`` (the layers), ``loading`` (reading and checking files), ``patch`` (injection into a ModelPatcher
clone), ``groupnorm`` (ResBlock/output norms with statistics over the frames of a window), ``fresh`` (new
motion modules for training and the benchmark).
"""
from .fresh import new_temporal_weights
from .groupnorm import cross_frame_norms
from .loading import TemporalWeights, load_temporal_file
from .module import MotionModuleSet
from .patch import TemporalSlot, apply_temporal_attention, motion_modules, temporal_slot_forward

__all__ = ["MotionModuleSet", "TemporalSlot", "TemporalWeights", "apply_temporal_attention", "cross_frame_norms",
           "load_temporal_file", "motion_modules", "new_temporal_weights", "temporal_slot_forward"]
