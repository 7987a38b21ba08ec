"""Motion input: sizing and selecting DensePose frames, and synthetic DensePose renderings for demos/tests.

IMAGE tensors are ComfyUI's ``[frames, H, W, C]`` float 0..1.  DensePose renderings follow SPEC §2: each
pixel's fine body-part index I (1..24, 0 = background) is shown as OpenCV's VIRIDIS colour of the grey
value ``uint8(I * 255 / 24)``; the background is viridis at 0, RGB (68, 1, 84).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FIT_MODES = ("crop", "pad", "stretch")
MOTIONS = ("walk", "wave", "turn")
DENSEPOSE_BACKGROUND = (68, 1, 84)

# OpenCV COLORMAP_VIRIDIS at uint8(I * 255 / 24) for part index I = 0..24, as RGB.
PART_COLORS = torch.tensor([
    [68, 1, 84], [71, 16, 99], [72, 31, 112], [71, 44, 122], [68, 57, 131], [64, 70, 136], [59, 81, 139],
    [54, 93, 141], [49, 104, 142], [44, 113, 142], [40, 124, 142], [37, 133, 142], [33, 144, 141],
    [31, 154, 138], [32, 163, 134], [39, 173, 129], [53, 183, 121], [70, 192, 111], [92, 200, 99],
    [115, 208, 86], [142, 214, 69], [170, 220, 50], [197, 224, 33], [226, 228, 24], [253, 231, 37],
], dtype=torch.uint8)


def check_frames(frames: torch.Tensor, name: str = "frames") -> torch.Tensor:
    """Validate an IMAGE batch and return its RGB channels (an alpha channel is dropped)."""
    if frames.ndim != 4:
        raise ValueError(f"{name}: expected an IMAGE batch [frames, height, width, channels], "
                         f"got a tensor of shape {tuple(frames.shape)}.")
    if frames.shape[0] == 0:
        raise ValueError(f"{name}: the IMAGE batch is empty (0 frames); connect a video or image with frames.")
    if frames.shape[-1] == 4:
        frames = frames[..., :3]
    if frames.shape[-1] != 3:
        raise ValueError(f"{name}: expected RGB frames (3 channels), got {frames.shape[-1]} channels; "
                         "convert the DensePose frames to RGB images.")
    return frames


def select_frames(frames: torch.Tensor, start_frame: int, frame_count: int, every_nth: int) -> torch.Tensor:
    """Frames ``start_frame, start_frame + every_nth, ...``; at most ``frame_count`` of them (0 = all)."""
    if every_nth < 1:
        raise ValueError(f"every_nth must be at least 1, got {every_nth}.")
    if not 0 <= start_frame < frames.shape[0]:
        raise ValueError(f"start_frame {start_frame} is outside the input's {frames.shape[0]} frames "
                         f"(valid: 0..{frames.shape[0] - 1}); set start_frame to a frame inside the video.")
    chosen = frames[start_frame::every_nth]
    return chosen[:frame_count] if frame_count > 0 else chosen


def fit_frames(frames: torch.Tensor, width: int, height: int, fit: str) -> torch.Tensor:
    """Resize frames to ``width`` x ``height``: ``crop`` (cover, centre crop), ``pad`` (contain, padded with the
    DensePose background colour) or ``stretch`` (ignore the aspect ratio)."""
    if fit not in FIT_MODES:
        raise ValueError(f"fit must be one of {FIT_MODES}, got {fit!r}.")
    for label, value in (("width", width), ("height", height)):
        if value < 8 or value % 8:
            raise ValueError(f"{label} {value} is not a positive multiple of 8 (the VAE works in 8-pixel steps); "
                             f"use e.g. {max(8, round(value / 8) * 8)}.")
    src_h, src_w = frames.shape[1:3]
    if fit == "stretch":
        return _resize(frames, height, width)
    scale = (max if fit == "crop" else min)(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    resized = _resize(frames, new_h, new_w)
    if fit == "crop":
        top, left = (new_h - height) // 2, (new_w - width) // 2
        return resized[:, top:top + height, left:left + width]
    out = torch.empty(frames.shape[0], height, width, 3, dtype=frames.dtype, device=frames.device)
    out[:] = torch.tensor(DENSEPOSE_BACKGROUND, dtype=frames.dtype) / 255.0
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[:, top:top + new_h, left:left + new_w] = resized
    return out


def _resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if frames.shape[1:3] == (height, width):
        return frames.clone()
    x = frames.movedim(-1, 1).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return x.movedim(1, -1).clamp(0, 1).to(frames.dtype)


def prepare_motion(frames: torch.Tensor, width: int, height: int, fit: str, start_frame: int = 0,
                   frame_count: int = 0, every_nth: int = 1) -> torch.Tensor:
    """Select and size DensePose frames for the ControlNet hints and the latent (one call, one frame count)."""
    frames = check_frames(frames)
    return fit_frames(select_frames(frames, start_frame, frame_count, every_nth), width, height, fit)


# --- synthetic DensePose renderings -----------------------------------------------------------------
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


def render_part_indices(width: int, height: int, frame_count: int, motion: str, seed: int) -> torch.Tensor:
    """``[frames, H, W]`` int64 maps of DensePose fine-part indices (0 = background) of a moving figure."""
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {motion!r}.")
    if frame_count < 1:
        raise ValueError(f"frame_count must be at least 1, got {frame_count}.")
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
        drift = 0.08 * width * math.sin(2 * math.pi * phase / 2) if motion == "walk" else 0.0
        bob = 0.03 * unit * abs(math.sin(2 * math.pi * phase)) if motion == "walk" else 0.0
        px = {k: (cx + drift + unit * x, cy - bob + unit * y) for k, (x, y) in joints.items()}
        for a, b, radius, part in _CAPSULES:
            if facing < 0 and part in (1, 23):
                part = part + 1  # back of torso / head
            mask = _capsule_mask(xs, ys, px[a], px[b], radius * thickness * unit * 0.5)
            out[f][mask] = part
    return out


def _capsule_mask(xs: torch.Tensor, ys: torch.Tensor, a: tuple[float, float], b: tuple[float, float],
                  radius: float) -> torch.Tensor:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = max(dx * dx + dy * dy, 1e-6)
    t = (((xs - ax) * dx + (ys - ay) * dy) / length2).clamp(0, 1)
    return (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2 <= radius * radius


def colorize_parts(parts: torch.Tensor) -> torch.Tensor:
    """Part-index maps -> IMAGE ``[frames, H, W, 3]`` in 0..1 with the viridis DensePose colours."""
    return PART_COLORS[parts].float() / 255.0


def render_synthetic_motion(width: int, height: int, frame_count: int, motion: str, seed: int) -> torch.Tensor:
    """DensePose-style renderings of a simple moving figure, deterministic per seed."""
    return colorize_parts(render_part_indices(width, height, frame_count, motion, seed))
