"""Reading training media: frame folders and video files (PyAV), still images (PIL), as IMAGE tensors.

IMAGE tensors are ComfyUI's ``[frames, H, W, 3]`` float 0..1.  Every reader error becomes a
:class:`BadSampleError` naming the file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import MagicAnimateError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")


class BadSampleError(MagicAnimateError):
    """A data item that must not be trained on; ``path`` names the offending file."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"MagicAnimate training: bad training data '{self.path}': {reason}")


def frame_files(folder: Path) -> list[Path]:
    """The image files of a frame folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_image(path: Path) -> torch.Tensor:
    """One image as ``[1, H, W, 3]``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BadSampleError(path, f"unreadable image ({type(exc).__name__}: {exc})") from exc
    return torch.from_numpy(array.copy()).float().div_(255.0).unsqueeze(0)


def count_frames(path: Path) -> int:
    """Number of frames of a frame folder or video file (a video is decoded once to count exactly)."""
    if path.is_dir():
        return len(frame_files(path))
    count = 0
    for _ in _decode(path, None):
        count += 1
    return count


def read_frames(path: Path, indices: list[int]) -> torch.Tensor:
    """Frames ``indices`` (any order, repeats allowed) of a frame folder or video as ``[len(indices), H, W, 3]``."""
    if path.is_dir():
        files = frame_files(path)
        missing = [i for i in indices if not 0 <= i < len(files)]
        if missing:
            raise BadSampleError(path, f"frame {missing[0]} requested but the folder has {len(files)} frames")
        return torch.cat([read_image(files[i]) for i in indices])
    wanted = set(indices)
    found: dict[int, torch.Tensor] = {}
    decoded = 0
    for index, frame in enumerate(_decode(path, max(wanted))):
        decoded = index + 1
        if index in wanted:
            found[index] = torch.from_numpy(frame).float().div_(255.0)
    missing = [i for i in indices if i not in found]
    if missing:
        raise BadSampleError(path, f"frame {missing[0]} requested but the video has only {decoded} frames")
    return torch.stack([found[i] for i in indices])


def _decode(path: Path, last: int | None):
    """Yield RGB uint8 arrays of the first video stream up to frame ``last`` (all when None)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadSampleError(path, "the file has no video stream")
            for index, frame in enumerate(container.decode(video=0)):
                yield frame.to_ndarray(format="rgb24")
                if last is not None and index >= last:
                    return
    except BadSampleError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise BadSampleError(path, f"unreadable video ({type(exc).__name__}: {exc})") from exc
