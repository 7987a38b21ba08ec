"""Motion input: MagicAnimate's DensePose colours, preparing DensePose frames, and a synthetic moving figure."""
from .palette import DENSEPOSE_BACKGROUND, PART_COLORS, colorize_parts
from .prepare import FIT_MODES, fit_frames, output_fps, prepare_motion, select_frames
from .synthetic import MOTIONS, render_part_indices, render_synthetic_motion

__all__ = ["DENSEPOSE_BACKGROUND", "FIT_MODES", "MOTIONS", "PART_COLORS", "colorize_parts", "fit_frames",
           "output_fps", "prepare_motion", "render_part_indices", "render_synthetic_motion", "select_frames"]
