"""Motion input: MagicAnimate's DensePose colours, DensePose estimation from a video, smoothing, alignment to
the reference, the colormap check, preparing DensePose frames, and a synthetic moving figure."""
from .align import ALIGN_MODES, align_motion
from .codec import DENSEPOSE_BACKGROUND, PART_COLORS, PARULA_COLORS, decode_labels, render_labels
from .colormap import COLORMAPS, apply_colormap, check_colormap, measure_colormap, parula_to_viridis
from .estimate import OUTPUT_SIZES, estimate_densepose
from .estimator_model import DensePoseModel, load_densepose_model
from .person import PERSON_MODES
from .prepare import FIT_MODES, fit_frames, output_fps, prepare_motion, select_frames
from .smooth import smooth_motion
from .synthetic import MOTIONS, render_part_indices, render_synthetic_motion

__all__ = ["ALIGN_MODES", "COLORMAPS", "DENSEPOSE_BACKGROUND", "DensePoseModel", "FIT_MODES", "MOTIONS",
           "OUTPUT_SIZES", "PERSON_MODES",
           "PARULA_COLORS", "PART_COLORS", "align_motion", "apply_colormap", "check_colormap",
           "decode_labels", "estimate_densepose", "fit_frames", "load_densepose_model", "measure_colormap",
           "output_fps", "parula_to_viridis", "prepare_motion", "render_labels", "render_part_indices",
           "render_synthetic_motion", "select_frames", "smooth_motion"]
