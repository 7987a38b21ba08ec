"""Synthetic DensePose motion: a simple moving figure drawn in MagicAnimate's DensePose colours (demos, tests,
the synthetic training set)."""
from __future__ import annotations

import math

import torch

from ..errors import MagicAnimateError
from .codec import render_labels

MOTIONS = ("walk", "wave", "turn")

# Capsules (joint a, joint b, radius factor, part index) drawn back to front; indices are DensePose's
# fine parts: 1/2 torso, 23/24 head, 15-22 arms, 7-14 legs, 3/4 hands, 5/6 feet.
_CAPSULES = (
    ("hip", "neck", 0.55, 2), ("l_hip", "l_knee", 0.30, 8), ("l_knee", "l_ankle", 0.24, 12),
    ("l_ankle", "l_toe", 0.16, 5), ("r_hip", "r_knee", 0.30, 7), ("r_knee", "r_ankle", 0.24, 11),
    ("r_ankle", "r_toe", 0.16, 6), ("hip", "neck", 0.50, 1), ("l_shoulder", "l_elbow", 0.20, 15),
    ("l_elbow", "l_wrist", 0.17, 19), ("l_wrist", "l_hand", 0.14, 4), ("r_shoulder", "r_elbow", 0.20, 16),
    ("r_elbow", "r_wrist", 0.17, 20), ("r_wrist", "r_hand", 0.14, 3), ("neck", "head", 0.42, 23),
)


def _pose(motion: str, phase: float) -> tuple[dict[str, tuple[float, float]], float]:
    """Joint positions in body units (y down, hip at origin) and the torso's facing (1 = front, -1 = back)."""
    swing = math.sin(2 * math.pi * phase)
    facing = 1.0
    leg, arm = 0.0, 0.0
    r_arm_raise, width = 0.0, 1.0
    if motion == "walk":
        leg, arm = 0.45 * swing, 0.5 * swing
    elif motion == "wave":
        r_arm_raise, arm = 1.0, 0.0
    elif motion == "turn":
        width = math.cos(2 * math.pi * phase)
        facing = 1.0 if width >= 0 else -1.0
        width = max(abs(width), 0.25)
    j: dict[str, tuple[float, float]] = {"hip": (0.0, 0.0), "neck": (0.0, -1.5), "head": (0.0, -2.1)}
    for side, s in (("l", -1.0), ("r", 1.0)):
        hip = (0.3 * s * width, 0.0)
        a = (leg if side == "l" else -leg)
        knee = (hip[0] + 0.9 * math.sin(a), hip[1] + 0.9 * math.cos(a))
        ankle = (knee[0] + 0.85 * math.sin(a * 0.6), knee[1] + 0.85 * math.cos(a * 0.6))
        shoulder = (0.45 * s * width, -1.35)
        if side == "r" and r_arm_raise:
            wave = 0.6 * swing
            elbow = (shoulder[0] + 0.55, shoulder[1] - 0.45)
            wrist = (elbow[0] + 0.25 * math.sin(wave) + 0.1, elbow[1] - 0.6 * math.cos(wave))
        else:
            b = -arm if side == "l" else arm
            elbow = (shoulder[0] + 0.2 * s * width + 0.7 * math.sin(b), shoulder[1] + 0.7 * math.cos(b))
            wrist = (elbow[0] + 0.65 * math.sin(b * 1.3), elbow[1] + 0.65 * math.cos(b * 1.3))
        hand = (wrist[0] + 0.3 * (wrist[0] - elbow[0]), wrist[1] + 0.3 * (wrist[1] - elbow[1]))
        j.update({f"{side}_hip": hip, f"{side}_knee": knee, f"{side}_ankle": ankle,
                  f"{side}_toe": (ankle[0] + 0.25 * s * width + 0.1, ankle[1] + 0.05),
                  f"{side}_shoulder": shoulder, f"{side}_elbow": elbow, f"{side}_wrist": wrist, f"{side}_hand": hand})
    return j, facing


