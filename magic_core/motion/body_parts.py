"""DensePose body parts as a tree of rigid segments, measured in one label frame.

The 24 fine labels group into 14 parts (front and back labels together). Each part hangs from its parent at a
joint (torso first, then outwards). In a frame, a part's joint is the mean of its pixels that touch the parent's
(or, with no contact, the end of its long axis nearest the torso); its axis is its long axis, pointing away from
the joint (for a roundish part: from the joint to its centroid; the torso's points to the head); its length and
width are ``sqrt(12)`` times the standard deviation of its pixel centres along and across the axis (exact for a
filled rectangle, and proportional for any shape, so ratios are sub-pixel accurate). A part that touches another
part than its parent and children is not ``clear``: some of it may be hidden, so its visible size is not its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# part name -> (its DensePose fine labels, its parent); listed parents first.
PARTS: dict[str, tuple[tuple[int, ...], str | None]] = {
    "torso": ((1, 2), None), "head": ((23, 24), "torso"),
    "right upper arm": ((16, 18), "torso"), "left upper arm": ((15, 17), "torso"),
    "right lower arm": ((20, 22), "right upper arm"), "left lower arm": ((19, 21), "left upper arm"),
    "right hand": ((3,), "right lower arm"), "left hand": ((4,), "left lower arm"),
    "right upper leg": ((7, 9), "torso"), "left upper leg": ((8, 10), "torso"),
    "right lower leg": ((11, 13), "right upper leg"), "left lower leg": ((12, 14), "left upper leg"),
    "right foot": ((6,), "right lower leg"), "left foot": ((5,), "left lower leg"),
}
MIN_PIXELS = 6  # fewer pixels than this: the part is not shown
SQRT12 = 12 ** 0.5
ELONGATED = 1.5  # long/short spread ratio above which the long axis is the part's axis


@dataclass(frozen=True)
class PartPose:
    """One part in one frame (pixel coordinates, x right, y down)."""
    joint: torch.Tensor      # [2] the joint with the parent (the torso: its lower end)
    axis: torch.Tensor       # [2] unit vector along the part, away from the joint
    length: float
    width: float
    clear: bool = True       # touches no part but its parent and children (its visible size is its own)


def part_masks(labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``[H, W]`` labels -> each part's bool mask."""
    return {name: torch.isin(labels, torch.tensor(ids, device=labels.device)) for name, (ids, _) in PARTS.items()}


def _points(mask: torch.Tensor) -> torch.Tensor:
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return torch.stack([xs, ys], dim=1).double() + 0.5


def _extents(points: torch.Tensor, origin: torch.Tensor, axis: torch.Tensor) -> tuple[float, float]:
    normal = torch.stack([-axis[1], axis[0]])
    rel = points - origin
    return SQRT12 * float((rel @ axis).std()), SQRT12 * float((rel @ normal).std())


def _long_axis(points: torch.Tensor) -> torch.Tensor:
    centred = points - points.mean(0)
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return vectors[:, -1]


def _elongated(points: torch.Tensor) -> bool:
    """A clear long axis: the long spread at least `ELONGATED` times the short one."""
    centred = points - points.mean(0)
    values = torch.linalg.eigvalsh(centred.T @ centred)
    return bool(values[1] >= ELONGATED ** 2 * values[0].clamp(min=1e-9))


def measure_frame(labels: torch.Tensor) -> dict[str, PartPose]:
    """The pose of every part shown in one ``[H, W]`` label frame."""
    masks = part_masks(labels)
    shown = {n: m for n, m in masks.items() if int(m.sum()) >= MIN_PIXELS}
    poses: dict[str, PartPose] = {}
    torso_centre = _points(shown["torso"]).mean(0) if "torso" in shown else None
    for name, mask in shown.items():
        points = _points(mask)
        centre = points.mean(0)
        parent = PARTS[name][1]
        if parent is None:
            axis = _long_axis(points)
            up = (_points(shown["head"]).mean(0) - centre) if "head" in shown else torch.tensor([0.0, -1.0]).double()
            axis = axis if float(axis @ up) >= 0 else -axis
            proj = (points - centre) @ axis
            joint = centre + axis * float(proj.min())
        else:
            joint = _contact(mask, shown.get(parent))
            if joint is None:
                axis = _long_axis(points)
                proj = (points - centre) @ axis
                ends = (centre + axis * float(proj.min()), centre + axis * float(proj.max()))
                target = torso_centre if torso_centre is not None else centre
                joint = min(ends, key=lambda e: float((e - target).norm()))
            axis = _long_axis(points) if _elongated(points) else centre - joint
            if float(axis.norm()) < 1e-6:
                axis = _long_axis(points)
            axis = axis / axis.norm()
            axis = axis if float(axis @ (centre - joint)) >= 0 else -axis
        length, width = _extents(points, joint, axis)
        poses[name] = PartPose(joint, axis, length, width, _clear(name, mask, labels))
    return poses


def _neighbours(name: str) -> set[str]:
    return {name, PARTS[name][1]} | {n for n, (_, parent) in PARTS.items() if parent == name}


def _clear(name: str, mask: torch.Tensor, labels: torch.Tensor) -> bool:
    """Whether the part touches no part other than its parent and children (no overlap that hides some of it)."""
    grown = F.max_pool2d(mask[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    others = [i for n, (ids, _) in PARTS.items() if n not in _neighbours(name) for i in ids]
    return not bool(torch.isin(labels[grown], torch.tensor(others, device=labels.device)).any())


def mirror(name: str) -> str:
    """The same part on the other side (the torso and head are their own)."""
    if name.startswith("left "):
        return "right " + name[5:]
    return "left " + name[6:] if name.startswith("right ") else name


def _contact(mask: torch.Tensor, parent: torch.Tensor | None) -> torch.Tensor | None:
    """The mean of ``mask``'s pixels within one pixel (8-neighbourhood) of ``parent``'s; None without contact."""
    if parent is None:
        return None
    grown = F.max_pool2d(parent[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    touching = mask & grown
    return _points(touching).mean(0) if bool(touching.any()) else None
