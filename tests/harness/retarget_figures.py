"""The retarget tests' figures (also drawn in the README's before/after strip): a driver and a reference of known,
different proportions, from the pack's synthetic motion renderer."""
from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from magic_core.motion import render_part_indices
from magic_core.motion.body_parts import PARTS

LIMBS = ("upper arm", "lower arm", "upper leg", "lower leg")
# part -> (length factor, width factor) against the renderer's default body.
DRIVER = {"head": (0.9, 0.9), **{f"{s} {p}": (1.2, 0.8) for s in ("left", "right") for p in LIMBS}}
REFERENCE = {"torso": (1.15, 1.3), "head": (1.1, 1.15),
             **{f"{s} {p}": (0.9, 1.25) for s in ("left", "right") for p in LIMBS},
             **{f"{s} {p}": (1.2, 1.15) for s in ("left", "right") for p in ("hand", "foot")}}


def overlaps_another_part(labels: np.ndarray, name: str) -> bool:
    """Whether the part touches a part other than its parent and children: then its visible size depends on how
    the two overlap, not on the proportions alone."""
    near = {name, PARTS[name][1]} | {n for n, (_, parent) in PARTS.items() if parent == name}
    ys, xs = np.nonzero(np.isin(labels, PARTS[name][0]))
    if xs.size == 0:
        return False
    window = labels[max(ys.min() - 1, 0):ys.max() + 2, max(xs.min() - 1, 0):xs.max() + 2]  # the part and 1 px
    grown = ndimage.binary_dilation(np.isin(window, PARTS[name][0]))
    others = [i for n, (ids, _) in PARTS.items() if n not in near for i in ids]
    return bool(np.isin(window[grown], others).any())


def retarget_figures(motion: str, seed: int, frames: int = 8,
                     scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(driver labels [frames, 288, 288], truth: the reference body in the driver's pose [frames, 240, 220], the
    reference photo's labels [1, 240, 220]: the reference body in a frame where every part is in full view); all
    sizes times ``scale``."""
    size = round(288 * scale)
    driver = render_part_indices(size, size, frames, motion, seed, DRIVER)
    truth = render_part_indices(round(220 * scale), round(240 * scale), 24, motion, seed, REFERENCE)
    photo = next(f for f in range(24) if not any(overlaps_another_part(truth[f].numpy(), n) for n in PARTS))
    return driver, truth[:frames], truth[photo:photo + 1]