# Bones (parent joint, joint, body part): re-chained with each part's length factor for other proportions.
_BONES = (
    ("hip", "neck", "torso"), ("hip", "l_hip", "torso"), ("hip", "r_hip", "torso"), ("hip", "l_shoulder", "torso"),
    ("hip", "r_shoulder", "torso"), ("neck", "head", "head"), ("l_shoulder", "l_elbow", "left upper arm"),
    ("l_elbow", "l_wrist", "left lower arm"), ("l_wrist", "l_hand", "left hand"),
    ("r_shoulder", "r_elbow", "right upper arm"), ("r_elbow", "r_wrist", "right lower arm"),
    ("r_wrist", "r_hand", "right hand"), ("l_hip", "l_knee", "left upper leg"), ("l_knee", "l_ankle", "left lower leg"),
    ("l_ankle", "l_toe", "left foot"), ("r_hip", "r_knee", "right upper leg"), ("r_knee", "r_ankle", "right lower leg"),
    ("r_ankle", "r_toe", "right foot"),
)
_PART_NAMES = {1: "torso", 2: "torso", 23: "head", 24: "head", 15: "left upper arm", 19: "left lower arm",
               4: "left hand",
               16: "right upper arm", 20: "right lower arm", 3: "right hand", 8: "left upper leg",
               12: "left lower leg", 5: "left foot", 7: "right upper leg", 11: "right lower leg", 6: "right foot"}


def _reshape(joints: dict[str, tuple[float, float]], body: dict[str, tuple[float, float]]) -> dict:
    """Joints with every bone's length times its part's length factor (the torso's across it: its width)."""
    out = {"hip": joints["hip"]}
    for parent, joint, part in _BONES:
        length, wid = body.get(part, (1.0, 1.0))
        dx, dy = joints[joint][0] - joints[parent][0], joints[joint][1] - joints[parent][1]
        fx, fy = (wid, length) if part == "torso" else (length, length)
        out[joint] = (out[parent][0] + fx * dx, out[parent][1] + fy * dy)
    return out


def render_part_indices(width: int, height: int, frame_count: int, motion: str, seed: int,
                        body: dict[str, tuple[float, float]] | None = None) -> torch.Tensor:
    """``[frames, H, W]`` int64 maps of DensePose fine-part indices (0 = background) of a moving figure;
    ``body`` maps part names (``body_parts.PARTS``) to (length, width) factors for other proportions."""
    if motion not in MOTIONS:
        raise MagicAnimateError(f"MagicAnimate motion: motion must be one of {MOTIONS}, got {motion!r}.")
    if frame_count < 1:
        raise MagicAnimateError(f"MagicAnimate motion: frame_count must be at least 1, got {frame_count}.")
    rng = torch.Generator().manual_seed(int(seed))
    r = torch.rand(5, generator=rng)
    unit = min(width, height) / (5.2 + 0.8 * r[0].item())      # body units -> pixels
    cx = width * (0.42 + 0.16 * r[1].item())
    cy = height * 0.52
    period = 12 + int(12 * r[2].item())                          # frames per motion cycle
    phase0 = r[3].item()
    thickness = 0.9 + 0.2 * r[4].item()
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32) + 0.5,
                            torch.arange(width, dtype=torch.float32) + 0.5, indexing="ij")
    out = torch.zeros(frame_count, height, width, dtype=torch.int64)
    for f in range(frame_count):
        phase = phase0 + f / period
        joints, facing = _pose(motion, phase)
        if body:
            joints = _reshape(joints, body)
        drift = 0.08 * width * math.sin(2 * math.pi * phase / 2) if motion == "walk" else 0.0
        bob = 0.03 * unit * abs(math.sin(2 * math.pi * phase)) if motion == "walk" else 0.0
        px = {k: (cx + drift + unit * x, cy - bob + unit * y) for k, (x, y) in joints.items()}
        for a, b, radius, part in _CAPSULES:
            if facing < 0 and part in (1, 23):
                part = part + 1  # back of torso / head
            wide = body.get(_PART_NAMES[part], (1.0, 1.0))[1] if body else 1.0
            mask = _capsule_mask(xs, ys, px[a], px[b], radius * thickness * unit * 0.5 * wide)
            out[f][mask] = part
    return out


def _capsule_mask(xs: torch.Tensor, ys: torch.Tensor, a: tuple[float, float], b: tuple[float, float],
                  radius: float) -> torch.Tensor:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = max(dx * dx + dy * dy, 1e-6)
    t = (((xs - ax) * dx + (ys - ay) * dy) / length2).clamp(0, 1)
    return (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius * radius


def render_synthetic_motion(width: int, height: int, frame_count: int, motion: str, seed: int) -> torch.Tensor:
    """DensePose-style renderings of a simple moving figure, deterministic per seed."""
    return render_labels(render_part_indices(width, height, frame_count, motion, seed))
