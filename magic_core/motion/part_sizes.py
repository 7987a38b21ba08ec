"""The part sizes retargeting scales between: the reference's, and the driver's measured in the reference's pose.

How much of a part shows depends on how its neighbours overlap it (a bent elbow hides more of the upper arm)
and, along its chain, on how the limb turns out of the picture; so the driver's size of a part is the median
over those of its first frames whose joint bends along the part's chain from the torso are closest to the
reference's.
"""
from __future__ import annotations

import math

import torch

from .body_parts import PARTS, PartPose, mirror

FIRST_FRAMES = 8
BEND_TOLERANCE = 3.0  # degrees


def bends(pose: dict[str, PartPose], name: str) -> dict[tuple[str, str], float]:
    """The signed angles (degrees) at the joints along ``name``'s chain from the torso and between each child and
    ``name``: the bends that decide how much of the part its neighbours cover and, along the chain, how the limb
    turns out of the picture (a foreshortened forearm and hand go with a bent-up arm)."""
    out = {}
    chain = [(PARTS[name][1], name)]
    while chain[-1][0] is not None:
        chain.append((PARTS[chain[-1][0]][1], chain[-1][0]))
    children = [n for n, (_, parent) in PARTS.items() if parent == name]
    for a, b in chain + [(name, c) for c in children]:
        if a in pose and b in pose:
            u, v = pose[a].axis, pose[b].axis
            out[(a, b)] = math.degrees(math.atan2(float(u[0] * v[1] - u[1] * v[0]), float(u @ v)))
    return out


def _pose_distance(driver: dict[tuple[str, str], float], reference: dict[tuple[str, str], float]) -> float:
    shared = driver.keys() & reference.keys()
    return sum(abs((driver[k] - reference[k] + 180) % 360 - 180) for k in shared) if shared else 0.0


def measure_driver(poses: list[dict[str, PartPose]], ref_pose: dict[str, PartPose]) -> dict[str, tuple[float, float]]:
    """Median (length, width) per part over the first `FIRST_FRAMES` frames showing the most parts (the frames
    where the part is clear; if it never is, its mirror part's clear frames; else all), of those frames where the
    part's joint bends are closest to the reference's (within `BEND_TOLERANCE` degrees of the closest): how much
    of a part shows depends on how its neighbours overlap it, so it is measured in the pose it is measured in on
    the reference."""
    most = max(len(p) for p in poses)
    chosen = [p for p in poses if len(p) == most][:FIRST_FRAMES]
    sizes: dict[str, tuple[float, float]] = {}
    for name in PARTS:
        if not any(name in p for p in poses):
            continue
        want = _reference_bends(ref_pose, name)
        part, frames = _measurable(chosen, name)
        if not frames:
            continue
        flip = -1.0 if part != name else 1.0
        gaps = [_pose_distance({(mirror(a), mirror(b)) if flip < 0 else (a, b): flip * v
                                for (a, b), v in bends(p, part).items()}, want) for p in frames]
        best = min(gaps)
        seen = [(p[part].length, p[part].width) for p, g in zip(frames, gaps, strict=True)
                if g <= best + BEND_TOLERANCE]
        sizes[name] = tuple(torch.tensor(seen, dtype=torch.float64).median(dim=0).values.tolist())
    return sizes


def _measurable(chosen: list[dict[str, PartPose]], name: str) -> tuple[str, list[dict[str, PartPose]]]:
    """(the part to measure, the frames to measure it on): ``name`` where it is clear, else its clear mirror part,
    else ``name`` where shown."""
    for part, clear in ((name, True), (mirror(name), True), (name, False)):
        frames = [p for p in chosen if part in p and (p[part].clear or not clear)]
        if frames:
            return part, frames
    return name, []


def _reference_bends(pose: dict[str, PartPose], name: str) -> dict[tuple[str, str], float]:
    """The bends of the reference part whose size `reference_sizes` takes (its mirror's, mirrored, if it is)."""
    p, twin = pose.get(name), pose.get(mirror(name))
    if p is not None and not p.clear and twin is not None and twin.clear:
        return {(mirror(a), mirror(b)): -v for (a, b), v in bends(pose, mirror(name)).items()}
    return bends(pose, name)


def reference_sizes(pose: dict[str, PartPose]) -> dict[str, tuple[float, float]]:
    """(length, width) per part of the reference; a part that is not clear takes its clear mirror part's."""
    sizes = {}
    for name, p in pose.items():
        twin = pose.get(mirror(name))
        use = twin if not p.clear and twin is not None and twin.clear else p
        sizes[name] = (use.length, use.width)
    return sizes
