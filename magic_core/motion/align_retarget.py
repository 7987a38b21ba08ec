"""`MagicAnimateAlignMotion` mode ``retarget``: the checks, fallbacks and anchoring around `retarget`.

The reference must show the torso, the head and a lower leg or a foot (a body from head to ground), else a warning
names what it shows and ``scale_and_position`` is used. Parts the driver shows but the reference does not keep the
driver's proportions scaled by the body height ratio (a warning names them). The redrawn figure is anchored as
``scale_and_position`` anchors it: the bottom centre of its median box over the first frames lands on the
reference box's bottom centre.
"""
from __future__ import annotations

import logging

import numpy as np
import torch
from scipy import ndimage

from ..notices import RETARGET_DONE, RETARGET_FALLBACK, RETARGET_UNMEASURED, NoticeBoard, warn
from .body_parts import measure_frame, part_masks
from .part_sizes import FIRST_FRAMES, measure_driver, reference_sizes
from .retarget import draw_frame, part_transforms

log = logging.getLogger(__name__)
GAP_SHARE = 0.01
GROUND_PARTS = ("right lower leg", "left lower leg", "right foot", "left foot")


def reference_gap(ref_pose: dict) -> str | None:
    """What the reference lacks for retargeting (None when it shows enough)."""
    if "torso" not in ref_pose or "head" not in ref_pose or not any(p in ref_pose for p in GROUND_PARTS):
        return "the torso, the head and a lower leg or a foot"
    return None


def enclosed_holes(labels: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(background regions numbered, the sizes of those that do not reach the canvas edge, by number)."""
    regions, count = ndimage.label(labels == 0)
    sizes = np.bincount(regions.ravel(), minlength=count + 1)
    edge = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
    sizes[edge] = 0
    sizes[0] = 0
    return regions, sizes.tolist()


def close_gaps(labels: torch.Tensor, driver: torch.Tensor, area_ratio: float) -> torch.Tensor:
    """Fill the enclosed background gaps the redrawing opened (where parts parted at joints or a hidden part
    shows): each takes its nearest body pixel's label. A gap is an enclosed region smaller than `GAP_SHARE` of
    the figure and than a quarter of the driver frame's smallest enclosed hole (scaled), so the driver's own holes
    (an arm on the hip) stay open."""
    out = labels.numpy()
    regions, sizes = enclosed_holes(out)
    if not any(sizes):
        return labels
    own = [s for s in enclosed_holes(driver.numpy())[1] if s > 4]  # a driver hole of a few pixels is noise
    limit = min(GAP_SHARE * int((out > 0).sum()), 0.25 * area_ratio * min(own) if own else float("inf"))
    gaps = np.isin(regions, [i for i, s in enumerate(sizes) if 0 < s <= limit])
    if not gaps.any():
        return labels
    _, (iy, ix) = ndimage.distance_transform_edt(out == 0, return_indices=True)
    filled = out.copy()
    filled[gaps] = out[iy[gaps], ix[gaps]]
    return torch.from_numpy(filled)


def _anchor_shift(labels: torch.Tensor, transforms: list[dict], ref_bottom: tuple[float, float]) -> torch.Tensor:
    boxes = []
    for frame, tr in zip(labels, transforms, strict=False):
        masks = part_masks(frame)
        pts = [tr[n](torch.stack(torch.nonzero(masks[n], as_tuple=True)[::-1], 1).double() + 0.5)
               for n in tr]
        if pts:
            allp = torch.cat(pts)
            boxes.append(torch.cat([allp.min(0).values - 0.5, allp.max(0).values + 0.5]))
        if len(boxes) == FIRST_FRAMES:
            break
    box = torch.stack(boxes).median(dim=0).values
    return torch.tensor(ref_bottom, dtype=torch.float64) - torch.stack([(box[0] + box[2]) / 2, box[3]])


def retarget_motion(labels: torch.Tensor, ref_labels: torch.Tensor, height_ratio: float,
                    ref_bottom: tuple[float, float], height: int, width: int,
                    notices: NoticeBoard | None = None) -> torch.Tensor | None:
    """``[F, H, W]`` driver labels redrawn with the reference's proportions on a ``height`` x ``width`` canvas;
    None (after a warning) when the reference shows too little to measure."""
    ref_pose = measure_frame(ref_labels)
    gap = reference_gap(ref_pose)
    if gap is not None:
        shown = ", ".join(ref_pose) or "no body part"
        warn(notices, RETARGET_FALLBACK, needed=gap, what="reference_densepose", shown=shown)
        return None
    poses = [measure_frame(frame) for frame in labels]
    driver = measure_driver(poses, ref_pose)
    reference = reference_sizes(ref_pose)
    scales, unmeasured = {}, []
    for name, (length, wid) in driver.items():
        if name in reference:
            scales[name] = (reference[name][0] / length, reference[name][1] / wid)
        else:
            unmeasured.append(name)
    if unmeasured:
        warn(notices, RETARGET_UNMEASURED, parts=", ".join(unmeasured), ratio=height_ratio)
    transforms = [part_transforms(pose, scales, height_ratio) for pose in poses]
    shift = _anchor_shift(labels, transforms, ref_bottom)
    out = torch.stack([close_gaps(draw_frame(frame, pose, tr, shift, height, width), frame, height_ratio ** 2)
                       for frame, pose, tr in zip(labels, poses, transforms, strict=True)])
    ratios = [s[0] for s in scales.values()] or [height_ratio]
    log.info("MagicAnimate align motion (retarget): part scales %s", {n: tuple(round(v, 3) for v in s)
                                                                     for n, s in scales.items()})
    warn(notices, RETARGET_DONE, frames=labels.shape[0], low=min(ratios), high=max(ratios))
    return out
