"""What a run shows while it trains: validation errors on a held-out folder and a preview grid image.

The held-out folder has the training layout's ``videos/`` + ``videos_densepose/``: in each video, frame 0 is the
reference and the last frame the target (``make-synthetic`` writes one).  The target's silhouette is where its
DensePose is not background.  E_pose swaps in the next video's DensePose, E_ref the next video's reference.
"""
from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..motion import DENSEPOSE_BACKGROUND, fit_frames
from .dataset import checked_video_frames, scan_dataset
from .media import read_frames
from .validation import ValidationErrors, ValidationSet, one_step_images

VALIDATION_FIELDS = ("step", "E", "E_pose", "E_ref")
PREVIEW_ITEMS = 4


def load_validation_set(root: str | Path, width: int, height: int) -> ValidationSet:
    """A :class:`ValidationSet` from a held-out folder (at least 2 videos of at least 2 frames)."""
    entries = [e for e in scan_dataset(root)[0] if e.is_video]
    if len(entries) < 2:
        raise FileNotFoundError(f"validation_root '{root}' needs at least 2 videos (videos/ + videos_densepose/), "
                                f"found {len(entries)}")
    refs, poses, targets = [], [], []
    for entry in entries:
        last = checked_video_frames(entry) - 1
        frames = fit_frames(read_frames(entry.media, [0, last]), width, height, "crop")
        refs.append(frames[:1])
        targets.append(frames[1:])
        poses.append(fit_frames(read_frames(entry.densepose, [last]), width, height, "crop"))
    dense = torch.cat(poses)
    background = torch.tensor(DENSEPOSE_BACKGROUND, dtype=torch.float32) / 255
    masks = (dense - background).abs().sum(-1) > 0.1
    n = len(entries)
    shifted = [(i + 1) % n for i in range(n)]
    return ValidationSet(torch.cat(refs), dense, torch.cat(targets), masks, shifted, shifted)


def append_validation(path: Path, step: int, errors: ValidationErrors) -> None:
    """One row of ``validation.csv`` (header on a new file; rows after ``step`` dropped on resume elsewhere)."""
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=VALIDATION_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({"step": step, **errors.as_row()})


def preview_grid(models, vae, context: torch.Tensor, data: ValidationSet, items: int = PREVIEW_ITEMS,
                 index: int = 700) -> torch.Tensor:
    """``[H*items, W*4, 3]``: per held-out item reference | DensePose | target | one-step prediction."""
    k = min(items, data.targets.shape[0])
    predicted = one_step_images(models, vae, context, data.references[:k], data.densepose[:k], data.targets[:k],
                                index, 0)
    rows = [torch.cat([data.references[i], data.densepose[i], data.targets[i], predicted[i]], dim=1)
            for i in range(k)]
    return torch.cat(rows, dim=0)


def save_png(image: torch.Tensor, path: Path) -> Path:
    """Write an ``[H, W, 3]`` 0..1 image atomically."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray((image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(tmp, format="PNG")
    tmp.replace(path)
    return path
