"""The block-figure data set: training people as 8-frame videos and stills, and a held-out split.

Training: ``people`` colour combinations, each an 8-frame video (fixed arms/legs, the figure moving one cell a
frame) plus stills of the same people in other poses.  Held out: new colour combinations in poses that no
training frame shows.  Every item gets a caption naming its colours (image-text training).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import figures as fg

COLOUR_NAMES = ("black", "blue", "green", "cyan", "red", "magenta", "yellow", "white")
VIDEO_FRAMES = 8
COMBOS = [(a, g) for a in fg.ARMS for g in fg.LEGS]
# one held-out pose per arms/legs combination, at an edge x so that 8-frame videos can avoid it
HELD_OUT_POSES = tuple(fg.Pose(3 if i < 3 else 12, a, g) for i, (a, g) in enumerate(COMBOS))


@dataclass
class FigureSplit:
    """Colour combinations (head, torso, arms, legs) and poses of each part of the data set."""

    train_people: list[tuple[int, int, int, int]]
    videos: list[list[fg.Pose]]                     # one pose sequence per training person
    stills: list[tuple[int, fg.Pose]]               # (training person, pose)
    held_out_people: list[tuple[int, int, int, int]]
    held_out_poses: list[fg.Pose] = field(default_factory=lambda: list(HELD_OUT_POSES))


def caption(colours: tuple[int, int, int, int]) -> str:
    """The caption of a person: its part colours in words."""
    head, torso, arms, legs = (COLOUR_NAMES[c] for c in colours)
    return f"a figure with a {head} head, a {torso} torso, {arms} arms and {legs} legs"


def make_split(people: int = 24, stills: int = 48, held_out_people: int = 6, frames: int = VIDEO_FRAMES,
               seed: int = 0) -> FigureSplit:
    """A reproducible split; no held-out pose or colour combination appears in training."""
    rng = random.Random(seed)
    combos = set()
    while len(combos) < people + held_out_people:
        combos.add(tuple(rng.sample(range(len(fg.COLOURS)), 4)))
    ordered = sorted(combos)
    rng.shuffle(ordered)
    train, held = ordered[:people], ordered[people:]
    videos = []
    for i in range(people):
        arms, legs = COMBOS[i % len(COMBOS)]
        held_x = HELD_OUT_POSES[i % len(COMBOS)].x
        starts = [s for s in range(fg.X_POSITIONS[0], fg.X_POSITIONS[-1] - frames + 2)
                  if not s <= held_x < s + frames]
        start = rng.choice(starts)
        videos.append([fg.Pose(x, arms, legs) for x in range(start, start + frames)])
    allowed = [p for p in fg.ALL_POSES if p not in HELD_OUT_POSES]
    still_list = [(i % people, rng.choice(allowed)) for i in range(stills)]
    return FigureSplit(train, videos, still_list, held)


def _save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(path)


def write_figure_dataset(root: str | Path, split: FigureSplit, with_captions: bool = True) -> Path:
    """Write the training part of ``split`` in the training layout (PNG frame folders), captions beside."""
    root = Path(root)
    for i, (colours, poses) in enumerate(zip(split.train_people, split.videos, strict=True)):
        name = f"figure{i:03d}"
        for j, pose in enumerate(poses):
            _save_png(fg.render(pose, colours)[0], root / "videos" / name / f"{j:05d}.png")
            _save_png(fg.densepose(pose)[0], root / "videos_densepose" / name / f"{j:05d}.png")
        if with_captions:
            (root / "videos" / f"{name}.txt").write_text(caption(colours) + "\n", encoding="utf-8")
    for i, (person, pose) in enumerate(split.stills):
        name = f"still{i:03d}"
        colours = split.train_people[person]
        _save_png(fg.render(pose, colours)[0], root / "images" / f"{name}.png")
        _save_png(fg.densepose(pose)[0], root / "images_densepose" / f"{name}.png")
        if with_captions:
            (root / "images" / f"{name}.txt").write_text(caption(colours) + "\n", encoding="utf-8")
    return root


def training_frames(split: FigureSplit) -> torch.Tensor:
    """Every training image (video frames and stills) ``[N, H, W, 3]``: what the base is pretrained on."""
    images = [fg.render(p, c) for c, poses in zip(split.train_people, split.videos, strict=True) for p in poses]
    images += [fg.render(p, split.train_people[i]) for i, p in split.stills]
    return torch.cat(images)


REFERENCE_POSE = fg.Pose(7, "down", "together")  # the held-out people's reference still (not a target pose)


def held_out_set(split: FigureSplit):
    """The held-out :class:`~.validation.ValidationSet`: every held-out person in every held-out pose, the
    reference its still in ``REFERENCE_POSE``; E_pose swaps in the next pose's DensePose, E_ref the next person's
    reference."""
    from .validation import ValidationSet

    people, poses = split.held_out_people, split.held_out_poses
    items = [(p, k) for p in range(len(people)) for k in range(len(poses))]
    refs = torch.cat([fg.render(REFERENCE_POSE, people[p]) for p, _ in items])
    dense = torch.cat([fg.densepose(poses[k]) for _, k in items])
    targets = torch.cat([fg.render(poses[k], people[p]) for p, k in items])
    masks = torch.cat([fg.silhouette(poses[k]) for _, k in items])
    position = {item: i for i, item in enumerate(items)}
    other_pose = [position[(p, (k + 1) % len(poses))] for p, k in items]
    other_reference = [position[((p + 1) % len(people), k)] for p, k in items]
    return ValidationSet(refs, dense, targets, masks, other_pose, other_reference)
