"""Aligning a driver's DensePose to the reference person: one similarity transform for the whole sequence.

The driver's body box is the median, over the first `FIRST_FRAMES` frames that show a body, of each frame's box
of non-background pixels; the reference's is the box in the reference DensePose (its first frame). The
transform matches the box heights (``scale_and_position``; ``position`` keeps the scale) and puts the driver
box's bottom centre on the reference box's; the output has the reference's size (the animation is framed like
the reference photo). Pixels are moved in label space with nearest sampling, so colours stay palette colours;
uncovered pixels are background.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..errors import MagicAnimateError
from ..image_batch import check_frames
from ..notices import ALIGN_NO_PERSON, NoticeBoard, warn
from .align_retarget import retarget_motion
from .codec import decode_labels, render_labels

log = logging.getLogger(__name__)

ALIGN_MODES = ("off", "position", "scale_and_position", "retarget")
FIRST_FRAMES = 8


@dataclass(frozen=True)
class Box:
    """A body box in pixel edges: columns x0..x1, rows y0..y1 (x1, y1 exclusive)."""
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def bottom_centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, self.y1


def body_box(labels: torch.Tensor) -> Box | None:
    """The box of a ``[H, W]`` label map's non-background pixels (None when there are none)."""
    rows = torch.nonzero((labels > 0).any(dim=1)).flatten()
    cols = torch.nonzero((labels > 0).any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return Box(float(cols[0]), float(rows[0]), float(cols[-1]) + 1, float(rows[-1]) + 1)


def median_box(labels: torch.Tensor, first: int = FIRST_FRAMES) -> Box | None:
    """Per-coordinate median of the boxes of the first ``first`` frames that show a body."""
    boxes = []
    for frame in labels:
        box = body_box(frame)
        if box is not None:
            boxes.append((box.x0, box.y0, box.x1, box.y1))
        if len(boxes) == first:
            break
    if not boxes:
        return None
    return Box(*torch.tensor(boxes).median(dim=0).values.tolist())


def transform_labels(labels: torch.Tensor, scale: float, shift: tuple[float, float], height: int,
                     width: int) -> torch.Tensor:
    """``[F, h, w]`` labels moved by ``out = scale * in + shift`` (pixel-edge coordinates) onto a
    ``height`` x ``width`` canvas; nearest sampling at pixel centres, uncovered pixels 0."""
    ys = (torch.arange(height, dtype=torch.float64) + 0.5 - shift[1]) / scale
    xs = (torch.arange(width, dtype=torch.float64) + 0.5 - shift[0]) / scale
    yi, xi = ys.floor().long(), xs.floor().long()
    valid = ((yi >= 0) & (yi < labels.shape[1]))[:, None] & ((xi >= 0) & (xi < labels.shape[2]))[None, :]
    out = labels[:, yi.clamp(0, labels.shape[1] - 1)][:, :, xi.clamp(0, labels.shape[2] - 1)]
    return out * valid.to(labels.device)


def align_motion(motion: torch.Tensor, reference_densepose: torch.Tensor, mode: str = "scale_and_position",
                 notices: NoticeBoard | None = None) -> torch.Tensor:
    """The driver's DensePose moved (and scaled) so its body lands on the reference person's body box."""
    if mode not in ALIGN_MODES:
        raise MagicAnimateError(f"MagicAnimate align motion: mode must be one of {ALIGN_MODES}, got {mode!r}.")
    motion = check_frames(motion, "align motion")
    if mode == "off":
        return motion
    reference = check_frames(reference_densepose, "align motion reference_densepose")
    ref_box = body_box(decode_labels(reference[0]))
    labels = decode_labels(motion)
    drv_box = median_box(labels)
    for box, what in ((ref_box, "reference_densepose"), (drv_box, "any motion frame")):
        if box is None:
            warn(notices, ALIGN_NO_PERSON, what=what)
            return motion
    height, width = reference.shape[1:3]
    if mode == "retarget":
        out = retarget_motion(labels.long().cpu(), decode_labels(reference[0]).long().cpu(),
                              ref_box.height / drv_box.height, ref_box.bottom_centre, height, width, notices)
        if out is not None:
            return render_labels(out).to(motion.device)
        mode = "scale_and_position"
    scale = ref_box.height / drv_box.height if mode == "scale_and_position" else 1.0
    (dx, dy), (rx, ry) = drv_box.bottom_centre, ref_box.bottom_centre
    shift = (rx - scale * dx, ry - scale * dy)
    log.info("MagicAnimate align motion (%s): scale %.3f, shift x %+.1f px, y %+.1f px; driver box %s -> "
             "reference box %s", mode, scale, shift[0], shift[1], drv_box, ref_box)
    return render_labels(transform_labels(labels, scale, shift, height, width)).to(motion.device)
