"""Retargeting: the driver's DensePose redrawn part by part with the reference's body proportions.

Each part's length and width ratio (reference / driver) comes from `part_sizes`. In every driver frame, each part
is scaled along its own axis (length ratio) and across it (width ratio) about its joint, and moved with its parent:
the torso is scaled about its lower end, every other part's joint goes where its parent's transform puts it (torso
first, then outwards), so lengths and widths are the reference's and the joint angles stay the driver's. The
redrawing samples each part's outline bilinearly through its inverse transform and its labels nearest (so colours
stay palette colours); where a part was hidden behind another one in the driver (inside the part's outline), the
part is drawn underneath the others, so no hole opens where the hiding part moved away.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .body_parts import PARTS, PartPose, part_masks

DRAW_ORDER = ("right upper leg", "left upper leg", "right lower leg", "left lower leg", "right foot", "left foot",
              "torso", "head", "right upper arm", "left upper arm", "right lower arm", "left lower arm",
              "right hand", "left hand")


@dataclass(frozen=True)
class Affine:
    """``out = matrix @ x + offset`` in pixel coordinates."""
    matrix: torch.Tensor
    offset: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T + self.offset

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.offset) @ torch.linalg.inv(self.matrix).T


def part_transforms(pose: dict[str, PartPose], scales: dict[str, tuple[float, float]],
                    fallback: float) -> dict[str, Affine]:
    """Each shown part's transform in one frame (parents first; a part whose parent is not shown hangs from the
    nearest shown ancestor, or is scaled by ``fallback`` about the origin)."""
    out: dict[str, Affine] = {}
    for name in PARTS:
        if name not in pose:
            continue
        p = pose[name]
        normal = torch.stack([-p.axis[1], p.axis[0]])
        rot = torch.stack([p.axis, normal], dim=1)
        s_len, s_wid = scales.get(name, (fallback, fallback))
        matrix = rot @ torch.diag(torch.tensor([s_len, s_wid], dtype=torch.float64)) @ rot.T
        ancestor = PARTS[name][1]
        while ancestor is not None and ancestor not in out:
            ancestor = PARTS[ancestor][1]
        joint_out = out[ancestor](p.joint[None])[0] if ancestor else p.joint * (fallback if name != "torso" else 1)
        out[name] = Affine(matrix, joint_out - matrix @ p.joint)
    return out


def _outline(mask: torch.Tensor, pose: PartPose) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per 1-px step along the part's axis (from its joint), the (min, max) distance across it of its pixels."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    rel = torch.stack([xs, ys], 1).double() + 0.5 - pose.joint
    u = (rel @ pose.axis).floor().long()
    v = rel @ torch.stack([-pose.axis[1], pose.axis[0]])
    start = int(u.min())
    bins = int(u.max()) - start + 1
    lo = torch.full((bins,), float("inf"), dtype=torch.float64).scatter_reduce(0, u - start, v, "amin")
    hi = torch.full((bins,), float("-inf"), dtype=torch.float64).scatter_reduce(0, u - start, v, "amax")
    return lo, hi, start


def _bilinear(mask: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``mask`` (0/1, outside 0) interpolated bilinearly at pixel coordinates ``points`` [N, 2]: a part's outline
    resampled smoothly (nearest sampling would put the source's pixel steps into the scaled part's edges)."""
    h, w = mask.shape
    f = points - 0.5
    base = f.floor()
    t = f - base
    x0, y0 = base[:, 0].long(), base[:, 1].long()
    value = torch.zeros(points.shape[0], dtype=torch.float64)
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = x0 + dx, y0 + dy
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        weight = (t[:, 0] if dx else 1 - t[:, 0]) * (t[:, 1] if dy else 1 - t[:, 1])
        value += weight * (mask[y.clamp(0, h - 1), x.clamp(0, w - 1)] & inside).double()
    return value


def draw_frame(labels: torch.Tensor, pose: dict[str, PartPose], transforms: dict[str, Affine],
               shift: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The driver frame ``labels`` redrawn with ``transforms`` (then moved by ``shift``) on a new canvas."""
    h, w = labels.shape
    masks = part_masks(labels)
    hidden = torch.zeros(height, width, dtype=labels.dtype)
    canvas = torch.zeros(height, width, dtype=labels.dtype)
    for name in DRAW_ORDER:
        if name not in transforms:
            continue
        ys, xs = torch.nonzero(masks[name], as_tuple=True)
        corners = torch.tensor([[xs.min(), ys.min()], [xs.max() + 1, ys.min()], [xs.min(), ys.max() + 1],
                                [xs.max() + 1, ys.max() + 1]], dtype=torch.float64)
        box = transforms[name](corners) + shift
        x0, y0 = [max(int(v) - 2, 0) for v in box.min(0).values.floor().tolist()]
        x1, y1 = int(min(box[:, 0].max() + 3, width)), int(min(box[:, 1].max() + 3, height))
        if x0 >= x1 or y0 >= y1:
            continue
        gy, gx = torch.meshgrid(torch.arange(y0, y1), torch.arange(x0, x1), indexing="ij")
        out_pts = torch.stack([gx, gy], -1).reshape(-1, 2).double() + 0.5
        src = transforms[name].inverse(out_pts - shift)
        ix, iy = src[:, 0].floor().long(), src[:, 1].floor().long()
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        lab = labels[iy.clamp(0, h - 1), ix.clamp(0, w - 1)] * inside
        nearest_own = torch.isin(lab, torch.tensor(PARTS[name][0]))
        own = (_bilinear(masks[name], src) >= 0.5).reshape(gy.shape)
        main_label = labels[masks[name]].mode().values
        patch = canvas[y0:y1, x0:x1]
        canvas[y0:y1, x0:x1] = torch.where(own, torch.where(nearest_own, lab, main_label).reshape(gy.shape), patch)
        lo, hi, start = _outline(masks[name], pose[name])
        rel = src - pose[name].joint
        u = (rel @ pose[name].axis).floor().long() - start
        v = rel @ torch.stack([-pose[name].axis[1], pose[name].axis[0]])
        ok = (u >= 0) & (u < lo.shape[0])
        within = ok & (v >= lo[u.clamp(0, lo.shape[0] - 1)]) & (v <= hi[u.clamp(0, lo.shape[0] - 1)])
        covered = (within & (lab > 0) & ~nearest_own).reshape(gy.shape) & ~own
        region = hidden[y0:y1, x0:x1]
        hidden[y0:y1, x0:x1] = torch.where(covered & (region == 0), main_label, region)
    return torch.where(canvas > 0, canvas, hidden)

