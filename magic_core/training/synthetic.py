"""A synthetic training set from the synthetic DensePose renderer: coloured figures and their DensePose.

Each "person" is the renderer's figure with one colour per body part (clothes, skin) in front of a wall;
its DensePose is the viridis rendering of the same part map, so video and DensePose match frame for frame.
Small enough to train both stages on a CPU in minutes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..motion import MOTIONS, render_labels, render_part_indices

SKIN_PARTS = (3, 4, 23, 24)


def person_palette(seed: int) -> torch.Tensor:
    """``[25, 3]`` RGB 0..1: index 0 the wall, 1..24 the body parts of one synthetic person."""
    gen = torch.Generator().manual_seed(int(seed))
    palette = torch.rand(25, 3, generator=gen) * 0.8 + 0.1
    palette[0] = torch.rand(3, generator=gen) * 0.3 + 0.65          # a light wall
    palette[list(SKIN_PARTS)] = torch.tensor([0.87, 0.70, 0.58]) * (0.7 + 0.3 * torch.rand(1, generator=gen))
    return palette


def render_person(parts: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """Part maps ``[F, H, W]`` -> IMAGE ``[F, H, W, 3]`` of the person, with a soft vertical light falloff."""
    image = palette[parts]
    shade = torch.linspace(1.0, 0.8, parts.shape[1]).view(1, -1, 1, 1)
    return (image * shade).clamp(0, 1)


def _save_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    Image.fromarray((image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(path)


def _save_video(frames: torch.Tensor, path: Path, fps: int = 25) -> None:
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 4_000_000
        for frame in frames:
            array = np.ascontiguousarray((frame * 255).round().to(torch.uint8).numpy())
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_sequence(frames: torch.Tensor, target: Path, as_video: bool) -> Path:
    """Write frames as ``target/`` (numbered PNGs) or ``target.mp4``; returns the written path."""
    if as_video:
        path = target.with_suffix(".mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_video(frames, path)
        return path
    target.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        _save_png(frame, target / f"{i:05d}.png")
    return target


def make_synthetic_dataset(root: str | Path, videos: int = 6, images: int = 6, frames: int = 24, width: int = 64,
                           height: int = 64, seed: int = 0, video_files: bool = False) -> Path:
    """Write a synthetic data set in the training layout (see README.md) and return its folder.

    ``video_files``: videos (and their DensePose) as ``.mp4`` (read with PyAV) instead of PNG frame folders.
    """
    root = Path(root)
    for i in range(videos):
        name = f"person{i:03d}_{MOTIONS[i % len(MOTIONS)]}"
        parts = render_part_indices(width, height, frames, MOTIONS[i % len(MOTIONS)], seed * 1000 + i)
        write_sequence(render_person(parts, person_palette(seed * 1000 + i)), root / "videos" / name, video_files)
        write_sequence(render_labels(parts), root / "videos_densepose" / name, video_files)
    for i in range(images):
        name = f"still{i:03d}"
        parts = render_part_indices(width, height, 1, MOTIONS[i % len(MOTIONS)], seed * 1000 + 500 + i)
        for folder, image in (("images", render_person(parts, person_palette(seed * 1000 + 500 + i))),
                              ("images_densepose", render_labels(parts))):
            (root / folder).mkdir(parents=True, exist_ok=True)
            _save_png(image[0], root / folder / f"{name}.png")
    return root
