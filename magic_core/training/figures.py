"""Block figures: people made of whole 8x8 cells, so that pose and appearance are visible at latent resolution.

A figure has a head (2x2 cells), a torso (2 wide, 4 tall), two arms (1x3) and two legs (1x4) on a grey wall,
with 4 part colours (head, torso, arms, legs) drawn from 8 well-separated colours (the corners of the RGB cube).
A pose is the torso's x position (cell 3..12) x arms (down / out / up) x legs (together / apart): 60 poses.
The DensePose of a figure is the pack's viridis colouring of the same part map.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch

from ..motion import render_labels

CELL = 8
GRID = 16  # cells per side: 128x128 pixels
WALL = (0.5, 0.5, 0.5)
COLOURS = torch.tensor(list(itertools.product((0.0, 1.0), repeat=3)))  # 8 colours, L1 >= 1 apart
X_POSITIONS = tuple(range(3, 13))
ARMS = ("down", "out", "up")
LEGS = ("together", "apart")
# DensePose fine part indices of the figure's parts (torso, head, upper arms, upper legs)
PART_INDEX = {"torso": 2, "head": 23, "arm_left": 15, "arm_right": 16, "leg_left": 9, "leg_right": 10}
PART_COLOUR = {"head": 0, "torso": 1, "arm_left": 2, "arm_right": 2, "leg_left": 3, "leg_right": 3}


@dataclass(frozen=True)
class Pose:
    x: int  # the torso's left cell
    arms: str
    legs: str


ALL_POSES = tuple(Pose(x, a, g) for x in X_POSITIONS for a in ARMS for g in LEGS)


def part_cells(pose: Pose) -> dict[str, tuple[int, int, int, int]]:
    """Cell rectangles ``(row0, row1, col0, col1)`` (exclusive ends) of each part."""
    x = pose.x
    arms = {"down": ((4, 7, x - 1, x), (4, 7, x + 2, x + 3)),
            "out": ((4, 5, x - 3, x), (4, 5, x + 2, x + 5)),
            "up": ((1, 4, x - 1, x), (1, 4, x + 2, x + 3))}[pose.arms]
    legs = {"together": ((8, 12, x, x + 1), (8, 12, x + 1, x + 2)),
            "apart": ((8, 12, x - 1, x), (8, 12, x + 2, x + 3))}[pose.legs]
    return {"head": (2, 4, x, x + 2), "torso": (4, 8, x, x + 2), "arm_left": arms[0], "arm_right": arms[1],
            "leg_left": legs[0], "leg_right": legs[1]}


def part_map(pose: Pose) -> torch.Tensor:
    """``[GRID, GRID]`` long: the part name's index in ``PART_INDEX`` + 1 per cell, 0 = wall."""
    grid = torch.zeros(GRID, GRID, dtype=torch.long)
    names = list(PART_INDEX)
    for name, (r0, r1, c0, c1) in part_cells(pose).items():
        grid[max(r0, 0):min(r1, GRID), max(c0, 0):min(c1, GRID)] = names.index(name) + 1
    return grid


def _upsample(grid: torch.Tensor) -> torch.Tensor:
    return grid.repeat_interleave(CELL, 0).repeat_interleave(CELL, 1)


def render(pose: Pose, colours: tuple[int, int, int, int]) -> torch.Tensor:
    """The figure as an IMAGE ``[1, H, W, 3]`` in 0..1; ``colours``: indices into ``COLOURS`` (head, torso,
    arms, legs)."""
    table = torch.cat([torch.tensor([WALL]), COLOURS[[colours[PART_COLOUR[p]] for p in PART_INDEX]]])
    return table[_upsample(part_map(pose))].unsqueeze(0)


def densepose(pose: Pose) -> torch.Tensor:
    """The figure's DensePose (viridis part colours) ``[1, H, W, 3]``."""
    fine = torch.tensor([0] + list(PART_INDEX.values()))[_upsample(part_map(pose))]
    return render_labels(fine.unsqueeze(0))


def silhouette(pose: Pose) -> torch.Tensor:
    """``[1, H, W]`` bool: the figure's pixels."""
    return (_upsample(part_map(pose)) > 0).unsqueeze(0)


def figure_mask(images: torch.Tensor, threshold: float = 0.2) -> torch.Tensor:
    """``[F, H, W]`` bool: pixels farther than ``threshold`` (L1) from the wall colour."""
    return (images - torch.tensor(WALL)).abs().sum(-1) > threshold
