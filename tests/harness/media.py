"""Small media helpers for tests and the demo: write/read mp4 with PyAV, read animated WEBP with Pillow, and the
server tests' check of a workflow's saved animation."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image


def write_mp4(frames: torch.Tensor, path: Path, fps: int = 25) -> Path:
    """IMAGE ``[F, H, W, 3]`` in 0..1 -> an H.264 mp4 (yuv420p)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (frames.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = pixels.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for frame in pixels:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_video(path: Path) -> tuple[np.ndarray, float]:
    """Frames ``[F, H, W, 3]`` uint8 and the stream's average fps, through PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
        return frames, float(stream.average_rate)


def read_webp(path: Path) -> tuple[int, tuple[int, int], list[int]]:
    """(frame count, (width, height), per-frame durations in ms) of an animated WEBP.

    FFmpeg (and so PyAV) cannot decode animated WebP; Pillow can.
    """
    with Image.open(path) as img:
        durations = []
        for i in range(img.n_frames):
            img.seek(i)
            img.load()  # Pillow fills in the frame's duration when it decodes it
            durations.append(img.info.get("duration", 0))
        return img.n_frames, img.size, durations


def one_webp_output(server, entry: dict, frames: int, size: tuple[int, int] = (64, 64)) -> Path:
    """The one animated WEBP a prompt saved (``entry``: its history entry on ``server``), checked to hold ``frames``
    frames of ``size`` (width, height); returns its path."""
    files = [f for f in server.output_files(entry) if f.suffix == ".webp"]
    assert len(files) == 1 and files[0].is_file(), files
    count, shape, _ = read_webp(files[0])
    assert (count, shape) == (frames, size), f"{files[0].name}: {count} frames of {shape}"
    return files[0]


def write_png(image: torch.Tensor, path: Path) -> Path:
    """One IMAGE frame ``[H, W, 3]`` in 0..1 -> PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()).save(path)
    return path


def webp_frames(path: Path) -> np.ndarray:
    """All frames ``[F, H, W, 3]`` (uint8) of an animated WEBP (lossless here, so exact pixels)."""
    with Image.open(path) as img:
        frames = []
        for i in range(img.n_frames):
            img.seek(i)
            frames.append(np.asarray(img.convert("RGB")))
    return np.stack(frames)
